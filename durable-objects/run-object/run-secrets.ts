/**
 * The secrets snapshot of one run (docs/security.md): the project secrets its pipeline
 * references, as they were when it was triggered, still encrypted. They live in their own
 * table, never in the run's state (which views and D1 are built from); `assign` decrypts them
 * to build the one claim answer that needs them, so claiming a job never reads D1.
 */
import type { Env } from "../../platform/env.ts";
import { maskOutputs } from "../../domain/masking.ts";
import { decryptSecret } from "../../platform/crypto.ts";

export const RUN_SECRET_MIGRATIONS = [`CREATE TABLE run_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);`];

export class RunSecrets {
  constructor(private readonly sql: SqlStorage) {}

  /** Stores the snapshot (encrypted values). Call with the run's creation, before any await. */
  save(encrypted: Record<string, string>): void {
    for (const [name, value] of Object.entries(encrypted)) {
      this.sql.exec("INSERT OR REPLACE INTO run_secrets (name, value) VALUES (?, ?)", name, value);
    }
  }

  /** Of `names`, those the snapshot lacks. */
  missing(names: readonly string[]): string[] {
    const have = new Set(this.sql.exec<{ name: string }>("SELECT name FROM run_secrets").toArray().map((r) => r.name));
    return names.filter((n) => !have.has(n));
  }

  /**
   * Adds to the snapshot the project secrets named (encrypted, as stored in D1 now): what jobs
   * uploaded into the run (`pipeline upload`) reference beyond the stored pipeline.
   */
  async addFromProject(env: Env, projectId: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const rows = await env.DB.prepare("SELECT name, value FROM project_secrets WHERE project_id = ?").bind(projectId).all<{ name: string; value: string }>();
    const wanted = new Set(names);
    this.save(Object.fromEntries(rows.results.filter((r) => wanted.has(r.name)).map((r) => [r.name, r.value])));
  }

  /**
   * Name → plaintext. Throws when a value cannot be decrypted (YM_ENCRYPTION_KEY changed or
   * unset): the claim then fails loudly and the job stays queued until the key is fixed.
   */
  async decrypt(env: Env): Promise<Record<string, string>> {
    const rows = this.sql.exec<{ name: string; value: string }>("SELECT name, value FROM run_secrets").toArray();
    const plain: Record<string, string> = {};
    for (const row of rows) {
      try {
        plain[row.name] = await decryptSecret(env, row.value);
      } catch (error) {
        throw new Error(`secret '${row.name}' of this run cannot be decrypted (was YM_ENCRYPTION_KEY changed?): ${String(error)}`);
      }
    }
    return plain;
  }

  /**
   * Outputs with the run's secrets masked (domain/masking.ts, the agent's rules): what the run
   * may store, show, project to D1 and pass to other jobs. The agent masks them too; this is
   * the server's own guarantee, whatever the agent sent. An output whose name holds a secret is
   * dropped. Decrypts only when there is something to mask.
   */
  async maskOutputs<T extends Record<string, string> | undefined>(env: Env, outputs: T): Promise<T> {
    if (!outputs || Object.keys(outputs).length === 0) return outputs;
    const stored = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM run_secrets").one().n;
    if (stored === 0) return outputs;
    return maskOutputs(outputs, Object.values(await this.decrypt(env))).value as T;
  }
}
