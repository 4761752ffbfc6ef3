/**
 * The run's live stream (docs/live.md): a RunExtension that numbers every transition and log
 * chunk into the run's feed (live-feed.ts), and the WebSocket end of `GET /api/v1/runs/:run/live`
 * (Hibernation API, fan-out in ../live-fanout.ts). The worker has already authenticated the
 * caller; it forwards the projects the caller may see in a header (the object is not reachable
 * from outside, so the header is trusted).
 */
import type { RunView } from "../../domain/views.ts";
import { liveProtocolOf } from "../../domain/live.ts";
import type { RunState } from "../../domain/run-engine/index.ts";
import type { Env } from "../../platform/env.ts";
import { fanoutOptionsFrom, LiveFanout } from "../live-fanout.ts";
import { isWebSocketUpgrade, jsonError, parseSince, upgradeRequired, visibleProjects } from "../../platform/live-http.ts";
import type { Committed, LogChunk, RunExtension } from "./extension.ts";
import { LIVE_FEED_MIGRATIONS, RunFeed, type RunFilter } from "./live-feed.ts";

export class RunLive implements RunExtension {
  readonly migrations = { name: "live", statements: LIVE_FEED_MIGRATIONS };
  readonly feed: RunFeed;
  readonly fanout: LiveFanout<RunFilter>;

  constructor(
    ctx: DurableObjectState,
    env: Env,
    private readonly current: () => RunState | null,
  ) {
    this.feed = new RunFeed(ctx.storage.sql, env, () => this.current()?.run.id);
    this.fanout = new LiveFanout(ctx, this.feed, fanoutOptionsFrom(env));
  }

  record(committed: Committed): void {
    this.feed.appendTransitions(committed.state, committed.transitions);
    this.feed.appendProgress(committed.state, committed.effects, committed.now);
  }

  committed(committed: Committed): void {
    // Whenever record() added rows (the fan-out relies on being told: it reads the head per round, not per ack).
    if (committed.transitions.length > 0 || committed.effects.some((e) => e.type === "progress" || e.type === "awaitingGroup")) this.fanout.notify();
  }

  logAppended(chunk: LogChunk, state: RunState): void {
    this.feed.appendLog(state, chunk, Date.now());
    this.fanout.notify(chunk.data.byteLength);
  }

  /**
   * The WebSocket upgrade: `?since=<seq>` resumes after that event (no snapshot), else the
   * snapshot (the run as `GET /api/v1/runs/:run` shows it) comes first; `?job=<key>` narrows;
   * `?protocol=2` asks for log bytes in binary frames (domain/live.ts).
   */
  fetch(request: Request, view: (state: RunState) => RunView): Response {
    if (!isWebSocketUpgrade(request)) return upgradeRequired();
    const state = this.current();
    const projects = visibleProjects(request);
    if (!state || projects === "invalid" || (projects !== null && !projects.includes(state.run.project))) {
      return jsonError(404, "run_not_found", "no such run");
    }
    const params = new URL(request.url).searchParams;
    const job = params.get("job");
    const protocol = liveProtocolOf(params.get("protocol"));
    if (job !== null && !state.attempts.some((a) => a.jobs.some((j) => j.key === job))) {
      const keys = state.attempts[0]?.jobs.map((j) => j.key).join(", ") ?? "";
      return jsonError(404, "job_not_found", `run #${state.run.number} has no job '${job}'; its jobs are ${keys}`);
    }
    // One synchronous block from here: the snapshot and its seq describe the same moment.
    const head = this.feed.head();
    const since = parseSince(request, head, "this run's");
    if (since instanceof Response) return since;
    const window = this.fanout.options.windowBytes;
    const first =
      since === null
        ? JSON.stringify({ type: "snapshot", protocol, seq: head, window, run: view(state) })
        : JSON.stringify({ type: "resumed", protocol, seq: since, window });
    const pair = new WebSocketPair();
    this.fanout.accept(pair[1], since ?? head, { job }, first, [`job:${job ?? "*"}`], protocol);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
}
