/**
 * The `if:` expression language of jobs and steps (docs/pipelines.md, "Conditions"): a real
 * tokenizer and recursive-descent parser with positions, and an evaluator over the AST. No
 * `eval`, no way to call anything but the four status functions.
 *
 *   expr    := or
 *   or      := and ("||" and)*
 *   and     := unary ("&&" unary)*
 *   unary   := "!" unary | compare
 *   compare := primary (("==" | "!=" | "<" | "<=" | ">" | ">=") primary)?
 *   primary := "(" expr ")" | 'string' | number | true | false | null
 *            | success() | failure() | always() | cancelled() | path
 *   path    := name ("." name)*          e.g. needs.build.outputs.version, run.branch
 *
 * An expression that calls no status function means `success() && (expr)`, as in GitHub
 * Actions: `if: run.branch == 'main'` still needs its needs to have succeeded.
 */
import { IDENTIFIER } from "./templates.ts";

export const STATUS_FUNCTIONS = ["success", "failure", "always", "cancelled"] as const;
export type StatusFunction = (typeof STATUS_FUNCTIONS)[number];
export type ExprValue = string | number | boolean | null;
type Comparison = "==" | "!=" | "<" | "<=" | ">" | ">=";

export type Expr =
  | { kind: "literal"; value: ExprValue; at: number }
  | { kind: "path"; path: string[]; at: number }
  | { kind: "call"; name: StatusFunction; at: number }
  | { kind: "not"; operand: Expr; at: number }
  | { kind: "and" | "or"; left: Expr; right: Expr; at: number }
  | { kind: "compare"; op: Comparison; left: Expr; right: Expr; at: number };

/** A parsed condition. `offset` is where `source` starts inside the text as written. */
export interface Condition {
  expr: Expr;
  /** Whether it calls a status function; if not, it is evaluated as `success() && (expr)`. */
  usesStatus: boolean;
}

export interface ExpressionError {
  message: string;
  /** 0-based offset in the text given to `parseCondition` (the `${{ }}` wrapper included). */
  offset: number;
}

type Token =
  | { type: "op"; value: string; at: number }
  | { type: "string"; value: string; at: number }
  | { type: "number"; value: number; at: number }
  | { type: "name"; value: string; at: number }
  | { type: "end"; at: number };

class ExpressionSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

const OPERATORS = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "."];
const MAX_LENGTH = 2000;
const MAX_DEPTH = 50;

function tokenize(text: string, base: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = base + i;
    if (c === "'") {
      // 'it''s' is "it's", as in GitHub Actions.
      let value = "";
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new ExpressionSyntaxError("unclosed string (a string ends with ')", at);
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += text[j++];
      }
      tokens.push({ type: "string", value, at });
      i = j + 1;
      continue;
    }
    const number = /^-?\d+(\.\d+)?/.exec(text.slice(i));
    if (number) {
      tokens.push({ type: "number", value: Number(number[0]), at });
      i += number[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(i));
    if (name) {
      tokens.push({ type: "name", value: name[0], at });
      i += name[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      tokens.push({ type: "op", value: op, at });
      i += op.length;
      continue;
    }
    if (c === '"') throw new ExpressionSyntaxError(`strings are written in single quotes: '…', not "…"`, at);
    if (c === "=") throw new ExpressionSyntaxError("use == to compare (= alone is not an operator)", at);
    if (c === "&" || c === "|") throw new ExpressionSyntaxError(`use ${c}${c}, not ${c}`, at);
    throw new ExpressionSyntaxError(`unexpected character ${JSON.stringify(c)}`, at);
  }
  tokens.push({ type: "end", at: base + text.length });
  return tokens;
}

class Parser {
  private position = 0;
  private depth = 0;
  usesStatus = false;
  private readonly tokens: Token[];

  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  private peek(): Token {
    return this.tokens[this.position]!;
  }
  private next(): Token {
    return this.tokens[this.position++]!;
  }
  private isOp(value: string): boolean {
    const t = this.peek();
    return t.type === "op" && t.value === value;
  }
  private describe(t: Token): string {
    if (t.type === "end") return "the end of the expression";
    if (t.type === "string") return `'${t.value}'`;
    return `"${t.value}"`;
  }

