/** Flow control at upload, through the API (issue 17): bad conditions and oversized matrices are 400s saying where. */
import { describe, expect, it } from "vitest";
import { api } from "./api-client.ts";

const put = (slug: string, name: string, text: string) =>
  api("PUT", `/api/v1/projects/${slug}/pipelines/${name}`, { raw: text, headers: { "content-type": "text/plain" } });

describe("flow control at upload", () => {
  it("refuses a condition that does not parse and a matrix past its limit (400, with line and column), stores a sound one", async () => {
    expect((await api("POST", "/api/v1/projects", { body: { slug: "flow-upload" } })).status).toBe(201);
    const values = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(", ")}]`;
    const cases: [string, string, string, number, number][] = [
      ["bad-if", "jobs:\n  a:\n    runs-on: linux\n    if: ${{ success() && }}\n    steps: [{ run: x }]\n", "expected a value", 4, 26],
      ["big-matrix", `jobs:\n  a:\n    matrix: { x: ${values(20)}, y: ${values(20)} }\n    runs-on: linux\n    steps: [{ run: x }]\n`, "the matrix makes 400 combinations; the limit is 256", 3, 13],
    ];
    for (const [name, text, message, line, column] of cases) {
      const res = await put("flow-upload", name, text);
      expect(res.status, name).toBe(400);
      expect(res.json.error.code).toBe("invalid_pipeline");
      expect(res.json.error.details.problems).toEqual([expect.objectContaining({ message: expect.stringContaining(message), line, column })]);
    }
    const sound = await put("flow-upload", "ok", "jobs:\n  a:\n    matrix: { os: [linux, mac] }\n    runs-on: ['${{ matrix.os }}']\n    steps: [{ run: x }]\n");
    expect(sound.status, sound.text).toBe(201);
  });
});
