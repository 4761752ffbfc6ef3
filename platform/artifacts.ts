/**
 * An artifact as the run's object records it and the worker serves it: where its bytes live in
 * R2 and what is known of them. Shared by the RunObject (which records) and the worker (which
 * stores the bytes and lists them).
 */
export interface ArtifactRecord {
  id: string;
  projectId: string;
  project: string;
  runId: string;
  runNumber: number;
  pipeline: string;
  attempt: number;
  job: string;
  jobAttemptId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  r2Key: string;
  createdAt: number;
}

/**
 * The R2 key of one upload's bytes. Each upload (single PUT or multipart) writes under its own
 * `uploadId`, chosen by the worker, so a second upload of the same name — racing or late — can
 * never replace or delete bytes another upload stored; only the upload the RunObject records
 * is served, and the losers' objects are deleted by the upload that lost.
 */
export function artifactKey(runId: string, jobAttemptId: string, uploadId: string, name: string): string {
  return `artifacts/${runId}/${jobAttemptId}/${uploadId}/${name}`;
}

/** Artifacts one job attempt may upload (docs/limits.md): past it, 413 `too_many_artifacts`. */
export const MAX_ARTIFACTS_PER_JOB = 1000;
