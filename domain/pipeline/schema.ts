/**
 * The zod schema of a `.act` file as YAML gives it (docs/pipelines.md is the user's view).
 *
 * It checks the shape and every fact that concerns one value alone (a duration, a cron, a
 * label, a glob), and turns the convenient spellings into one form: durations → ms, env
 * scalars → strings, "one or a list" → list, param shorthand → object, `on: push` → mapping.
 * Facts that relate values to each other (unknown needs, cycles, duplicate step ids, template
 * references) and defaults are parse.ts's: they need the whole document.
 *
 * Every object is strict, but through a `catchall` rather than `z.strictObject`: zod then
 * reports each unknown key as its own issue with the key in its path, so parse.ts can point
 * at the key itself and suggest the right one (`need` → `needs`).
 */
import { z } from "zod";
import { MAX_CACHE_KEY_LENGTH, MAX_CACHES_PER_JOB, MAX_RESTORE_KEYS } from "../caches.ts";
import { LABEL } from "../protocol.ts";
import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE } from "../queues.ts";
import { IDENTIFIER } from "../templates.ts";
import { cronProblem } from "../triggers/schedule.ts";
import { parseDuration } from "./duration.ts";
import { MAX_GROUP_LENGTH } from "./concurrency.ts";
import { GatesSchema } from "./gates.ts";
import { APPROVAL_INPUT_TYPES, PIPELINE_DEFAULTS, RETRY_CAUSES } from "./types.ts";

/** Longest `timeout` a job or step may ask for: longer is almost surely a slip of the unit. */
export const MAX_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;

/** Spellings from other CI tools, mapped to ours, for "did you mean" hints. */
const KEY_ALIASES: Record<string, string> = {
  depends_on: "needs",
  "depends-on": "needs",
  dependencies: "needs",
  command: "run",
  commands: "run",
  script: "run",
  "timeout-minutes": "timeout",
  timeout_in_minutes: "timeout",
  labels: "runs-on",
  agents: "runs-on",
  tags: "runs-on",
  retry: "retries",
  environment: "env",
  variables: "env",
  allow_failure: "continue-on-error",
  soft_fail: "continue-on-error",
  triggers: "on",
  parameters: "params",
  inputs: "params",
};

/** Edits (insert, delete, replace, swap two neighbours) to turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i ? (j ? 0 : i) : j)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate the user most likely meant by `word` (a typo, another tool's spelling), if any. */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, "");
  const alias = KEY_ALIASES[word.toLowerCase()];
  if (alias && candidates.includes(alias)) return alias;
  return (
    candidates.find((c) => squash(c) === squash(word)) ??
    candidates
      .map((c) => ({ c, d: editDistance(word.toLowerCase(), c.toLowerCase()) }))
      .filter(({ c, d }) => d <= Math.max(1, Math.floor(Math.min(c.length, word.length) / 3)))
      .sort((x, y) => x.d - y.d)[0]?.c
  );
}

/** The message for an unknown key, with the most likely intended key when there is one. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const guess = closestMatch(key, known);
  return guess
    ? `unknown key "${key}" — did you mean "${guess}"?`
    : `unknown key "${key}"; expected one of: ${known.join(", ")}`;
}

/** A strict object: each unknown key fails on its own, carrying the known keys for the hint. */
function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  return z
    .object(shape)
    .catchall(z.unknown().refine(() => false, { message: "unknown key", params: { unknownKey: true, known } }));
}

/** Accepts `x` or `[x, ...]`; always gives a list. */
function oneOrMany<T extends z.ZodType>(item: T) {
  return z.preprocess((value) => (typeof value === "string" ? [value] : value), z.array(item));
}

const text = z.string().refine((s) => s.trim() !== "", "must not be empty");

const identifier = (what: string) =>
  z.string().regex(IDENTIFIER, `${what} must start with a letter or _ and contain only letters, digits, _ and -`);

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const result = parseDuration(String(value));
  if (!result.ok) {
    ctx.addIssue({ code: "custom", message: result.error });
    return z.NEVER;
  }
  if (result.ms <= 0) ctx.addIssue({ code: "custom", message: "a timeout must be longer than 0" });
  else if (result.ms > MAX_TIMEOUT_MS) ctx.addIssue({ code: "custom", message: "a timeout may be at most 7d" });
  // Whole milliseconds: the protocol carries timeouts as integers.
  return Math.ceil(result.ms);
});

