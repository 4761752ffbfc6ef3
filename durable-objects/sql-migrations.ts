/**
 * Versioned schemas for a Durable Object's SQLite storage. Each named schema is a list of
 * migrations; entry i moves it from version i to i+1. Never edit an entry that has shipped:
 * append a new one.
 */
export interface SchemaMigrations {
  name: string;
  statements: string[];
}

export function migrate(sql: SqlStorage, schemas: SchemaMigrations[]): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  for (const { name, statements } of schemas) {
    const row = sql.exec<{ version: number }>("SELECT version FROM schema_versions WHERE name = ?", name).toArray()[0];
    for (let v = row?.version ?? 0; v < statements.length; v++) {
      sql.exec(statements[v]!);
      sql.exec("INSERT OR REPLACE INTO schema_versions (name, version) VALUES (?, ?)", name, v + 1);
    }
  }
}
