/**
 * The pipeline editor proper: CodeMirror 6 with YAML highlighting, search (Ctrl/Cmd+F), a lint
 * source fed by the control plane's own parser (domain/pipeline/parse.ts, run here in the
 * browser: each problem at its line while you type), and completion of the file's keys (from the
 * parser's schema, so it follows the format) and of job ids in `needs:`.
 *
 * Loaded on demand (a dynamic import in components/CodeEditor.tsx): CodeMirror, yaml and zod
 * stay out of the first page's JavaScript.
 */
import { autocompletion, type CompletionContext, type CompletionResult } from "@codemirror/autocomplete";
import { yaml } from "@codemirror/lang-yaml";
import { syntaxHighlighting } from "@codemirror/language";
import { classHighlighter } from "@lezer/highlight";
import { type Diagnostic, forceLinting, linter, lintGutter } from "@codemirror/lint";
import { EditorView, basicSetup } from "codemirror";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { JobSchema, PipelineFileSchema, StepSchema } from "../../../domain/pipeline/schema.ts";
import type { PipelineProblem } from "../../../domain/pipeline/types.ts";

export interface MountedEditor {
  /** Problems the server reported for `text` (shown while the text is unchanged). */
  setServerProblems(problems: PipelineProblem[], text: string): void;
  jumpTo(line: number, column: number): void;
  /** Replaces the text (another pipeline opened). */
  setText(text: string): void;
  destroy(): void;
}

const keysOf = (shape: object) => Object.keys(shape).sort();
const TOP_KEYS = keysOf(PipelineFileSchema.shape);
const JOB_KEYS = keysOf(JobSchema.shape);
const STEP_KEYS = keysOf(StepSchema.shape);

/** The job ids written under `jobs:` (by indentation: completion must work on broken files too). */
function jobIds(text: string): string[] {
  const ids: string[] = [];
  let inJobs = false;
  let indent = -1;
  for (const line of text.split("\n")) {
    if (/^\S/.test(line)) inJobs = /^jobs\s*:/.test(line);
    else if (inJobs) {
      const m = /^( +)([A-Za-z0-9_-]+)\s*:/.exec(line);
      if (!m) continue;
      if (indent < 0) indent = m[1]!.length;
      if (m[1]!.length === indent) ids.push(m[2]!);
    }
  }
  return ids;
}

/** Where the line at `lineNo` sits: the keys of its nearest less-indented parents, innermost first. */
function parentsOf(lines: string[], lineNo: number, indent: number): string[] {
  const parents: string[] = [];
  let limit = indent;
  for (let i = lineNo - 1; i >= 0 && limit > 0; i--) {
    const m = /^( *)(- +)?([A-Za-z0-9_-]+)?\s*:?/.exec(lines[i]!);
    if (!m || lines[i]!.trim() === "" || lines[i]!.trim().startsWith("#")) continue;
    const own = m[1]!.length;
    // A list item's keys sit at the dash's indentation plus the dash.
    const keyIndent = own + (m[2]?.length ?? 0);
    if (m[2] && keyIndent <= limit && own < limit) {
      parents.push("-");
      limit = own;
      continue;
    }
    if (own < limit && m[3]) {
      parents.push(m[3]);
      limit = own;
    }
  }
  return parents;
}

function complete(context: CompletionContext): CompletionResult | null {
  const line = context.state.doc.lineAt(context.pos);
  const before = line.text.slice(0, context.pos - line.from);
  const text = context.state.doc.toString();
  // A job id inside `needs:` (flow list or after the colon).
  const needs = /needs\s*:\s*\[?([^\]]*?)([A-Za-z0-9_-]*)$/.exec(before);
  if (needs) {
    const word = needs[2]!;
    return { from: context.pos - word.length, options: jobIds(text).map((id) => ({ label: id, type: "variable", detail: "job" })), validFor: /^[A-Za-z0-9_-]*$/ };
  }
  // A key at the start of a line (after its indentation or a list dash).
  const key = /^( *)(- +)?([A-Za-z0-9_-]*)$/.exec(before);
  if (!key || (!context.explicit && key[3] === "" && !key[2])) return null;
  const indent = key[1]!.length + (key[2]?.length ?? 0);
  const lines = text.split("\n");
  const parents = parentsOf(lines, line.number - 1, indent);
  let keys: string[] | null = null;
  if (indent === 0) keys = TOP_KEYS;
  else if (parents[0] === "-" && parents[1] === "steps") keys = STEP_KEYS;
  else if (parents[1] === "jobs" && parents.length === 2) keys = JOB_KEYS;
  if (!keys) return null;
  return { from: context.pos - key[3]!.length, options: keys.map((k) => ({ label: k, type: "property", apply: `${k}: ` })), validFor: /^[A-Za-z0-9_-]*$/ };
}

function toDiagnostic(view: EditorView, p: PipelineProblem): Diagnostic {
  const doc = view.state.doc;
  const line = doc.line(Math.min(Math.max(1, p.line || 1), doc.lines));
  const from = Math.min(line.from + Math.max(0, p.column - 1), line.to);
  // The rest of the word at the column, else the whole line: a visible underline either way.
  const word = /^[^\s:,\]]+/.exec(doc.sliceString(from, line.to))?.[0].length ?? 0;
  return { from: word > 0 ? from : line.from, to: word > 0 ? from + word : line.to, severity: "error", message: p.message, source: `line ${p.line}` };
}

export function mountEditor(parent: HTMLElement, options: { text: string; label: string; name: string; onInput(text: string): void }): MountedEditor {
  let server: { problems: PipelineProblem[]; text: string } = { problems: [], text: "" };
  const lint = linter(
    (view) => {
      const text = view.state.doc.toString();
      const local = parsePipeline(text, { name: options.name || "pipeline" });
      const problems = local.ok ? [] : local.problems;
      // The server knows more (the queue registry): its problems stay while the text is the one it saw.
      const extra = server.text === text ? server.problems.filter((s) => !problems.some((p) => p.line === s.line && p.message === s.message)) : [];
      return [...problems, ...extra].map((p) => toDiagnostic(view, p));
    },
    { delay: 300 },
  );
  const view = new EditorView({
    parent,
    doc: options.text,
    extensions: [
      basicSetup,
      yaml(),
      // Classes (tok-*) coloured by styles/editor.css for both themes, not CodeMirror's light-only palette.
      syntaxHighlighting(classHighlighter),
      lint,
      lintGutter(),
      autocompletion({ override: [complete] }),
      EditorView.contentAttributes.of({ "aria-label": options.label, spellcheck: "false", autocapitalize: "off" }),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) options.onInput(u.state.doc.toString());
      }),
    ],
  });
  return {
    setServerProblems(problems, text) {
      server = { problems, text };
      forceLinting(view);
    },
    jumpTo(line, column) {
      const doc = view.state.doc;
      const l = doc.line(Math.min(Math.max(1, line), doc.lines));
      const pos = Math.min(l.from + Math.max(0, column - 1), l.to);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    },
    setText(text) {
      if (text !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    destroy: () => view.destroy(),
  };
}
