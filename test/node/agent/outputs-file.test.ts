import { describe, expect, it } from "vitest";
import { parseMetrics, parseOutputs } from "../../../agent/outputs-file.ts";

describe("YM_OUTPUT", () => {
  it("reads key=value lines; values keep '=' and spaces; later lines win", () => {
    const { value, warnings } = parseOutputs("version=1.2.3\nurl=http://x/?a=b\nmsg= hi there \nversion=1.2.4\n");
    expect(value).toEqual({ version: "1.2.4", url: "http://x/?a=b", msg: " hi there " });
    expect(warnings).toEqual([]);
  });

  it("reads multi-line values (key<<DELIM … DELIM), CRLF too", () => {
    const text = "notes<<EOF\nline 1\n\nline=3 <<x\nEOF\nafter=1\r\nwin<<END\r\na\r\nEND\r\n";
    expect(parseOutputs(text).value).toEqual({ notes: "line 1\n\nline=3 <<x", after: "1", win: "a" });
  });

  it("treats a=b<<c as a plain value", () => {
    expect(parseOutputs("a=b<<c\n").value).toEqual({ a: "b<<c" });
  });

  it("warns about lines it cannot read, and unterminated heredocs", () => {
    const { value, warnings } = parseOutputs("garbage\n=nokey\nok=1\nbody<<EOF\nnever closed\n");
    expect(value).toEqual({ ok: "1" });
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/line 1/);
    expect(warnings[2]).toMatch(/no closing "EOF"/);
  });

  it("an empty file has no outputs", () => {
    expect(parseOutputs("")).toEqual({ value: {}, warnings: [] });
  });
});

describe("YM_METRICS", () => {
  it("counters add up; durations are in seconds", () => {
    const { value, warnings } = parseMetrics("tests=12\ntests=3\ncompile=1.5s\nlink=250ms\nwait=2m\nbig=1h\nratio=-0.5\n");
    expect(warnings).toEqual([]);
    expect(value).toEqual([
      { name: "tests", kind: "counter", value: 15 },
      { name: "compile", kind: "duration", value: 1.5 },
      { name: "link", kind: "duration", value: 0.25 },
      { name: "wait", kind: "duration", value: 120 },
      { name: "big", kind: "duration", value: 3600 },
      { name: "ratio", kind: "counter", value: -0.5 },
    ]);
  });

  it("durations with the same name add up too, without float noise", () => {
    expect(parseMetrics("t=100ms\nt=200ms\n").value).toEqual([{ name: "t", kind: "duration", value: 0.3 }]);
  });

  it("warns about values that are neither, and kind changes", () => {
    const { value, warnings } = parseMetrics("a=fast\nb=1.5x\nc=1\nc=2s\nnoequals\n# a comment\n");
    expect(value).toEqual([{ name: "c", kind: "counter", value: 1 }]);
    expect(warnings).toHaveLength(4);
  });
});
