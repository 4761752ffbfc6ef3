/**
 * A run: its facts and actions, the graph of the shown attempt, the jobs, the selected job's
 * steps and live log, and the run's artifacts. The URL keeps the choices: ?attempt= (run
 * attempt; the latest when absent), ?job=, ?step=, ?try= (job attempt) and #L<line>.
 */
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { isTerminal } from "../lib/status.ts";
import { setQuery, useLocation } from "../router.tsx";
import { Graph } from "../run/graph/Graph.tsx";
import { JobList } from "../run/JobList.tsx";
import { JobPanel } from "../run/JobPanel.tsx";
import { defaultJob, jobAttemptOf, shownJobs } from "../run/model.ts";
import { RunArtifacts } from "../run/RunArtifacts.tsx";
import { RunHeader } from "../run/RunHeader.tsx";
import { RunLineage } from "../run/RunLineage.tsx";
import { useRunFeed } from "../run/use-run-feed.ts";
import { can, useSession } from "../session.ts";

export function RunPage({ runId }: { runId: string }) {
  const { feed, run, error } = useRunFeed(runId);
  const { query } = useLocation();
  const session = useSession();

  if (!run) return error ? <ErrorNotice error={error} title="This run cannot be shown" /> : <div class="loading" aria-busy="true" />;

  const wanted = Number(query.get("attempt") ?? run.attempt);
  const attempt = run.attempts.find((a) => a.number === wanted) ?? run.attempts[run.attempts.length - 1]!;
  const jobs = shownJobs(run, attempt);
  const job = jobs.find((j) => j.key === query.get("job")) ?? defaultJob(jobs);
  const jobTry = query.get("try");
  const jobAttempt = job ? jobAttemptOf(job, jobTry ? Number(jobTry) : null) : undefined;
  const step = query.get("step");
  const mayRun = can(session, "run", run.project);
  const changeKey = run.attempts.map((a) => a.jobs.map((j) => j.status).join()).join("|");

  // Follow the new attempt, as the run-level re-run does.
  const followNewAttempt = () => {
    feed?.refresh();
    setQuery({ attempt: null, try: null, step: null }, { replace: false });
  };
  const showAttempt = (n: number | null) => setQuery({ attempt: n === null ? null : String(n), job: query.get("job"), step: null, try: null }, { replace: false });

  return (
    <div class="runpage" data-run={run.id} data-attempt={attempt.number}>
      <RunHeader
        run={run}
        live={feed?.mode}
        attempt={attempt}
        onShowAttempt={showAttempt}
        onChanged={(_, newAttempt) => {
          if (newAttempt) followNewAttempt();
          else feed?.refresh();
        }}
      />
      {error && <ErrorNotice error={error} title="Live updates paused" />}
      <RunLineage run={run} changeKey={changeKey} />
      <section class="section graph-section" aria-label="Graph">
        <Graph
          jobs={jobs}
          selection={{ job: job?.key ?? null, step: step ?? null }}
          onSelect={(s) => setQuery({ job: s.job, step: s.step, try: null }, { replace: false })}
        />
      </section>
      <div class="run-columns">
        <aside class="run-side">
          <JobList jobs={jobs} selected={job?.key ?? null} onSelect={(key) => setQuery({ job: key, step: null, try: null }, { replace: false })} />
        </aside>
        {job && (
          <JobPanel
            key={`${attempt.number}/${job.key}`}
            feed={feed}
            runId={run.id}
            job={job}
            attempt={jobAttempt}
            step={step}
            onStep={(s) => setQuery({ job: job.key, step: s })}
            onJobAttempt={(n) => setQuery({ job: job.key, try: n === null ? null : String(n), step: null })}
            onShowRunAttempt={(n) => showAttempt(n)}
            onRerun={isTerminal(run.status) && mayRun ? followNewAttempt : undefined}
            canDecide={mayRun}
            onDecided={() => feed?.refresh()}
          />
        )}
      </div>
      <RunArtifacts runId={run.id} changeKey={changeKey} />
    </div>
  );
}