  parseAll(): Expr {
    const expr = this.or();
    const rest = this.peek();
    if (rest.type !== "end") {
      const hint = rest.type === "op" && rest.value === ")" ? " (a ) without its ()" : "; join conditions with && or ||";
      throw new ExpressionSyntaxError(`unexpected ${this.describe(rest)}${hint}`, rest.at);
    }
    return expr;
  }

  private or(): Expr {
    let left = this.and();
    while (this.isOp("||")) {
      const at = this.next().at;
      left = { kind: "or", left, right: this.and(), at };
    }
    return left;
  }

  private and(): Expr {
    let left = this.unary();
    while (this.isOp("&&")) {
      const at = this.next().at;
      left = { kind: "and", left, right: this.unary(), at };
    }
    return left;
  }

  private unary(): Expr {
    if (this.isOp("!")) {
      const at = this.next().at;
      return this.nested(at, () => ({ kind: "not", operand: this.unary(), at }));
    }
    return this.compare();
  }

  private compare(): Expr {
    const left = this.primary();
    const t = this.peek();
    if (t.type === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(t.value)) {
      this.next();
      const right = this.primary();
      const after = this.peek();
      if (after.type === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(after.value)) {
        throw new ExpressionSyntaxError("comparisons do not chain; use parentheses and && instead", after.at);
      }
      return { kind: "compare", op: t.value as Comparison, left, right, at: t.at };
    }
    return left;
  }

