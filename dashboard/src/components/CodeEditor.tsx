/**
 * A plain-text editor for pipeline files: a textarea with a line-number gutter; lines with
 * problems are marked in the gutter and banded behind the text, each with its message.
 * `jumpTo` puts the caret at a line and column (1-based) and scrolls it into view.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { PipelineProblem } from "../api/types.ts";

const LINE_HEIGHT = 20;

export interface EditorHandle {
  jumpTo(line: number, column: number): void;
}

export function CodeEditor({
  value,
  onInput,
  problems,
  handle,
  label,
}: {
  value: string;
  onInput(value: string): void;
  problems: PipelineProblem[];
  handle?: { current: EditorHandle | null };
  label: string;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [scroll, setScroll] = useState(0);
  const lines = value.split("\n").length;
  const byLine = new Map<number, string[]>();
  for (const p of problems) if (p.line > 0) byLine.set(p.line, [...(byLine.get(p.line) ?? []), `${p.column}: ${p.message}`]);

  useEffect(() => {
    if (!handle) return;
    handle.current = {
      jumpTo(line, column) {
        const el = area.current;
        if (!el) return;
        const rows = el.value.split("\n");
        let offset = 0;
        for (let i = 0; i < Math.min(line - 1, rows.length); i++) offset += rows[i]!.length + 1;
        offset += Math.max(0, Math.min(column - 1, rows[line - 1]?.length ?? 0));
        el.focus();
        el.setSelectionRange(offset, offset);
        const top = (line - 1) * LINE_HEIGHT;
        if (top < el.scrollTop || top > el.scrollTop + el.clientHeight - LINE_HEIGHT * 2) el.scrollTop = Math.max(0, top - el.clientHeight / 3);
      },
    };
  }, [handle]);

  const gutter = [];
  for (let i = 1; i <= lines; i++) {
    const messages = byLine.get(i);
    gutter.push(
      <div key={i} class={messages ? "gutter-line has-problem" : "gutter-line"} title={messages?.map((m) => `line ${i}, column ${m}`).join("\n")}>
        {i}
      </div>,
    );
  }

  return (
    <div class="editor" style={{ "--editor-line": `${LINE_HEIGHT}px` }}>
      <div class="editor-gutter" aria-hidden="true">
        <div style={{ transform: `translateY(${-scroll}px)` }}>{gutter}</div>
      </div>
      <div class="editor-body">
        <div class="editor-bands" aria-hidden="true" style={{ transform: `translateY(${-scroll}px)` }}>
          {[...byLine.keys()].map((line) => (
            <div key={line} class="editor-band" style={{ top: `${(line - 1) * LINE_HEIGHT}px` }} />
          ))}
        </div>
        <textarea
          ref={area}
          class="editor-text"
          value={value}
          aria-label={label}
          aria-invalid={problems.length > 0 ? "true" : undefined}
          spellcheck={false}
          autocapitalize="off"
          autocomplete="off"
          wrap="off"
          onInput={(e) => onInput(e.currentTarget.value)}
          onScroll={(e) => setScroll(e.currentTarget.scrollTop)}
          onKeyDown={(e) => {
            if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
              e.preventDefault();
              const el = e.currentTarget;
              el.setRangeText("  ", el.selectionStart, el.selectionEnd, "end");
              onInput(el.value);
            }
          }}
        />
      </div>
    </div>
  );
}
