/** The selected job attempt's log: fed live, shown by the virtualised viewer, linked by #L<n>. */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { JobAttemptView } from "../api/types.ts";
import { logUrl } from "../live/log-fetch.ts";
import type { RunFeed } from "../live/types.ts";
import { isTerminal } from "../lib/status.ts";
import { navigate, useLocation } from "../router.tsx";
import { LogViewer } from "./log/LogViewer.tsx";
import { useLog } from "./log/use-log.ts";
import { logTarget, type ShownJob } from "./model.ts";

export function LogPanel({ feed, runId, job, attempt, step }: { feed: RunFeed | null; runId: string; job: ShownJob; attempt: JobAttemptView; step: string | null }) {
  const target = useMemo(() => logTarget(job, attempt), [job.key, attempt.id, job.fromAttempt]);
  const { buffer, version } = useLog(feed, target);
  const { hash } = useLocation();
  const selectedLine = /^#L(\d+)$/.exec(hash)?.[1];
  const [jump, setJump] = useState<{ line: number; nonce: number } | null>(null);

  // A step chosen (graph or table): jump to its section once the log has it.
  useEffect(() => {
    if (!step) return;
    const sections = buffer.sections.filter((s) => s.kind === "step" && s.id === step);
    const section = sections[sections.length - 1];
    if (section && jump?.line !== section.line) setJump({ line: section.line, nonce: Date.now() });
  }, [step, version]);
  useEffect(() => setJump(null), [step, attempt.id]);

  const live = !isTerminal(attempt.status);
  // An ended job with nothing in the feed: its log may have been removed by retention (the log route answers 410).
  const [expired, setExpired] = useState(false);
  const nothingShown = !live && buffer.bytes === 0;
  useEffect(() => {
    setExpired(false);
    if (!nothingShown) return;
    const controller = new AbortController();
    fetch(logUrl(runId, target), { method: "GET", headers: { range: "bytes=0-0" }, signal: controller.signal })
      .then((r) => setExpired(r.status === 410))
      .catch(() => {});
    return () => controller.abort();
  }, [runId, attempt.id, nothingShown]);
  const empty = expired
    ? "Log expired: removed by the project's retention."
    : attempt.status === "CREATED"
      ? "Waiting for an agent…"
      : live
        ? "Waiting for output…"
        : attempt.reason === "needs_failed"
          ? "Not run: a job it needs did not succeed."
          : "No output.";
  return (
    <LogViewer
      buffer={buffer}
      version={version}
      live={live}
      emptyText={empty}
      downloadUrl={logUrl(runId, target)}
      downloadName={`${job.key}-attempt-${job.fromAttempt}.${attempt.number}.log`}
      selectedLine={selectedLine ? Number(selectedLine) : null}
      onSelectLine={(n) => navigate(`${location.pathname}${location.search}#L${n}`, { replace: true })}
      jump={jump}
      label={`Log of job ${job.key}, attempt ${attempt.number}`}
    />
  );
}
