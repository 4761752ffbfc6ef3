import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { parseTemplates, renderTemplate, templateReferences } from "../../../domain/templates.ts";

describe("parseTemplates", () => {
  it("finds each template with its offsets, path and source", () => {
    const text = "deploy ${{ needs.test.outputs.version }} to ${{params.env}}";
    const { templates, errors } = parseTemplates(text);
    expect(errors).toEqual([]);
    expect(templates).toEqual([
      {
        root: "needs",
        path: ["needs", "test", "outputs", "version"],
        start: 7,
        end: 40,
        source: "${{ needs.test.outputs.version }}",
        expression: "needs.test.outputs.version",
      },
      { root: "params", path: ["params", "env"], start: 44, end: 59, source: "${{params.env}}", expression: "params.env" },
    ]);
  });

  it.each([
    "${{ steps.build-1.outputs.out_put }}",
    "${{ secrets.NPM_TOKEN }}",
    "${{ run.number }}",
    "${{ run.project }}",
    "${{\tparams._x\n}}",
  ])("accepts %j", (text) => {
    expect(parseTemplates(text)).toMatchObject({ errors: [], templates: [{ start: 0, end: text.length }] });
  });

  it.each([
    ["echo ${{ steps.a.outputs.b", 5, "unclosed ${{"],
    ["a ${{ }} b", 2, "empty template"],
    ["${{ github.sha }}", 0, 'unknown "github"'],
    ["${{ steps.a.output.b }}", 0, "steps.<step>.outputs.<key>"],
    ["${{ steps.a.outputs }}", 0, "steps.<step>.outputs.<key>"],
    ["${{ needs.a.outputs.b.c }}", 0, "needs.<job>.outputs.<key>"],
    ["${{ secrets.A.B }}", 0, "secrets.<NAME>"],
    ["${{ params.1x }}", 0, "params.<name>"],
    ["${{ run.branch_name }}", 0, 'unknown run field "branch_name"'],
    ["${{ params.a || 'x' }}", 0, "params.<name>"],
    ["${{ steps..outputs.b }}", 0, "steps.<step>.outputs.<key>"],
  ])("reports %j at offset %d", (text, start, message) => {
    const { templates, errors } = parseTemplates(text);
    expect(templates).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.start).toBe(start);
    expect(errors[0]!.message).toContain(message);
  });

  it("keeps going after a bad template", () => {
    const { templates, errors } = parseTemplates("${{ nope }} ${{ run.id }} ${{ }}");
    expect(templates.map((t) => t.expression)).toEqual(["run.id"]);
    expect(errors.map((e) => e.start)).toEqual([0, 26]);
  });

  it("ignores text that only looks similar", () => {
    expect(parseTemplates("${HOME} $( echo } ) {{ x }} $ {{ y }}")).toEqual({ templates: [], errors: [] });
  });
});

describe("renderTemplate", () => {
  const values: Record<string, string> = {
    "needs.test.outputs.version": "1.2.3",
    "params.env": "prod",
    "run.number": "42",
  };
  const lookup = (path: string[]) => values[path.join(".")];

  it("substitutes what the lookup knows", () => {
    expect(renderTemplate("v${{ needs.test.outputs.version }} #${{run.number}}", lookup)).toBe("v1.2.3 #42");
  });

  it("leaves templates the lookup does not know exactly as written, for the agent's pass", () => {
    const text = "echo ${{ steps.build.outputs.dir }}/${{  params.env }} ${{ secrets.TOKEN }}";
    expect(renderTemplate(text, lookup)).toBe("echo ${{ steps.build.outputs.dir }}/prod ${{ secrets.TOKEN }}");
  });

  it("leaves malformed templates and unclosed ones untouched", () => {
    expect(renderTemplate("${{ github.sha }} ${{ params.env }} ${{ params.env", lookup)).toBe(
      "${{ github.sha }} prod ${{ params.env",
    );
  });

  it("does not scan substituted values again", () => {
    const injected = (path: string[]) => (path[1] === "a" ? "${{ params.b }}" : "B");
    expect(renderTemplate("${{ params.a }}", injected)).toBe("${{ params.b }}");
  });

  it("the two passes compose: control plane first, agent second", () => {
    const text = "deploy ${{ steps.pkg.outputs.file }} to ${{ params.env }}";
    const controlPlane = renderTemplate(text, (p) => (p[0] === "steps" ? undefined : lookup(p)));
    expect(controlPlane).toBe("deploy ${{ steps.pkg.outputs.file }} to prod");
    expect(renderTemplate(controlPlane, (p) => (p[0] === "steps" ? "app.tgz" : undefined))).toBe("deploy app.tgz to prod");
  });

  it("is the identity when the lookup knows nothing", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(renderTemplate(text, () => undefined)).toBe(text);
      }),
    );
  });
});

describe("templateReferences", () => {
  const text = "${{ secrets.A }} ${{ params.x }} ${{ secrets.B }} ${{ secrets.A }} ${{ bad }}";

  it("lists each well-formed reference once, in order", () => {
    expect(templateReferences(text).map((r) => r.path.join("."))).toEqual(["secrets.A", "params.x", "secrets.B"]);
  });

  it("filters by root (e.g. the secrets a job uses)", () => {
    expect(templateReferences(text, "secrets").map((r) => r.path[1])).toEqual(["A", "B"]);
  });
});
