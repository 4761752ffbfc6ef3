/**
 * A virtualised log: only the rows in view (plus a margin) are in the DOM, each a fixed
 * height, so 100,000 lines scroll as smoothly as 100. Lines keep their ANSI colours
 * (ansi.ts), have numbers that link to `#L<n>`, and the view can follow the tail, search
 * (highlight, next/previous) and jump to the agent's step sections.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { lineToHtml } from "./ansi.ts";
import { highlightMatches } from "./highlight.ts";
import type { LogBuffer } from "./log-buffer.ts";
import { LogToolbar } from "./LogToolbar.tsx";

export const ROW_HEIGHT = 20;
const OVERSCAN = 30;

export interface LogViewerProps {
  buffer: LogBuffer;
  /** LogBuffer.version when this render was asked for. */
  version: number;
  /** The job attempt is still running: follow the tail by default. */
  live: boolean;
  /** What to show with no lines yet. */
  emptyText: string;
  downloadUrl: string;
  downloadName: string;
  /** 1-based line from the URL's #L<n>, or null. */
  selectedLine: number | null;
  onSelectLine(line: number): void;
  /** Scroll to this 0-based line (e.g. a step's section); `nonce` re-triggers the same line. */
  jump: { line: number; nonce: number } | null;
  label: string;
}

export function LogViewer(props: LogViewerProps) {
  const { buffer, live } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const rowsRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [follow, setFollow] = useState(live);
  const [query, setQuery] = useState("");
  const [debounced, setDebounced] = useState("");
  const [matchIndex, setMatchIndex] = useState(0);
  const cache = useRef(new Map<number, string>());
  const scrolledToSelection = useRef<number | null>(null);
  const n = buffer.length;
  if (n > 0 && performance.getEntriesByName("ym:log-first-render").length === 0) performance.mark("ym:log-first-render");

  useEffect(() => cache.current.clear(), [buffer]);
  useEffect(() => setFollow(live), [live, buffer]);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(query), 150);
    return () => clearTimeout(t);
  }, [query]);

  const matches = useMemo(() => (debounced ? buffer.search(debounced) : []), [debounced, buffer, props.version]);
  useEffect(() => setMatchIndex(0), [debounced]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    setHeight(el.clientHeight);
    return () => observer.disconnect();
  }, []);

  const scrollToLine = (line: number, align: "center" | "top" = "center") => {
    const el = scroller.current;
    if (!el) return;
    const top = line * ROW_HEIGHT - (align === "center" ? el.clientHeight / 2 - ROW_HEIGHT : 0);
    el.scrollTop = Math.max(0, top);
    setScrollTop(el.scrollTop);
  };

  // Follow the tail as lines arrive.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && follow) {
      el.scrollTop = el.scrollHeight;
      setScrollTop(el.scrollTop);
    }
  }, [props.version, follow, n]);

  // #L<n>: scroll to it once it exists.
  useLayoutEffect(() => {
    const line = props.selectedLine;
    if (line === null || scrolledToSelection.current === line || line > n) return;
    scrolledToSelection.current = line;
    setFollow(false);
    scrollToLine(line - 1);
  }, [props.selectedLine, n]);

  useLayoutEffect(() => {
    if (!props.jump) return;
    setFollow(false);
    scrollToLine(props.jump.line, "top");
  }, [props.jump]);

  const step = (delta: 1 | -1) => {
    if (matches.length === 0) return;
    const next = (matchIndex + delta + matches.length) % matches.length;
    setMatchIndex(next);
    setFollow(false);
    scrollToLine(matches[next]!);
  };
  useEffect(() => {
    if (matches.length > 0 && debounced) {
      setFollow(false);
      scrollToLine(matches[0]!);
    }
  }, [debounced]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_HEIGHT;
    if (!atBottom && follow) setFollow(false);
    else if (atBottom && live && !follow) setFollow(true);
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(n, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const matchSet = useMemo(() => new Set(matches), [matches]);
  const current = matches[matchIndex];

  // Search highlights on the rows just drawn (new row elements whenever the query changes).
  useLayoutEffect(() => {
    if (!debounced || !rowsRef.current) return;
    for (const row of rowsRef.current.querySelectorAll<HTMLElement>(".log-row.is-match:not([data-marked])")) {
      row.dataset.marked = "";
      highlightMatches(row.querySelector(".log-text")!, debounced);
    }
  });

  const html = (i: number) => {
    if (buffer.isPartial(i)) return lineToHtml(buffer.prefix(i), buffer.line(i));
    let h = cache.current.get(i);
    if (h === undefined) {
      h = lineToHtml(buffer.prefix(i), buffer.line(i));
      // Rows near the view are kept; a long scroll through 100,000 lines does not keep them all.
      if (cache.current.size > 5000) cache.current.clear();
      cache.current.set(i, h);
    }
    return h;
  };

  const rows = [];
  for (let i = first; i < last; i++) {
    const number = i + 1;
    const classes = ["log-row"];
    if (number === props.selectedLine) classes.push("is-selected");
    if (matchSet.has(i)) classes.push("is-match");
    if (i === current) classes.push("is-current");
    const partial = buffer.isPartial(i);
    rows.push(
      <div key={`${i}|${debounced}|${partial ? buffer.line(i).length : ""}`} class={classes.join(" ")} data-line={number}>
        <a
          class="log-ln"
          href={`#L${number}`}
          onClick={(e) => {
            e.preventDefault();
            props.onSelectLine(number);
          }}
        >
          {number}
        </a>
        <span class="log-text" dangerouslySetInnerHTML={{ __html: html(i) }} />
      </div>,
    );
  }

  return (
    <section
      class="log"
      aria-label={props.label}
      onKeyDown={(e) => {
        if ((e.ctrlKey || e.metaKey) && e.key === "f") {
          e.preventDefault();
          searchRef.current?.focus();
        }
      }}
    >
      <LogToolbar
        sections={buffer.sections}
        onSection={(line) => {
          setFollow(false);
          scrollToLine(line, "top");
        }}
        query={query}
        onQuery={setQuery}
        matchCount={matches.length}
        matchIndex={matchIndex}
        onStep={step}
        searchRef={searchRef}
        follow={follow}
        canFollow={n > 0}
        onFollow={(on) => {
          setFollow(on);
          if (!on) return;
          const el = scroller.current;
          if (el) el.scrollTop = el.scrollHeight;
        }}
        lines={n}
        downloadUrl={props.downloadUrl}
        downloadName={props.downloadName}
      />
      <div class="log-scroll" ref={scroller} onScroll={onScroll} tabIndex={0} style={{ "--log-digits": String(String(n).length) }}>
        {n === 0 ? (
          <div class="log-empty">{props.emptyText}</div>
        ) : (
          <div class="log-spacer" style={{ height: `${n * ROW_HEIGHT}px` }}>
            <div class="log-rows" ref={rowsRef} style={{ transform: `translateY(${first * ROW_HEIGHT}px)` }}>
              {rows}
            </div>
          </div>
        )}
      </div>
    </section>
  );
}
