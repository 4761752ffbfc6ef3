/**
 * The run's view for people (GET /api/v1/runs/:run, the commands' answers, the live snapshot).
 *
 * A read of the run is the object's most frequent call (dashboards poll it, scripts wait on it),
 * and building its view — the history table read and grouped, every attempt, job and step turned
 * into its view — was most of the object's CPU per read, then copied again to cross to the
 * worker (a structured clone of the whole tree) and serialized there. So the read answers the
 * view already serialized, and keeps that answer until the run changes: every commit (the only
 * writer of the state, the history and `run_actions`) forgets it (`committed`), and it is kept
 * for one state object only (a commit or a deletion replaces the state). A view that shows a duration of something still running depends on the time as well, and is
 * built anew for every read (`timedRunView` says which).
 */
import { type RunState, runView, timedRunView } from "../../domain/run-engine/index.ts";
import type { RunView } from "../../domain/views.ts";
import type { AuditOutbox } from "./audit-outbox.ts";
import type { RunExtension } from "./extension.ts";
import { historyIndex } from "./store.ts";

/** A read of the run: its view as JSON, with who acted when the object keeps them. */
export interface RunRead {
  /** The run's project, for the worker's access check. */
  project: string;
  /** The RunView with `triggeredBy`/`actions`, as the API answers it. */
  json: string;
  /**
   * False for a run whose object predates `run_actions` (audit-outbox.ts): the worker adds who
   * acted from D1's audit log, as it did before.
   */
  actions: boolean;
}

/**
 * Views larger than this (JSON characters, 1–2 bytes each in memory) are not kept: objects
 * share an isolate's memory (128 MB), and a run of a few hundred jobs would hold megabytes
 * for as long as its object lives. Such a view is built for every read, as all were before; the
 * typical run (the api benchmark's 5 jobs: 9.5 KB) is kept.
 */
const KEEP_AT_MOST_CHARS = 256 * 1024;

export class RunReads implements RunExtension {
  /** The last read of a view that did not depend on the time, and the state it was read from, until the run changes. */
  private kept: { state: RunState; read: RunRead } | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly audit: AuditOutbox,
  ) {}

  /** The run's view now (without who acted). */
  view(state: RunState): RunView {
    return runView(state, historyIndex(this.sql), Date.now());
  }

  /** The run's view with who acted on it (kept by the audit outbox). */
  withActions(state: RunState): RunView {
    return { ...this.view(state), ...this.audit.runActions() };
  }

  /** The same, serialized; kept while the run does not change and nothing in it runs (and it is not huge). */
  read(state: RunState): RunRead {
    if (this.kept?.state === state) return this.kept.read;
    const { view, readsNow } = timedRunView(state, historyIndex(this.sql), Date.now());
    const actions = this.audit.runActions();
    const read = { project: view.project, json: JSON.stringify({ ...view, ...actions }), actions: actions.actions !== undefined };
    if (!readsNow && read.json.length <= KEEP_AT_MOST_CHARS) this.kept = { state, read };
    return read;
  }

  /** A command changed the state, its history or who acted: the next read builds the view again. */
  committed(): void {
    this.kept = null;
  }
}