  private nested<T>(at: number, f: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new ExpressionSyntaxError(`nested more than ${MAX_DEPTH} deep`, at);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private primary(): Expr {
    const t = this.next();
    if (t.type === "op" && t.value === "(") {
      const inner = this.nested(t.at, () => this.or());
      const close = this.next();
      if (close.type !== "op" || close.value !== ")") {
        throw new ExpressionSyntaxError(`expected ) to close the ( at ${t.at + 1}, found ${this.describe(close)}`, close.at);
      }
      return inner;
    }
    if (t.type === "string" || t.type === "number") return { kind: "literal", value: t.value, at: t.at };
    if (t.type === "name") {
      if (t.value === "true" || t.value === "false") return { kind: "literal", value: t.value === "true", at: t.at };
      if (t.value === "null") return { kind: "literal", value: null, at: t.at };
      if (this.isOp("(")) {
        const open = this.next();
        if (!(STATUS_FUNCTIONS as readonly string[]).includes(t.value)) {
          throw new ExpressionSyntaxError(`unknown function ${t.value}(); the functions are ${STATUS_FUNCTIONS.map((f) => `${f}()`).join(", ")}`, t.at);
        }
        const close = this.next();
        if (close.type !== "op" || close.value !== ")") {
          throw new ExpressionSyntaxError(`${t.value}() takes no arguments`, close.type === "end" ? open.at : close.at);
        }
        this.usesStatus = true;
        return { kind: "call", name: t.value as StatusFunction, at: t.at };
      }
      const path = [t.value];
      while (this.isOp(".")) {
        this.next();
        const part = this.next();
        if (part.type !== "name" || !IDENTIFIER.test(part.value)) {
          throw new ExpressionSyntaxError(`expected a name after "${path.join(".")}.", found ${this.describe(part)}`, part.at);
        }
        path.push(part.value);
      }
      return { kind: "path", path, at: t.at };
    }
    const expected = "expected a value: a 'string', a number, a context such as run.branch, or a function such as success()";
    throw new ExpressionSyntaxError(`${expected}; found ${this.describe(t)}`, t.at);
  }
}

/**
 * Parses an `if:` value. The whole value may be wrapped in `${{ }}` (the usual spelling) or
 * not; an empty condition is an error, not "true".
 */
export function parseCondition(text: string): { ok: true; condition: Condition } | { ok: false; error: ExpressionError } {
  let body = text;
  let base = 0;
  const wrapped = /^(\s*\$\{\{)([\s\S]*)\}\}\s*$/.exec(text);
  if (wrapped) {
    body = wrapped[2]!;
    base = wrapped[1]!.length;
  } else if (text.includes("${{")) {
    return { ok: false, error: { message: "write the condition either bare or as one ${{ … }} around all of it", offset: text.indexOf("${{") } };
  }
  if (body.trim() === "") return { ok: false, error: { message: "the condition is empty", offset: 0 } };
  if (body.length > MAX_LENGTH) return { ok: false, error: { message: `a condition may be at most ${MAX_LENGTH} characters`, offset: 0 } };
  try {
    const parser = new Parser(tokenize(body, base));
    const expr = parser.parseAll();
    return { ok: true, condition: { expr, usesStatus: parser.usesStatus } };
  } catch (error) {
    if (error instanceof ExpressionSyntaxError) return { ok: false, error: { message: error.message, offset: error.offset } };
    throw error;
  }
}

/** Every context path the condition reads, with its offset, for checks at upload. */
export function conditionPaths(expr: Expr): { path: string[]; at: number }[] {
  switch (expr.kind) {
    case "path":
      return [{ path: expr.path, at: expr.at }];
    case "not":
      return conditionPaths(expr.operand);
    case "and":
    case "or":
    case "compare":
      return [...conditionPaths(expr.left), ...conditionPaths(expr.right)];
    default:
      return [];
  }
}

/** What a condition is evaluated against. */
export interface ConditionContext {
  status: Record<StatusFunction, boolean>;
  /** A context path's value; undefined (unknown) reads as null. */
  lookup(path: string[]): ExprValue | undefined;
}

/** GitHub Actions' coercion for comparing values of different types. */
function toNumber(value: ExprValue): number {
  if (value === null) return 0;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") return value;
  return value.trim() === "" ? 0 : Number(value);
}

function truthy(value: ExprValue): boolean {
  return !(value === null || value === false || value === 0 || value === "" || Number.isNaN(value));
}

function compare(op: Comparison, a: ExprValue, b: ExprValue): boolean {
  const sameType = typeof a === typeof b && (a === null) === (b === null);
  const [x, y] = sameType && typeof a === "string" ? [a, b as string] : [toNumber(a), toNumber(b)];
  switch (op) {
    case "==":
      return x === y;
    case "!=":
      return x !== y;
    case "<":
      return x < y;
    case "<=":
      return x <= y;
    case ">":
      return x > y;
    case ">=":
      return x >= y;
  }
}

function value(expr: Expr, ctx: ConditionContext): ExprValue {
  switch (expr.kind) {
    case "literal":
      return expr.value;
    case "path":
      return ctx.lookup(expr.path) ?? null;
    case "call":
      return expr.name === "always" ? true : ctx.status[expr.name];
    case "not":
      return !truthy(value(expr.operand, ctx));
    case "and":
      return truthy(value(expr.left, ctx)) && truthy(value(expr.right, ctx));
    case "or":
      return truthy(value(expr.left, ctx)) || truthy(value(expr.right, ctx));
    case "compare":
      return compare(expr.op, value(expr.left, ctx), value(expr.right, ctx));
  }
}

/** Whether the condition holds; without a status function it also needs `success()`. */
export function evaluateCondition(condition: Condition, ctx: ConditionContext): boolean {
  if (!condition.usesStatus && !ctx.status.success) return false;
  return truthy(value(condition.expr, ctx));
}

const parsedConditions = new Map<string, Condition | null>();

/**
 * A condition already accepted at upload, parsed once per text (the engine and the agent
 * evaluate the same texts again and again). A text that does not parse — it cannot come from
 * a pipeline that passed upload — reads as `false`, never as "run anyway".
 */
export function storedCondition(text: string): Condition | null {
  let found = parsedConditions.get(text);
  if (found === undefined) {
    const parsed = parseCondition(text);
    found = parsed.ok ? parsed.condition : null;
    if (parsedConditions.size > 1000) parsedConditions.clear();
    parsedConditions.set(text, found);
  }
  return found;
}
