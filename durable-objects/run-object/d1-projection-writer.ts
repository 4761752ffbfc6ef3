/**
 * Writes projection rows into D1 with one prepared statement per table, reused for every flush:
 * the rows of a table travel as one JSON array bound to `INSERT … SELECT … FROM json_each(?1)`,
 * so a flush costs one statement per table it touches, however many rows (up to ROWS_PER_STATEMENT
 * each), and the SQL is built once per object rather than once per row. Column names come from
 * the drizzle schema (platform/db/schema.ts), the one place they are written.
 */
import { getTableColumns, getTableName } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { artifacts, jobAttempts, jobs, runAttempts, runs, stepRuns } from "../../platform/db/schema.ts";

export const PROJECTED_TABLES = { runs, runAttempts, jobs, jobAttempts, stepRuns, artifacts } as const;
export type ProjectedTable = keyof typeof PROJECTED_TABLES;

/** A row as the drizzle schema names its fields (JSON columns as their values). */
export type ProjectionRow = Record<string, unknown>;

/** Rows of one JSON array: a bound string stays far below D1's 2 MB value limit. */
const ROWS_PER_STATEMENT = 200;
/** Statements of one `db.batch` (atomic, sequential). */
const STATEMENTS_PER_BATCH = 50;

/** Inserted once and never changed (their `id` conflicts are ignored): artifacts. */
const INSERT_ONLY: ReadonlySet<ProjectedTable> = new Set(["artifacts"]);

export class D1ProjectionWriter {
  private readonly prepared = new Map<string, D1PreparedStatement>();
  /** Statements sent since this instance started (tests count them: issue 20). */
  statementsSent = 0;

  constructor(private readonly db: D1Database) {}

  /** Writes every table's rows, in order, in as few batches as the rows need. Throws when D1 refuses. */
  async write(rows: Partial<Record<ProjectedTable, ProjectionRow[]>>): Promise<number> {
    const statements: D1PreparedStatement[] = [];
    for (const [table, list] of Object.entries(rows) as [ProjectedTable, ProjectionRow[]][]) {
      if (list.length === 0) continue;
      const keys = Object.keys(list[0]!);
      const statement = this.statement(table, keys);
      for (let i = 0; i < list.length; i += ROWS_PER_STATEMENT) {
        statements.push(statement.bind(JSON.stringify(list.slice(i, i + ROWS_PER_STATEMENT).map((row) => encode(row, keys)))));
      }
    }
    for (let i = 0; i < statements.length; i += STATEMENTS_PER_BATCH) {
      await this.db.batch(statements.slice(i, i + STATEMENTS_PER_BATCH));
    }
    this.statementsSent += statements.length;
    return statements.length;
  }

  private statement(table: ProjectedTable, keys: string[]): D1PreparedStatement {
    const cacheKey = `${table}:${keys.join(",")}`;
    let statement = this.prepared.get(cacheKey);
    if (!statement) {
      statement = this.db.prepare(upsertSql(PROJECTED_TABLES[table], keys, !INSERT_ONLY.has(table)));
      this.prepared.set(cacheKey, statement);
    }
    return statement;
  }
}

/** The row as the JSON array carries it: positional, JSON columns already as their text. */
function encode(row: ProjectionRow, keys: string[]): unknown[] {
  return keys.map((key) => {
    const value = row[key];
    return value !== null && typeof value === "object" ? JSON.stringify(value) : (value ?? null);
  });
}

/** `INSERT INTO t (c1, …) SELECT value ->> 0, … FROM json_each(?1) WHERE true ON CONFLICT (id) DO …`. */
function upsertSql(table: SQLiteTable, keys: string[], update: boolean): string {
  const columns = getTableColumns(table) as Record<string, { name: string }>;
  const names = keys.map((key) => {
    const column = columns[key];
    if (!column) throw new Error(`${getTableName(table)} has no column for ${key}`);
    return `"${column.name}"`;
  });
  const values = names.map((_, i) => `value ->> ${i}`).join(", ");
  // `WHERE true`: SQLite's rule for an upsert whose rows come from a SELECT (its ON is ambiguous).
  const onConflict = update
    ? `DO UPDATE SET ${names.filter((n) => n !== '"id"').map((n) => `${n} = excluded.${n}`).join(", ")}`
    : "DO NOTHING";
  return `INSERT INTO "${getTableName(table)}" (${names.join(", ")}) SELECT ${values} FROM json_each(?1) WHERE true ON CONFLICT ("id") ${onConflict}`;
}
