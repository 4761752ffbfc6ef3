/**
 * The agents of one queue: who they are, what labels they carry, when they were last heard
 * from. An agent's token is checked here (its SHA-256 is kept), so the claim path needs no D1.
 *
 * The hot path writes little (issue 14.4): every call refreshes the agent's last-seen time in
 * memory; storage gets it at most every PERSIST_LAST_SEEN_MS, or at once on a real change
 * (registered, stopped, back from stopped, revoked). Readers (the agents page, lost detection)
 * see the in-memory record first. After a restart the stored time is at most that old, well
 * inside the lost-agent threshold.
 */
import { sha256Hex } from "../../domain/tokens.ts";

export interface AgentRecord {
  id: string;
  name: string;
  labels: string[];
  version: string;
  hostname: string | null;
  concurrency: number;
  registrationTokenId: string | null;
  createdAt: number;
  lastSeenAt: number;
  stoppedAt: number | null;
  revokedAt: number | null;
}

interface AgentRow extends Record<string, SqlStorageValue> {
  id: string;
  doc: string;
  token_hash: string;
}

export const AGENT_MIGRATIONS = [
  `CREATE TABLE agents (id TEXT PRIMARY KEY, doc TEXT NOT NULL, token_hash TEXT NOT NULL);`,
];

/** How stale the stored last-seen time of a live agent may get. */
export const PERSIST_LAST_SEEN_MS = 30_000;

/** What a token proves: a live agent, a revoked one (its calls get `agent_revoked`), or nothing. */
export type Authenticated = { agent: AgentRecord } | { revoked: AgentRecord } | null;

export class AgentRegistry {
  /** Token hash → agent id, so a claim does not hash-and-scan. */
  private byHash = new Map<string, string>();
  /** Agent id → its current record (last-seen in memory), and the last-seen time storage has. */
  private live = new Map<string, { agent: AgentRecord; storedLastSeenAt: number }>();

  constructor(private readonly sql: SqlStorage) {}

  add(agent: AgentRecord, tokenHash: string): void {
    this.sql.exec("INSERT INTO agents (id, doc, token_hash) VALUES (?, ?, ?)", agent.id, JSON.stringify(agent), tokenHash);
    this.live.set(agent.id, { agent, storedLastSeenAt: agent.lastSeenAt });
  }

  /** Writes the agent now: a real change (stopped, revoked). */
  save(agent: AgentRecord): void {
    this.sql.exec("UPDATE agents SET doc = ? WHERE id = ?", JSON.stringify(agent), agent.id);
    this.live.set(agent.id, { agent, storedLastSeenAt: agent.lastSeenAt });
  }

  /** The agent called: alive now, not stopped. Written only when that changes what storage says enough. */
  seen(agent: AgentRecord, now: number): void {
    const entry = this.live.get(agent.id) ?? { agent, storedLastSeenAt: agent.lastSeenAt };
    const wasStopped = agent.stoppedAt !== null;
    agent.lastSeenAt = now;
    agent.stoppedAt = null;
    if (wasStopped || now - entry.storedLastSeenAt >= PERSIST_LAST_SEEN_MS) this.save(agent);
    else this.live.set(agent.id, { agent, storedLastSeenAt: entry.storedLastSeenAt });
  }

  get(id: string): AgentRecord | null {
    const known = this.live.get(id);
    if (known) return known.agent;
    const row = this.sql.exec<AgentRow>("SELECT * FROM agents WHERE id = ?", id).toArray()[0];
    return row ? this.remember(row) : null;
  }

  list(): AgentRecord[] {
    return this.sql
      .exec<AgentRow>("SELECT * FROM agents")
      .toArray()
      .map((row) => this.live.get(row.id)?.agent ?? this.remember(row));
  }

  private remember(row: AgentRow): AgentRecord {
    const agent = JSON.parse(row.doc) as AgentRecord;
    this.live.set(agent.id, { agent, storedLastSeenAt: agent.lastSeenAt });
    return agent;
  }

  /** The agent a token belongs to (live or revoked), or null for a token that is no agent's. */
  async authenticate(agentId: string, token: string): Promise<Authenticated> {
    const hash = await sha256Hex(token);
    let id = this.byHash.get(hash);
    if (id === undefined) {
      const row = this.sql.exec<AgentRow>("SELECT * FROM agents WHERE id = ? AND token_hash = ?", agentId, hash).toArray()[0];
      if (!row) return null;
      id = row.id;
      this.byHash.set(hash, id);
      if (!this.live.has(id)) this.remember(row);
    }
    const agent = this.get(id);
    if (!agent) return null;
    return agent.revokedAt === null ? { agent } : { revoked: agent };
  }
}

/** idle, busy (holds a job), lost (silent for too long), stopped (shut down cleanly), revoked. */
export type AgentState = "idle" | "busy" | "lost" | "stopped" | "revoked";

export function agentState(agent: AgentRecord, busy: boolean, now: number, lostAfterMs: number): AgentState {
  if (agent.revokedAt !== null) return "revoked";
  if (agent.stoppedAt !== null && agent.stoppedAt >= agent.lastSeenAt) return "stopped";
  if (now - agent.lastSeenAt > lostAfterMs) return "lost";
  return busy ? "busy" : "idle";
}
