import { describe, expect, it } from "vitest";
import { type ConditionContext, evaluateCondition, parseCondition } from "../../../domain/expressions.ts";

function evaluate(text: string, overrides: Partial<ConditionContext["status"]> = {}, values: Record<string, string> = {}): boolean {
  const parsed = parseCondition(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.error.message}`);
  return evaluateCondition(parsed.condition, {
    status: { success: true, failure: false, cancelled: false, always: true, ...overrides },
    lookup: (path) => values[path.join(".")],
  });
}

function error(text: string) {
  const parsed = parseCondition(text);
  if (parsed.ok) throw new Error(`${text} parsed`);
  return parsed.error;
}

describe("if: expressions", () => {
  it("evaluates status functions, comparisons, &&, ||, ! and parentheses", () => {
    const values = { "run.branch": "main", "needs.build.outputs.version": "1.2", "params.count": "3" };
    expect(evaluate("${{ run.branch == 'main' && success() }}", {}, values)).toBe(true);
    expect(evaluate("run.branch != 'main'", {}, values)).toBe(false);
    expect(evaluate("failure()", { failure: true, success: false })).toBe(true);
    expect(evaluate("!failure() && always()")).toBe(true);
    expect(evaluate("(failure() || run.branch == 'dev') && always()", {}, values)).toBe(false);
    expect(evaluate("params.count == 3", {}, values)).toBe(true); // '3' == 3 by number
    expect(evaluate("params.count >= 2 && params.count < 4", {}, values)).toBe(true);
    expect(evaluate("needs.build.outputs.version == '1.2'", {}, values)).toBe(true);
    expect(evaluate("'it''s' == 'it''s'")).toBe(true);
    expect(evaluate("unknown.path == null || true")).toBe(true);
    expect(evaluate("!(true && false)")).toBe(true);
  });

  it("without a status function, also needs success() (as in GitHub Actions)", () => {
    expect(evaluate("run.branch == 'main'", { success: false, failure: true }, { "run.branch": "main" })).toBe(false);
    expect(evaluate("always() && run.branch == 'main'", { success: false, failure: true }, { "run.branch": "main" })).toBe(true);
    expect(parseCondition("run.branch == 'x'").ok && (parseCondition("run.branch == 'x'") as { condition: { usesStatus: boolean } }).condition.usesStatus).toBe(false);
  });

  it("says where a bad expression goes wrong, counting the ${{ wrapper", () => {
    expect(error("${{ run.branch = 'main' }}")).toEqual({ message: "use == to compare (= alone is not an operator)", offset: 15 });
    expect(error("success() &&")).toMatchObject({ offset: 12, message: expect.stringContaining("expected a value") });
    expect(error("(success()")).toMatchObject({ offset: 10, message: expect.stringContaining("expected ) to close the ( at 1") });
    expect(error("deploy()")).toMatchObject({ offset: 0, message: expect.stringContaining("unknown function deploy()") });
    expect(error("success(1)")).toMatchObject({ offset: 8, message: "success() takes no arguments" });
    expect(error("run.branch == \"main\"")).toMatchObject({ offset: 14, message: expect.stringContaining("single quotes") });
    expect(error("'open")).toMatchObject({ offset: 0, message: expect.stringContaining("unclosed string") });
    expect(error("a == b == c")).toMatchObject({ offset: 7, message: expect.stringContaining("do not chain") });
    expect(error("success() failure()")).toMatchObject({ offset: 10, message: expect.stringContaining("&& or ||") });
    expect(error("run.")).toMatchObject({ offset: 4 });
    expect(error("a & b")).toMatchObject({ offset: 2, message: "use &&, not &" });
    expect(error("")).toMatchObject({ message: "the condition is empty" });
    expect(error("${{ }}")).toMatchObject({ message: "the condition is empty" });
    expect(error("success() && ${{ failure() }}")).toMatchObject({ offset: 13 });
  });

  it("refuses nesting deep enough to exhaust a stack, without throwing", () => {
    expect(error("!".repeat(500) + "true")).toMatchObject({ message: expect.stringContaining("nested more than") });
    expect(error("(".repeat(500) + "true" + ")".repeat(500))).toMatchObject({ message: expect.stringContaining("nested more than") });
  });
});