const retries = z
  .int(`must be a whole number from 0 to ${PIPELINE_DEFAULTS.maxRetries}`)
  .min(0, `must be a whole number from 0 to ${PIPELINE_DEFAULTS.maxRetries}`)
  .max(PIPELINE_DEFAULTS.maxRetries, `must be a whole number from 0 to ${PIPELINE_DEFAULTS.maxRetries}`);

/** A condition's text; `if: false` is read as the condition `false`. */
const condition = z.union([text, z.boolean()], { error: "a condition is an expression such as ${{ success() }}" }).transform(String);

/** How long a retry waits; longer than a day is surely a slip of the unit. */
const backoff = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const result = parseDuration(String(value));
  if (!result.ok) {
    ctx.addIssue({ code: "custom", message: result.error });
    return z.NEVER;
  }
  if (result.ms < 0 || result.ms > 24 * 60 * 60 * 1000) ctx.addIssue({ code: "custom", message: "a backoff is from 0s to 1d" });
  return Math.ceil(result.ms);
});

/** `retries: 2` is shorthand for `retries: {limit: 2}`. */
const retryPolicy = z.preprocess(
  (value) => (typeof value === "number" ? { limit: value } : value),
  strict({
    limit: retries,
    backoff: backoff.nullish(),
    on: oneOrMany(z.enum(RETRY_CAUSES, { error: `expected one of ${RETRY_CAUSES.join(", ")}` }))
      .refine((list) => list.length > 0, "list at least one of failure, lost, timeout")
      .nullish(),
    "exit-codes": z.array(z.int("an exit code is a whole number")).min(1).max(50).nullish(),
  }),
);

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an env name must be letters, digits and _, not starting with a digit")
  .refine((name) => !name.toUpperCase().startsWith("YM_"), "env names starting with YM_ are reserved for Yardmaster");

/** Numbers and booleans become strings, as in GitHub Actions (`CI: true` → "true"). */
const env = z.record(
  envName,
  z
    .union([z.string(), z.number(), z.boolean()], { error: "an env value must be a string, number or boolean" })
    .transform(String),
);

const needs = oneOrMany(z.string());

const MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC";
const DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT";
const CRON_FIELDS = [
  { name: "minute", pattern: /^[0-9*,/-]+$/ },
  { name: "hour", pattern: /^[0-9*,/-]+$/ },
  { name: "day of month", pattern: /^[0-9*,/-]+$/ },
  { name: "month", pattern: new RegExp(`^(?:[0-9*,/-]|${MONTHS})+$`, "i") },
  { name: "day of week", pattern: new RegExp(`^(?:[0-9*,/-]|${DAYS})+$`, "i") },
];

/** A cron: 5 fields of allowed characters, then values in range and a date that exists (croner). */
const cron = z.string().superRefine((value, ctx) => {
  const fields = value.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    ctx.addIssue({
      code: "custom",
      message: `"${value}" is not a cron expression: it needs 5 fields (minute hour day-of-month month day-of-week), not ${fields.length}`,
    });
    return;
  }
  let shaped = true;
  fields.forEach((field, i) => {
    if (!CRON_FIELDS[i]!.pattern.test(field)) {
      shaped = false;
      ctx.addIssue({ code: "custom", message: `"${value}": "${field}" is not a valid ${CRON_FIELDS[i]!.name} field` });
    }
  });
  const problem = shaped ? cronProblem(value) : null;
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** `schedule` entries are `"cron"` or `{cron: "..."}`; both become the cron string. */
const scheduleEntry = z
  .preprocess((value) => (typeof value === "object" && value !== null ? value : { cron: value }), strict({ cron }))
  .transform((entry) => entry.cron);

const branchFilter = strict({
  branches: oneOrMany(text).refine((list) => list.length > 0, "list at least one branch glob, or leave out branches").optional(),
}).nullable();

/** `on: dataset` entries (domain/triggers/dataset.ts): the namespace exactly, the name a glob. */
const datasetTrigger = strict({ namespace: text, name: text });

/** `on: push` and `on: [push, pull_request]` are read as `on: {push: , pull_request: }`. */
const triggers = z.preprocess(
  (value) => {
    const names = typeof value === "string" ? [value] : value;
    if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) return value;
    return Object.fromEntries(names.map((n: string) => [n, null]));
  },
  strict({
    push: branchFilter.optional(),
    pull_request: branchFilter.optional(),
    schedule: z.preprocess((v) => (typeof v === "string" ? [v] : v), z.array(scheduleEntry).min(1)).optional(),
    dataset: z.array(datasetTrigger).min(1, "list at least one dataset").optional(),
  }),
);

