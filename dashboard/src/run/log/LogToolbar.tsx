/** The log viewer's controls: sections, search with next/previous, follow, download. */
import type { Ref } from "preact";
import type { LogSection } from "./log-buffer.ts";

export interface LogToolbarProps {
  sections: LogSection[];
  onSection(line: number): void;
  query: string;
  onQuery(q: string): void;
  matchCount: number;
  matchIndex: number;
  onStep(delta: 1 | -1): void;
  searchRef: Ref<HTMLInputElement>;
  follow: boolean;
  canFollow: boolean;
  onFollow(on: boolean): void;
  lines: number;
  downloadUrl: string;
  downloadName: string;
}

export function LogToolbar(p: LogToolbarProps) {
  return (
    <div class="log-toolbar">
      {p.sections.length > 0 && (
        <select
          class="log-sections"
          aria-label="Jump to a section of the log"
          value=""
          onChange={(e) => {
            const v = e.currentTarget.value;
            if (v !== "") p.onSection(Number(v));
            e.currentTarget.value = "";
          }}
        >
          <option value="">Jump to…</option>
          {p.sections.map((s) => (
            <option key={s.line} value={s.line}>
              {s.kind === "step" ? `step ${s.id}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ""}` : s.kind} · line {s.line + 1}
            </option>
          ))}
        </select>
      )}
      <div class="log-search">
        <input
          ref={p.searchRef}
          type="search"
          placeholder="Search the log"
          aria-label="Search the log"
          value={p.query}
          onInput={(e) => p.onQuery(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              p.onStep(e.shiftKey ? -1 : 1);
            }
          }}
        />
        {p.query && (
          <span class="log-count" aria-live="polite">
            {p.matchCount === 0 ? "no match" : `${p.matchIndex + 1} / ${p.matchCount}`}
          </span>
        )}
        <button type="button" class="btn btn-sm" onClick={() => p.onStep(-1)} disabled={p.matchCount === 0} aria-label="Previous match">
          ↑
        </button>
        <button type="button" class="btn btn-sm" onClick={() => p.onStep(1)} disabled={p.matchCount === 0} aria-label="Next match">
          ↓
        </button>
      </div>
      <span class="grow" />
      <span class="muted small log-lines">{p.lines.toLocaleString()} lines</span>
      <button
        type="button"
        class={`btn btn-sm${p.follow ? " is-on" : ""}`}
        aria-pressed={p.follow}
        disabled={!p.canFollow}
        onClick={() => p.onFollow(!p.follow)}
        title="Keep the newest line in view"
      >
        Follow
      </button>
      <a class="btn btn-sm" href={p.downloadUrl} download={p.downloadName}>
        Download
      </a>
    </div>
  );
}
