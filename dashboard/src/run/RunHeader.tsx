/** The run's title line and facts: status, number, project/pipeline, branch, commit, trigger, times. */
import { useEffect, useState } from "preact/hooks";
import type { RunAttemptView, RunView } from "../api/types.ts";
import { Duration } from "../components/Duration.tsx";
import { LiveBadge } from "../components/LiveBadge.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { StatusBadge } from "../components/StatusBadge.tsx";
import { TimeAgo } from "../components/TimeAgo.tsx";
import { shortSha } from "../lib/format.ts";
import { isTerminal } from "../lib/status.ts";
import { Link } from "../router.tsx";
import { AttemptSwitcher } from "./AttemptSwitcher.tsx";
import { RunActions } from "./RunActions.tsx";

export function RunHeader({
  run,
  attempt,
  onShowAttempt,
  onChanged,
  live,
}: {
  live: "websocket" | "poll" | undefined;
  run: RunView;
  attempt: RunAttemptView;
  onShowAttempt(n: number | null): void;
  onChanged(run: RunView, newAttempt: boolean): void;
}) {
  // Who acted on the run comes with the REST read only (the live snapshot lacks it): kept once seen.
  const [people, setPeople] = useState({ triggeredBy: run.triggeredBy ?? null, actions: run.actions ?? [] });
  useEffect(() => {
    if (run.actions !== undefined) setPeople({ triggeredBy: run.triggeredBy ?? null, actions: run.actions });
  }, [run.triggeredBy, run.actions]);
  const { triggeredBy, actions } = people;
  return (
    <>
      <PageHeader
        title={
          <span class="run-title">
            <StatusBadge state={attempt.status} />
            <span>
              {run.pipeline} <span class="muted">#{run.number}</span>
            </span>
          </span>
        }
        sub={
          <>
            <Link href={`/projects/${run.project}`}>{run.project}</Link> / <Link href={`/runs?project=${run.project}&pipeline=${run.pipeline}`}>{run.pipeline}</Link>
            <LiveBadge mode={live} />
          </>
        }
        actions={
          <>
            <Link class="btn" href={`/runs/${run.id}/compare`}>
              Compare…
            </Link>
            <RunActions run={run} onChanged={onChanged} />
          </>
        }
      />
      <dl class="facts">
        <div>
          <dt>Branch</dt>
          <dd class="mono">{run.branch ?? "—"}</dd>
        </div>
        <div>
          <dt>Commit</dt>
          <dd class="mono" title={run.commit ?? undefined}>
            {shortSha(run.commit)}
          </dd>
        </div>
        <div>
          <dt>Trigger</dt>
          <dd data-testid="run-trigger" title={actions.map((a) => `${a.action} by ${a.actor.name} at ${a.at}`).join("\n") || undefined}>
            {run.trigger}
            {triggeredBy && <span class="muted"> by {triggeredBy.name}</span>}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <TimeAgo at={run.createdAt} />
          </dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-testid="run-duration">
            <Duration start={attempt.startedAt} end={attempt.endedAt} running={attempt.startedAt !== null && !isTerminal(attempt.status)} />
          </dd>
        </div>
        <div>
          <dt>Attempt</dt>
          <dd>
            <AttemptSwitcher run={run} shown={attempt.number} onShow={onShowAttempt} />
          </dd>
        </div>
        {Object.keys(run.params).length > 0 && (
          <div class="facts-wide">
            <dt>Params</dt>
            <dd class="mono">
              {Object.entries(run.params)
                .map(([k, v]) => `${k}=${v}`)
                .join("  ")}
            </dd>
          </div>
        )}
      </dl>
    </>
  );
}