/** `name: value` is shorthand for `name: {default: value}`; `name:` alone is a required param. */
const param = z.preprocess(
  (value) => (value === null ? {} : typeof value === "object" && !Array.isArray(value) ? value : { default: value }),
  strict({
    default: z
      .union([z.string(), z.number(), z.boolean()], { error: "a default must be a string, number or boolean" })
      .transform(String)
      .optional(),
    description: z.string().optional(),
  }),
);

const artifactGlob = text
  .refine((glob) => !/^([\\/]|[A-Za-z]:)/.test(glob), "an artifact path must be relative to the working directory")
  .refine((glob) => !glob.split(/[\\/]/).includes(".."), "an artifact path may not contain '..'");

const dataset = strict({ namespace: text, name: text });

/** `cache:` (domain/caches.ts): the key is checked again once rendered, by the agent. */
const cacheEntry = strict({
  key: text.pipe(z.string().max(MAX_CACHE_KEY_LENGTH, `at most ${MAX_CACHE_KEY_LENGTH} characters`)),
  paths: oneOrMany(artifactGlob).refine((paths) => paths.length > 0, "list at least one path"),
  "restore-keys": oneOrMany(text).refine((keys) => keys.length <= MAX_RESTORE_KEYS, `at most ${MAX_RESTORE_KEYS} restore keys`).nullish(),
});

export const StepSchema = strict({
  id: identifier("a step id").nullish(),
  name: text.nullish(),
  run: text,
  // Not nullish: `needs:` with no value is more likely a slip than a wish for "none".
  needs: needs.optional(),
  env: env.nullish(),
  "continue-on-error": z.boolean().nullish(),
  timeout: duration.nullish(),
  retries: retries.nullish(),
  shell: text.nullish(),
  "working-directory": text.nullish(),
  if: condition.nullish(),
});

/** A scalar matrix value; numbers and booleans become strings, like env values. */
const matrixValue = z
  .union([z.string(), z.number(), z.boolean()], { error: "a matrix value must be a string, number or boolean" })
  .transform(String);
const matrixEntry = z.record(z.string(), matrixValue);

/** `matrix: {<key>: [values], include?, exclude?, max-parallel?}`; keys are checked in parse.ts. */
const matrix = z
  .object({
    include: z.array(matrixEntry).max(256).nullish(),
    exclude: z.array(matrixEntry).max(256).nullish(),
    "max-parallel": z.int("must be a whole number").min(1, "must be at least 1").nullish(),
  })
  .catchall(z.array(matrixValue, { error: "a matrix key takes a list of values" }).min(1).max(256));

