/**
 * `yardmaster-agent artifact download` (docs/agent.md): the artifacts of this job's run, listed
 * and fetched with the job token (docs/agent-protocol.md "Artifacts of the run").
 *
 * Which: the names matching the globs (minimatch, as upload's), of one job (`--job`) or any; per
 * job and name the newest upload (a retried job's, a later run attempt's). The same name from two
 * jobs is refused before anything is fetched — which one was meant is the user's to say.
 *
 * How: each file streams to a hidden temporary file beside its destination, hashed (SHA-256) and
 * counted on the way; only when both match the recorded ones is it renamed into place. A
 * mismatch, a dropped connection or a signal removes the temporary file: a destination either
 * holds the whole verified file or is untouched. Never in memory whole.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { Minimatch } from "minimatch";
import { ArtifactName, type JobAssignment } from "../domain/protocol.ts";
import { ArtifactView, listOf } from "../domain/views.ts";
import { sleep } from "./backoff.ts";
import { describeStatus, type HttpClient, isTransientStatus, parseRetryAfter } from "./client.ts";
import { JOB_RETRY } from "./protocol-client.ts";

/** From this size on a download prints its progress (every 10 %). */
export const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;
/** Tries of one file's download when the network or the server fails it (each from the start). */
const DOWNLOAD_TRIES = 3;
/** Pause before try n + 1: n times this (or the server's Retry-After, when longer). */
const RETRY_PAUSE_MS = 200;

const ArtifactPage = listOf(ArtifactView);

/** A refusal the user can act on: printed as is, exit 1. */
export class ArtifactCommandError extends Error {}

export interface StepJob {
  http: HttpClient;
  token: string;
  attemptId: string;
  /** The protocol the job's claim negotiated (YM_AGENT_PROTOCOL); the old one when not given. */
  protocol?: JobAssignment["protocol"];
}

const jobPath = (job: StepJob) => `/jobs/${encodeURIComponent(job.attemptId)}/run/artifacts`;

/** Every artifact of the run (of `jobKey` only, when given), newest first, page after page. */
export async function listRunArtifacts(job: StepJob, jobKey: string | undefined, signal?: AbortSignal): Promise<ArtifactView[]> {
  const all: ArtifactView[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams();
    if (jobKey !== undefined) q.set("job", jobKey);
    if (cursor) q.set("cursor", cursor);
    const { response } = await job.http.request(
      { method: "GET", path: `${jobPath(job)}${q.size > 0 ? `?${q}` : ""}`, bearer: job.token, signal },
      { ...JOB_RETRY, maxTries: 8 },
    );
    if (response.status !== 200) throw new ArtifactCommandError(`listing the run's artifacts was refused: ${describeStatus(response)}`);
    const page = ArtifactPage.safeParse(JSON.parse(response.body.toString("utf8")));
    if (!page.success) throw new ArtifactCommandError(`the server's list of artifacts is not what this agent expects: ${page.error.message}`);
    all.push(...page.data.items);
    cursor = page.data.cursor;
  } while (cursor);
  return all;
}

/**
 * The artifacts to fetch: matching a glob, the newest per job and name (the list is newest
 * first). Refused (nothing fetched): no match, a name two jobs uploaded, an expired match.
 */
export function chooseArtifacts(listed: readonly ArtifactView[], globs: readonly string[], jobKey: string | undefined): ArtifactView[] {
  const matchers = globs.map((g) => new Minimatch(g, { dot: false, nonegate: true, nocomment: true }));
  const newest = new Map<string, ArtifactView>();
  for (const a of listed) {
    if (!matchers.some((m) => m.match(a.name))) continue;
    const key = JSON.stringify([a.job, a.name]);
    if (!newest.has(key)) newest.set(key, a);
  }
  const chosen = [...newest.values()].sort((a, b) => a.name.localeCompare(b.name) || a.job.localeCompare(b.job));
  const of = jobKey === undefined ? "this run" : `job ${jobKey} of this run`;
  if (chosen.length === 0) {
    const names = [...new Set(listed.map((a) => a.name))];
    const shown = names.length === 0 ? "it has none yet" : `it has ${names.slice(0, 10).join(", ")}${names.length > 10 ? `, … (${names.length} in all)` : ""}`;
    throw new ArtifactCommandError(`no artifact of ${of} matches ${globs.map((g) => `"${g}"`).join(" or ")} (${shown})`);
  }
  const jobsByName = new Map<string, string[]>();
  for (const a of chosen) jobsByName.set(a.name, [...(jobsByName.get(a.name) ?? []), a.job]);
  const clashes = [...jobsByName].filter(([, jobs]) => jobs.length > 1);
  if (clashes.length > 0) {
    const [name, jobs] = clashes[0]!;
    throw new ArtifactCommandError(`"${name}" was uploaded by ${jobs.length} jobs (${jobs.join(", ")}): choose one with --job KEY`);
  }
  const expired = chosen.find((a) => a.expired);
  if (expired) throw new ArtifactCommandError(`artifact ${expired.name} (job ${expired.job}) was removed by the project's retention`);
  return chosen;
}

