/**
 * Log output that tries everything: every byte value, C0 and C1 controls (raw and as UTF-8),
 * ANSI CSI / OSC / DCS sequences (colours, clear screen, window title, OSC 8 hyperlinks with
 * javascript: targets, OSC 52 clipboard writes), invalid UTF-8 of every kind, HTML and script
 * meant to run in the dashboard, and a UTF-8 character split across two log chunks. Shared by
 * the byte-exact API test (test/e2e/log-bytes.test.ts) and the dashboard's (test/browser/).
 */

const ESC = "\x1b";
const BEL = "\x07";
const ST = `${ESC}\\`;

/** Markup that would set `window.__pwned` (or navigate, or alert) if the dashboard ever ran it. */
export const HTML_ATTACKS = [
  `<script>window.__pwned = "script"</script>`,
  `<img src=x onerror="window.__pwned = 'img'">`,
  `<svg/onload=window.__pwned='svg'>`,
  `<iframe src="javascript:parent.__pwned='iframe'"></iframe>`,
  `</pre></div></code><h1 id="injected">heading</h1><style>body{display:none}</style>`,
  `<a href="javascript:window.__pwned='a'">click me</a>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned='mxss'>`,
  `{{constructor.constructor('window.__pwned="template"')()}} \${window.__pwned='literal'}`,
  `<meta http-equiv="refresh" content="0;url=javascript:window.__pwned='meta'">`,
  `&lt;script&gt; &amp;amp; &#60;b&#62;`,
];

const TERMINAL_ATTACKS = [
  `${ESC}[31mred${ESC}[0m ${ESC}[1;4;38;5;196;48;2;0;0;255mrich${ESC}[m`,
  `${ESC}[2J${ESC}[H${ESC}[?1049h${ESC}[999;999H${ESC}[10A${ESC}[K`,
  `${ESC}]0;pwned title${BEL}${ESC}]2;another title${ST}`,
  `${ESC}]8;;javascript:window.__pwned='osc8'${BEL}bad link${ESC}]8;;${BEL}`,
  `${ESC}]8;;https://example.com/ok${ST}good link${ESC}]8;;${ST}`,
  `${ESC}]52;c;ZXZpbCBjbGlwYm9hcmQ=${BEL}`,
  `${ESC}P+q544e${ST}${ESC}[?25l${ESC}[6n${ESC}c`,
  `${ESC}[38;5;${"9".repeat(50)}m${ESC}[${"1;".repeat(500)}m`,
  "\r\n carriage\rreturn\x08\x08backspace\ttab\vvtab\fformfeed",
];

/** Byte sequences that are not UTF-8 (and a few that are, on the edge). */
const INVALID_UTF8: number[][] = [
  [0xc3, 0x28],
  [0xa0, 0xa1],
  [0xe2, 0x28, 0xa1],
  [0xe2, 0x82, 0x28],
  [0xf0, 0x28, 0x8c, 0xbc],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xfe, 0xff, 0xff, 0xfe],
  [0x80],
  [0xf0, 0x9f, 0x98],
  [0xf0, 0x9f, 0x98, 0x80],
  [0xef, 0xbb, 0xbf],
];

const enc = (s: string) => Buffer.from(s, "utf8");

/** The whole payload, first part (ending in the first half of a 4-byte character) and second. */
export function hostilePayload(): { first: Buffer; second: Buffer; all: Buffer } {
  const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const c1Utf8 = enc(Array.from({ length: 32 }, (_, i) => String.fromCharCode(0x80 + i)).join(""));
  const lines: Buffer[] = [
    enc("== every byte ==\n"),
    allBytes,
    enc("\n== C1 as UTF-8 ==\n"),
    c1Utf8,
    enc("\n== terminal ==\n"),
    ...TERMINAL_ATTACKS.map((t) => enc(`${t}\n`)),
    enc("== invalid UTF-8 ==\n"),
    ...INVALID_UTF8.map((b) => Buffer.concat([Buffer.from(b), enc("|\n")])),
    enc("== html ==\n"),
    ...HTML_ATTACKS.map((h) => enc(`${h}\n`)),
    enc("== NUL ==\n\0\0\0 nul\0in the middle\n"),
    enc(`== long line ==\n${"x".repeat(100_000)}\n`),
    enc("== split character: "),
    Buffer.from([0xf0, 0x9f]),
  ];
  const first = Buffer.concat(lines);
  const second = Buffer.concat([Buffer.from([0x9a, 0x82]), enc(" (a rocket) ==\nthe end, no newline")]);
  return { first, second, all: Buffer.concat([first, second]) };
}

/** A step that prints the two parts from files, half a second apart (so they travel in two chunks). */
export function printStep(firstPath: string, secondPath: string): string {
  return `cat '${firstPath}'; sleep 0.6; cat '${secondPath}'`;
}
