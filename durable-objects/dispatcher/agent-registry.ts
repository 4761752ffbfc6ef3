/**
 * The agents of one queue: who they are, what labels they carry, when they were last heard
 * from. An agent's token is checked here (its SHA-256 is kept), so the claim path needs no D1.
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

export class AgentRegistry {
  /** Token hash → agent, so a claim does not hash-and-scan. */
  private cache = new Map<string, AgentRecord>();

  constructor(private readonly sql: SqlStorage) {}

  add(agent: AgentRecord, tokenHash: string): void {
    this.sql.exec("INSERT INTO agents (id, doc, token_hash) VALUES (?, ?, ?)", agent.id, JSON.stringify(agent), tokenHash);
  }

  save(agent: AgentRecord): void {
    this.sql.exec("UPDATE agents SET doc = ? WHERE id = ?", JSON.stringify(agent), agent.id);
    for (const [hash, cached] of this.cache) if (cached.id === agent.id) this.cache.set(hash, agent);
  }

  get(id: string): AgentRecord | null {
    const row = this.sql.exec<AgentRow>("SELECT * FROM agents WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.doc) as AgentRecord) : null;
  }

  list(): AgentRecord[] {
    return this.sql
      .exec<AgentRow>("SELECT * FROM agents")
      .toArray()
      .map((r) => JSON.parse(r.doc) as AgentRecord);
  }

  /** The agent a token belongs to, or null for an unknown or revoked agent. */
  async authenticate(agentId: string, token: string): Promise<AgentRecord | null> {
    const hash = await sha256Hex(token);
    const cached = this.cache.get(hash);
    if (cached) return cached.revokedAt === null ? cached : null;
    const row = this.sql.exec<AgentRow>("SELECT * FROM agents WHERE id = ? AND token_hash = ?", agentId, hash).toArray()[0];
    if (!row) return null;
    const agent = JSON.parse(row.doc) as AgentRecord;
    this.cache.set(hash, agent);
    return agent.revokedAt === null ? agent : null;
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