/** Where `name` goes under `dir`; refused when it is not a relative name that stays under `dir`. */
export function destinationOf(dir: string, name: string): string {
  const root = path.resolve(dir);
  const to = path.resolve(root, ...name.split("/"));
  const inside = path.relative(root, to);
  if (!ArtifactName.safeParse(name).success || inside === "" || inside.startsWith("..") || path.isAbsolute(inside)) {
    throw new ArtifactCommandError(`the server named an artifact "${name}", which is not a relative path: not written`);
  }
  return to;
}

export interface DownloadOptions {
  /** Progress lines (and nothing else) go here. */
  note: (line: string) => void;
  signal?: AbortSignal;
  progressMinBytes?: number;
}

/** A failure worth another try: the connection, or the server's 5xx/429 (with its Retry-After). */
class TransientDownloadError extends Error {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs = 0) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Fetches one artifact into `to`, verified; answers its SHA-256. Throws ArtifactCommandError when refused or corrupt. */
export async function downloadArtifact(job: StepJob, artifact: ArtifactView, to: string, options: DownloadOptions): Promise<string> {
  await mkdir(path.dirname(to), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(job, artifact, to, options);
    } catch (err) {
      if (!(err instanceof TransientDownloadError) || attempt >= DOWNLOAD_TRIES || options.signal?.aborted) {
        throw err instanceof TransientDownloadError ? new ArtifactCommandError(`downloading ${artifact.name} failed ${attempt} times: ${err.message}`) : err;
      }
      options.note(`${artifact.name}: ${err.message}; trying again (${attempt + 1} of ${DOWNLOAD_TRIES})`);
      await sleep(Math.min(Math.max(err.retryAfterMs, attempt * RETRY_PAUSE_MS), 30_000), options.signal);
    }
  }
}

async function downloadOnce(job: StepJob, artifact: ArtifactView, to: string, options: DownloadOptions): Promise<string> {
  let response: Response;
  try {
    response = await fetch(`${job.http.base}${jobPath(job)}/${encodeURIComponent(artifact.id)}`, {
      headers: { authorization: `Bearer ${job.token}` },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new TransientDownloadError((err as Error).message);
  }
  if (response.status !== 200 || !response.body) {
    const text = await response.text().catch(() => "");
    const described = describeStatus({ status: response.status, headers: {}, body: Buffer.from(text) });
    if (isTransientStatus(response.status)) throw new TransientDownloadError(described, parseRetryAfter(response.headers.get("retry-after") ?? undefined));
    throw new ArtifactCommandError(`downloading ${artifact.name} was refused: ${described}`);
  }
  // Hidden, beside the destination (same file system, so the rename is atomic), this process's own.
  const temp = path.join(path.dirname(to), `.${path.basename(to)}.ym-download-${process.pid}`);
  const hash = createHash("sha256");
  let received = 0;
  const showFrom = options.progressMinBytes ?? PROGRESS_MIN_BYTES;
  let shownTenths = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      received += chunk.length;
      if (artifact.size >= showFrom && artifact.size > 0) {
        const tenths = Math.min(10, Math.floor((received * 10) / artifact.size));
        if (tenths > shownTenths && tenths < 10) {
          shownTenths = tenths;
          options.note(`${artifact.name}: ${tenths * 10}% (${mib(received)} of ${mib(artifact.size)})`);
        }
      }
      done(null, chunk);
    },
  });
  try {
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, createWriteStream(temp, { mode: 0o644 }), {
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted || (err as NodeJS.ErrnoException).syscall !== undefined) throw err;
      throw new TransientDownloadError(`the connection broke after ${received} of ${artifact.size} bytes (${(err as Error).message})`);
    }
    const sha256 = hash.digest("hex");
    if (received !== artifact.size || sha256 !== artifact.sha256) {
      throw new ArtifactCommandError(
        `${artifact.name} does not match what was uploaded (${received} bytes, sha256 ${sha256}; expected ${artifact.size} bytes, sha256 ${artifact.sha256}): the partial file was removed`,
      );
    }
    await rename(temp, to);
    return sha256;
  } finally {
    // Gone after a rename; otherwise what was written is not a verified file: removed.
    await rm(temp, { force: true });
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
