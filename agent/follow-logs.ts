/**
 * `npm run logs -- --url URL --token TOKEN --follow RUN [--job KEY]`: tails a run's logs live
 * in a terminal (docs/live.md). It reads the run's live stream from the beginning (`since=0`),
 * so nothing printed before it started is missed, and prints each log chunk's bytes exactly as
 * the job wrote them (colours kept); when several jobs run, each line gets a `[job]` prefix.
 * A dropped connection is resumed with `since` (no line lost or doubled). It exits when the
 * run attempt it follows ends: 0 when it succeeded (or warned), 1 when it failed or was
 * cancelled, 2 for bad flags, 3 when the run cannot be followed.
 *
 * The browser's way in: the API token opens a short-lived ticket (POST /api/v1/live-tickets),
 * and the WebSocket URL carries only the ticket. Node 24's global WebSocket.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  followLive,
  LIVE_PROTOCOL_BINARY,
  type LiveLogBytes,
  LiveRefused,
  logBytesOf,
  type LiveSocket,
  type RunLiveEvent,
} from "../domain/live.ts";
import { isTerminal } from "../domain/states.ts";

export const USAGE = `Usage: npm run logs -- --url URL --token TOKEN --follow RUN [--job KEY]

Prints a run's logs as they are written, from the start, and exits when the run ends
(0: succeeded, 1: failed or cancelled, 2: bad flags, 3: cannot follow).

  --url URL      Yardmaster server, e.g. https://ci.example.com     YM_URL
  --token TOKEN  an API token with the read scope                    YM_API_TOKEN
  --follow RUN   the run's id
  --job KEY      only this job's log
`;

/** Writes log bytes, whole lines behind a `[job] ` prefix when several jobs share the screen. */
export class LogPrinter {
  private readonly partial = new Map<string, Uint8Array>();
  private readonly write: (bytes: Uint8Array) => void;
  private readonly prefixed: boolean;
  private readonly colour: boolean;

  constructor(write: (bytes: Uint8Array) => void, prefixed: boolean, colour: boolean) {
    this.write = write;
    this.prefixed = prefixed;
    this.colour = colour;
  }

  private prefix(label: string): Uint8Array {
    // Reset first so one job's unfinished colour does not paint the next job's prefix.
    return new TextEncoder().encode(this.colour ? `\x1b[0m\x1b[36m[${label}]\x1b[0m ` : `[${label}] `);
  }

  print(label: string, bytes: Uint8Array): void {
    if (!this.prefixed) return this.write(bytes);
    let pending = concat(this.partial.get(label), bytes);
    for (let nl = pending.indexOf(0x0a); nl !== -1; nl = pending.indexOf(0x0a)) {
      this.write(concat(this.prefix(label), pending.subarray(0, nl + 1)));
      pending = pending.subarray(nl + 1);
    }
    if (pending.byteLength > 0) this.partial.set(label, pending.slice());
    else this.partial.delete(label);
  }

  /** Prints what is left of unfinished lines. */
  end(): void {
    for (const [label, rest] of this.partial) this.write(concat(this.prefix(label), rest, new Uint8Array([0x0a])));
    this.partial.clear();
  }
}

function concat(...parts: (Uint8Array | undefined)[]): Uint8Array {
  const present = parts.filter((p): p is Uint8Array => p !== undefined);
  const out = new Uint8Array(present.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of present) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

async function apiJson(base: string, token: string, method: string, path: string): Promise<any> {
  const response = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
  if (response.status >= 400 && response.status < 500) {
    throw new LiveRefused(`${method} ${path}: ${response.status} ${body?.error?.message ?? response.statusText}`);
  }
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
  return body;
}

function openSocket(url: string): Promise<LiveSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer"; // protocol 2: log bytes come raw in binary frames
    const failed = () => reject(new Error("the live stream could not be opened"));
    ws.addEventListener("error", failed, { once: true });
    ws.addEventListener(
      "open",
      () => {
        ws.removeEventListener("error", failed);
        resolve(ws as unknown as LiveSocket);
      },
      { once: true },
    );
  });
}

export async function main(argv: string[], env: Record<string, string | undefined>, io: Io): Promise<number> {
  let values: { url?: string; token?: string; follow?: string; job?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { url: { type: "string" }, token: { type: "string" }, follow: { type: "string" }, job: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const url = (values.url ?? env.YM_URL)?.replace(/\/+$/, "");
  const token = values.token ?? env.YM_API_TOKEN;
  const runId = values.follow;
  const missing = [!url && "--url", !token && "--token", !runId && "--follow RUN"].filter(Boolean);
  if (missing.length > 0 || !url || !token || !runId) {
    io.stderr.write(`missing ${missing.join(", ")}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await follow(url, token, runId, values.job, io);
  } catch (error) {
    io.stderr.write(`yardmaster logs: ${(error as Error).message}\n`);
    return 3;
  }
}

async function follow(url: string, token: string, runId: string, job: string | undefined, io: Io): Promise<number> {
  const run = await apiJson(url, token, "GET", `/api/v1/runs/${encodeURIComponent(runId)}`);
  const attempt = run.attempts[run.attempts.length - 1] as { number: number; jobs: { key: string }[] };
  const keys = attempt.jobs.map((j) => j.key);
  if (job !== undefined && !keys.includes(job)) throw new LiveRefused(`run #${run.number} has no job '${job}'; its jobs are ${keys.join(", ")}`);
  const printer = new LogPrinter((bytes) => io.stdout.write(bytes), job === undefined && keys.length > 1, io.stdout.isTTY === true);
  const wsBase = url.replace(/^http/, "ws");
  let ended: string | null = null;

  await followLive<RunLiveEvent | LiveLogBytes>({
    since: 0,
    connect: async (since) => {
      const { ticket } = await apiJson(url, token, "POST", "/api/v1/live-tickets");
      const params = new URLSearchParams({ ticket, since: String(since ?? 0), protocol: String(LIVE_PROTOCOL_BINARY) });
      if (job !== undefined) params.set("job", job);
      return openSocket(`${wsBase}/api/v1/runs/${encodeURIComponent(runId)}/live?${params}`);
    },
    onEvent: (event) => {
      // Earlier attempts of a re-run run are history: follow the attempt current at the start.
      if (event.runAttempt < attempt.number) return false;
      if (event.kind === "log") {
        const label = event.jobAttempt > 1 ? `${event.jobKey} #${event.jobAttempt}` : event.jobKey;
        printer.print(label, logBytesOf(event));
        return false;
      }
      if (event.kind === "transition" && event.entity === "run" && isTerminal(event.to)) {
        ended = event.to;
        return true;
      }
      return false;
    },
    onReconnect: ({ code, since }) => io.stderr.write(`yardmaster logs: connection closed (${code}); resuming after event ${since}\n`),
    // Acknowledge only what the terminal took: a slow pipe slows the stream instead of filling memory.
    backpressure: () => (io.stdout.writableNeedDrain ? new Promise((r) => io.stdout.once("drain", () => r())) : undefined),
  });
  printer.end();
  io.stderr.write(`yardmaster logs: run #${run.number} ${ended ?? "stream closed"}\n`);
  return ended === "SUCCESS" || ended === "WARNING" ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr });
}