/** A label, or a template (`${{ matrix.os }}`) checked once the matrix is expanded. */
const runsOnLabel = z.union([LABEL, z.string().regex(/\$\{\{/)], {
  error: "a label is 1–63 letters, digits, '_', '.', ':' or '-'",
});

const approval = strict({
  prompt: text,
  inputs: z
    .record(
      identifier("an input name"),
      strict({
        type: z.enum(APPROVAL_INPUT_TYPES, { error: `expected one of ${APPROVAL_INPUT_TYPES.join(", ")}` }),
        required: z.boolean().nullish(),
        default: z.union([z.string(), z.number(), z.boolean()]).transform(String).nullish(),
        description: z.string().nullish(),
      }),
    )
    .nullish(),
  timeout: duration.nullish(),
});

/**
 * An approval job has no agent and no steps: `runs-on` and `steps` are filled in here so the
 * job schema stays one; parse.ts refuses them when written and leaves them out.
 */
const APPROVAL_PLACEHOLDER = "ym.approval.no-agent";
export const isApprovalPlaceholder = (runsOn: string[]) => runsOn.length === 1 && runsOn[0] === APPROVAL_PLACEHOLDER;
const approvalDefaults = (value: unknown) => {
  if (typeof value !== "object" || value === null || (value as { type?: unknown }).type !== "approval") return value;
  const job = value as Record<string, unknown>;
  return { ...job, "runs-on": job["runs-on"] ?? APPROVAL_PLACEHOLDER, steps: job.steps ?? [{ run: APPROVAL_PLACEHOLDER }] };
};

const queueName = z.string().regex(QUEUE_NAME_PATTERN, QUEUE_NAME_RULE);

/** `concurrency: deploy` is shorthand for `concurrency: {group: deploy}` (concurrency.ts). */
const concurrency = z.preprocess(
  (value) => (typeof value === "string" ? { group: value } : value),
  strict({
    group: text.pipe(z.string().max(MAX_GROUP_LENGTH, `at most ${MAX_GROUP_LENGTH} characters`)),
    "cancel-in-progress": z.boolean().nullish(),
  }),
);

export const JobSchema = strict({
  queue: queueName.nullish(),
  type: z.enum(["approval"], { error: 'the only job type is "approval" (leave type out for a job with steps)' }).nullish(),
  approval: approval.nullish(),
  matrix: matrix.nullish(),
  concurrency: concurrency.nullish(),
  "runs-on": oneOrMany(runsOnLabel).refine((labels) => labels.length > 0, "list at least one label").refine(
    (labels) => labels.length <= 50,
    "at most 50 labels",
  ),
  priority: z.int("must be a whole number").nullish(),
  timeout: duration.nullish(),
  retries: retryPolicy.nullish(),
  if: condition.nullish(),
  needs: needs.nullish(),
  env: env.nullish(),
  steps: z
    .array(StepSchema)
    .min(1, "a job needs at least one step")
    .max(PIPELINE_DEFAULTS.maxStepsPerJob, `a job may have at most ${PIPELINE_DEFAULTS.maxStepsPerJob} steps`),
  outputs: z.record(identifier("an output name"), z.string()).nullish(),
  artifacts: oneOrMany(artifactGlob).nullish(),
  cache: z
    .preprocess((value) => (value !== null && typeof value === "object" && !Array.isArray(value) ? [value] : value), z.array(cacheEntry)).refine((list) => list.length <= MAX_CACHES_PER_JOB, `at most ${MAX_CACHES_PER_JOB} caches`).nullish(),
  lineage: strict({ inputs: z.array(dataset).nullish(), outputs: z.array(dataset).nullish() }).nullish(),
  gates: GatesSchema.nullish(),
});

export const PipelineFileSchema = strict({
  name: text.pipe(z.string().max(100, "at most 100 characters")).nullish(),
  env: env.nullish(),
  params: z.record(identifier("a param name"), param).nullish(),
  on: triggers.nullish(),
  queue: queueName.nullish(),
  concurrency: concurrency.nullish(),
  jobs: z
    .record(identifier("a job key"), z.preprocess(approvalDefaults, JobSchema))
    .refine((jobs) => Object.keys(jobs).length > 0, "define at least one job"),
});

/** The document after the schema: valid shape, convenient spellings resolved, no defaults. */
export type PipelineFile = z.output<typeof PipelineFileSchema>;

const KIND: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

function describeValue(value: unknown): string {
  if (value === null) return "nothing (null)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "boolean") return String(value);
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Plain-words messages for the issues zod phrases for programmers; pass to `safeParse`. */
export const pipelineErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      return `expected ${KIND[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case "too_small":
      if (issue.origin === "array") return Number(issue.minimum) <= 1 ? "must not be empty" : `needs at least ${issue.minimum} items`;
      if (issue.origin === "string") return "must not be empty";
      return `must be at least ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "array") return `may have at most ${issue.maximum} items`;
      if (issue.origin === "string") return `may be at most ${issue.maximum} characters`;
      return `must be at most ${issue.maximum}`;
    default:
      return undefined;
  }
};
