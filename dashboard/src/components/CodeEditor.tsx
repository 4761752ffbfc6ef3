/**
 * The pipeline file's editor: CodeMirror 6 (editor/codemirror.ts), loaded on demand so the
 * first page stays light. Problems are linted by the control plane's own parser as you type;
 * `problems` (the server's answer to a save) are shown too while the text is the one it saw.
 * `jumpTo` puts the caret at a line and column (1-based) and scrolls it into view.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { PipelineProblem } from "../api/types.ts";
import type { MountedEditor } from "../editor/codemirror.ts";

export interface EditorHandle {
  jumpTo(line: number, column: number): void;
}

export function CodeEditor({
  value,
  onInput,
  problems,
  handle,
  label,
  name = "",
}: {
  value: string;
  onInput(value: string): void;
  problems: PipelineProblem[];
  handle?: { current: EditorHandle | null };
  label: string;
  /** The pipeline's name, for files without `name:`. */
  name?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<MountedEditor | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const latest = useRef({ value, onInput, problems });
  latest.current = { value, onInput, problems };

  useEffect(() => {
    let gone = false;
    import("../editor/codemirror.ts").then(
      ({ mountEditor }) => {
        if (gone || !host.current) return;
        editor.current = mountEditor(host.current, { text: latest.current.value, label, name, onInput: (t) => latest.current.onInput(t) });
        if (latest.current.problems.length > 0) editor.current.setServerProblems(latest.current.problems, latest.current.value);
        setReady(true);
      },
      (e: unknown) => setFailed(String(e)),
    );
    return () => {
      gone = true;
      editor.current?.destroy();
      editor.current = null;
    };
  }, []);

  useEffect(() => editor.current?.setText(value), [value]);
  useEffect(() => editor.current?.setServerProblems(problems, latest.current.value), [problems]);
  useEffect(() => {
    if (handle) handle.current = { jumpTo: (line, column) => editor.current?.jumpTo(line, column) };
  }, [handle]);

  return (
    <div class="editor cm-host" ref={host} aria-busy={ready ? undefined : "true"} data-ready={ready ? "true" : undefined}>
      {!ready && <p class="muted editor-loading">{failed ? `The editor did not load: ${failed}` : "Loading the editor…"}</p>}
    </div>
  );
}
