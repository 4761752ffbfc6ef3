/**
 * Limits of the agent protocol that both sides know: the control plane enforces them and sends
 * them in every job assignment (`limits`), the agent sizes what it sends by them. docs/limits.md
 * lists every limit and the error past it.
 */

/**
 * The largest log chunk an agent may send (`limits.logChunkBytes`). The agent sends what it has
 * every 250 ms or 64 KiB, so this matters only when it has a backlog: a step printing faster than
 * one chunk a round trip. Then each request carries up to all of this, not 64 KiB, and the
 * ingest rate is no longer one small chunk per round trip (BENCHMARKS.md, logs).
 */
export const MAX_LOG_CHUNK_BYTES = 1024 * 1024;

/** The largest artifact accepted (R2 multipart allows more; this is our documented limit). */
export const MAX_ARTIFACT_BYTES = 5 * 1024 ** 3;
