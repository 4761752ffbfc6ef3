/**
 * What a one-step job costs its run's D1 projection, trigger → SUCCESS, counted (issue 20): one
 * statement for the run's row when the run is created, then one per table the batch at the job's
 * and the run's end writes (runs, run_attempts, jobs, job_attempts, step_runs). Written here once:
 * test/workers/d1-projection-writes.test.ts asserts it, and bench/capacity.ts's model takes it as
 * its input (no imports, so that the benchmarks can read it under Node).
 */
export const D1_STATEMENTS_PER_ONE_STEP_JOB = 6;
