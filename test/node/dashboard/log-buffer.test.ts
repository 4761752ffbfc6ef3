// The log viewer's model: bytes in any chunking become the same lines, colours carry across
// lines, the agent's step sections are found, overlaps are dropped and gaps refused.
import { describe, expect, it } from "vitest";
import { lineToHtml } from "../../../dashboard/src/run/log/ansi.ts";
import { LogBuffer, stripAnsi } from "../../../dashboard/src/run/log/log-buffer.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function feed(text: string, cuts: number[]): LogBuffer {
  const all = bytes(text);
  const buffer = new LogBuffer();
  let at = 0;
  for (const cut of [...cuts, all.length]) {
    expect(buffer.append(at, all.subarray(at, cut))).toBe(true);
    at = cut;
  }
  return buffer;
}

const lines = (b: LogBuffer) => Array.from({ length: b.length }, (_, i) => b.line(i));

describe("LogBuffer", () => {
  const text = "héllo wörld\r\nsecond ✓ line\n\x1b[32mgreen\nstill green\x1b[0m\nplain\npartial";

  it("splits lines the same way whatever the chunks, even inside a UTF-8 character", () => {
    const whole = lines(feed(text, []));
    expect(whole).toEqual(["héllo wörld", "second ✓ line", "\x1b[32mgreen", "still green\x1b[0m", "plain", "partial"]);
    const all = bytes(text);
    for (let cut = 1; cut < all.length; cut++) expect(lines(feed(text, [cut]))).toEqual(whole);
    expect(lines(feed(text, Array.from({ length: all.length - 1 }, (_, i) => i + 1)))).toEqual(whole);
  });

  it("carries the colour in force into the next lines until a reset", () => {
    const b = feed(text, [7]);
    expect(b.prefix(2)).toBe("");
    expect(b.prefix(3)).toBe("\x1b[32m");
    expect(b.prefix(4)).toBe("");
    expect(lineToHtml(b.prefix(3), b.line(3))).toBe('<span class="ansi-green-fg">still green</span>');
  });

  it("does not take a 256-colour index 0 for a reset", () => {
    const b = feed("\x1b[38;5;0mdark\nnext\n", []);
    expect(b.prefix(1)).toBe("\x1b[38;5;0m");
    const c = feed("\x1b[1;31mred\n\x1b[0;33myellow\nnext\n", []);
    expect(c.prefix(1)).toBe("\x1b[1;31m");
    expect(c.prefix(2)).toBe("\x1b[33m");
  });

  it("finds the agent's sections", () => {
    const log = "\x1b[1m▶ checkout\x1b[0m\ncloning\n\x1b[1m▶ step unit — Unit tests (attempt 2)\x1b[0m\nok\n\x1b[1m▶ artifacts\x1b[0m\n";
    expect(feed(log, [5]).sections).toEqual([
      { line: 0, kind: "checkout", id: "checkout", attempt: 1 },
      { line: 2, kind: "step", id: "unit", attempt: 2 },
      { line: 4, kind: "artifacts", id: "artifacts", attempt: 1 },
    ]);
  });

  it("drops bytes it already has and refuses a gap", () => {
    const b = new LogBuffer();
    expect(b.append(0, bytes("abc\nde"))).toBe(true);
    expect(b.append(2, bytes("c\ndef\n"))).toBe(true); // overlaps by 4 bytes
    expect(b.append(0, bytes("abc"))).toBe(true); // all old: ignored
    expect(b.append(20, bytes("late\n"))).toBe(false);
    expect(lines(b)).toEqual(["abc", "def"]);
    expect(b.bytes).toBe(8);
  });

  it("searches without colours and case", () => {
    const b = feed("Build \x1b[31mFAILED\x1b[0m here\nok\nfailed again\n", []);
    expect(b.search("failed")).toEqual([0, 2]);
    expect(b.search("d fa")).toEqual([0]);
    expect(stripAnsi("\x1b]8;;https://x\x07link\x1b]8;;\x07 \x1b[1mbold")).toBe("link bold");
  });
});

describe("lineToHtml", () => {
  it("escapes every character of markup in log text", () => {
    const html = lineToHtml("", `<script>alert(1)</script><img src=x onerror="alert('x')"> & "q"`);
    expect(html).toBe("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#x27;x&#x27;)&quot;&gt; &amp; &quot;q&quot;");
    expect(lineToHtml("\x1b[31m", "<b>")).toBe('<span class="ansi-red-fg">&lt;b&gt;</span>');
  });

  it("makes links only of http(s) OSC 8 hyperlinks", () => {
    expect(lineToHtml("", "\x1b]8;;javascript:alert(1)\x07x\x1b]8;;\x07")).not.toContain("javascript");
    expect(lineToHtml("", '\x1b]8;;https://e.com/"a\x07y\x1b]8;;\x07')).toBe('<a href="https://e.com/&quot;a">y</a>');
  });

  it("shows what a carriage return leaves, keeping its colour", () => {
    expect(lineToHtml("", "\x1b[32m10%\r20%\r30%")).toBe('<span class="ansi-green-fg">30%</span>');
  });
});
