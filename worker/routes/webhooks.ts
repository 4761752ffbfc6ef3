/**
 * Webhooks (docs/triggers.md): GitHub's, and a generic one for scripts and other systems. They
 * are called without a bearer token, so app.ts keeps them outside the user API's door; each
 * request proves itself with an HMAC of its raw body under the project's webhook secret.
 * Every delivery is recorded (worker/services/webhook-deliveries.ts), refused ones too.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { bodyLimit } from "hono/body-limit";
import { uuidv7 } from "uuidv7";
import type { Pipeline } from "../../domain/pipeline/types.ts";
import { interpretGithubEvent } from "../../domain/triggers/github-events.ts";
import { matchingPipelines } from "../../domain/triggers/match.ts";
import { type SignatureCheck, verifySignature } from "../../domain/triggers/signature.ts";
import { constantTimeEqual, sha256Hex } from "../../domain/tokens.ts";
import { bearerToken } from "../auth/authenticate.ts";
import { type PlannedRun, pipelines, pipelineVersions } from "../../platform/db/schema.ts";
import type { Env } from "../../platform/env.ts";
import { ApiError } from "../http/errors.ts";
import { decryptSecret } from "../../platform/crypto.ts";
import { findProject } from "../services/projects.ts";
import { enforceRateLimit, webhookRateLimitKey, webhookRejectedRateLimitKey } from "../services/rate-limit.ts";
import {
  bodyDedupeKey,
  claimDelivery,
  type DeliveryFacts,
  deliveryView,
  isStalled,
  recordDelivery,
  startPlannedRuns,
} from "../services/webhook-deliveries.ts";
import { errors, json, NAME, router, SLUG } from "./common.ts";
import { DeliveryView } from "./webhook-deliveries.ts";

/** app.ts keeps these paths outside `authenticate` and the user API's body limit. */
export const WEBHOOK_PATHS = "/api/v1/webhooks/*";
/** GitHub caps deliveries at 25 MB; a push's payload is far smaller. Larger bodies get 413. */
export const MAX_GITHUB_WEBHOOK_BYTES = 5 * 1024 * 1024;
export const MAX_GENERIC_WEBHOOK_BYTES = 1024 * 1024;

export const webhookRoutes = router();

for (const [path, maxSize] of [
  ["/api/v1/webhooks/github/*", MAX_GITHUB_WEBHOOK_BYTES],
  ["/api/v1/webhooks/generic/*", MAX_GENERIC_WEBHOOK_BYTES],
] as const) {
  webhookRoutes.use(
    path,
    bodyLimit({
      maxSize,
      onError: () => {
        // Refused before it is read: its signature cannot be checked, so it is not recorded.
        throw new ApiError(413, "body_too_large", `a webhook body may be at most ${maxSize} bytes`);
      },
    }),
  );
}

/**
 * The project, its decrypted webhook secret, and the raw body (bounded by the body limits
 * above). Read before any rate limit is spent: the signature decides which budget a delivery
 * spends (`spend`).
 */
async function webhookContext(env: Env, slug: string, request: Request) {
  const project = await findProject(env, slug);
  const secret = await decryptSecret(env, project.webhookSecret);
  const body = new Uint8Array(await request.arrayBuffer());
  return { project, secret, body };
}

const REFUSALS: Record<Exclude<SignatureCheck, "ok">, string> = {
  missing: "no signature",
  malformed: "a malformed signature (expected sha256=<64 hex digits>)",
  mismatch: "a signature that does not match the project's webhook secret",
};

/**
 * Spends the budget the signature check picks: an authentic delivery the project's, a refused
 * one a separate budget for refusals, so forged deliveries cannot lock out GitHub's.
 */
async function spend(env: Env, slug: string, check: SignatureCheck): Promise<void> {
  if (check === "ok") await enforceRateLimit(env, webhookRateLimitKey(slug), "a project's webhooks");
  else await enforceRateLimit(env, webhookRejectedRateLimitKey(slug), "badly signed deliveries to a project's webhooks");
}

/** Records and logs a refused delivery, then refuses it: nothing is started. */
async function refuse(env: Env, facts: DeliveryFacts, slug: string, check: Exclude<SignatureCheck, "ok">, header: string): Promise<never> {
  const reason = `refused: ${REFUSALS[check]}`;
  console.warn(`webhook ${facts.source} for project ${slug}: delivery ${facts.deliveryId ?? "(no id)"} ${reason}`);
  await recordDelivery(env, facts, "rejected", reason);
  throw new ApiError(401, "invalid_signature", `the delivery carries ${REFUSALS[check]}; sign the raw body with HMAC-SHA256 under the project's webhook secret and send it as \`${header}: sha256=<hex>\``);
}

/** Records a delivery that is authentic but unusable, then answers 400. */
async function invalid(env: Env, facts: DeliveryFacts, code: string, message: string): Promise<never> {
  await recordDelivery(env, facts, "failed", message);
  throw new ApiError(400, code, message);
}

async function currentPipelines(env: Env, projectId: string): Promise<{ name: string; on: Pipeline["on"] }[]> {
  const rows = await drizzle(env.DB)
    .select({ name: pipelines.name, definition: pipelineVersions.definition })
    .from(pipelines)
    .innerJoin(pipelineVersions, eq(pipelineVersions.id, pipelines.currentVersionId))
    .where(eq(pipelines.projectId, projectId))
    .orderBy(pipelines.name);
  return rows.map((r) => ({ name: r.name, on: (JSON.parse(r.definition) as Pipeline).on }));
}

/** GitHub sends JSON, or `payload=<json>` when the hook's content type is form-encoded. */
function githubPayload(body: Uint8Array, contentType: string | undefined): unknown {
  const text = new TextDecoder().decode(body);
  if (contentType?.startsWith("application/x-www-form-urlencoded")) {
    return JSON.parse(new URLSearchParams(text).get("payload") ?? "");
  }
  return JSON.parse(text);
}

const deliveryAnswers = {
  ...errors,
  401: errors[401],
  413: errors[413],
  429: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), "Too many deliveries for this project; see Retry-After."),
  503: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), "Starting the runs failed midway; redeliver to finish."),
};

webhookRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/webhooks/github/{project}",
    operationId: "receiveGithubWebhook",
    summary: "GitHub webhook: push, pull_request and ping",
    description:
      "Configure it in the repository's webhook settings with the project's webhook secret. `X-Hub-Signature-256` must be the HMAC-SHA256 of the raw body (401 otherwise, recorded, nothing started). A push to a branch starts the pipelines whose `on.push.branches` match it; a pull request opened, synchronized or reopened starts those whose `on.pull_request.branches` match its base branch, on the head branch and commit. Tag pushes, branch deletions and other events start nothing. A body already received (the same signed bytes, whatever its `X-GitHub-Delivery`) starts nothing again: 200 `duplicate`, with the runs the first copy started.",
    security: [],
    request: { params: z.object({ project: SLUG }) },
    responses: { 200: json(DeliveryView, "The delivery as recorded, with the runs it started."), ...deliveryAnswers },
  }),
  async (c) => {
    const { project: slug } = c.req.valid("param");
    const { project, secret, body } = await webhookContext(c.env, slug, c.req.raw);
    const event = c.req.header("x-github-event") ?? null;
    let facts: DeliveryFacts = { projectId: project.id, source: "github", deliveryId: c.req.header("x-github-delivery") ?? null, event };
    const check = await verifySignature(secret, body, c.req.header("x-hub-signature-256"));
    await spend(c.env, slug, check);
    if (check !== "ok") await refuse(c.env, facts, slug, check, "X-Hub-Signature-256");
    if (!event) await invalid(c.env, facts, "missing_event", "send the event name as `X-GitHub-Event`");
    if (!facts.deliveryId) await invalid(c.env, facts, "missing_delivery_id", "send the delivery's id as `X-GitHub-Delivery`: it is what keeps a delivery from starting runs twice");
    let payload: unknown;
    try {
      payload = githubPayload(body, c.req.header("content-type"));
    } catch {
      await invalid(c.env, facts, "malformed_json", "the delivery's body is not JSON (or a form with a JSON `payload`)");
    }
    const meaning = interpretGithubEvent(event!, payload);
    if (!meaning.ok) return await invalid(c.env, facts, "invalid_payload", meaning.message);
    facts = { ...facts, action: meaning.action, branch: meaning.branch, commit: meaning.commit };

    const e = meaning.event;
    let runs: PlannedRun[] = [];
    let ignoredReason: string;
    if (e.kind === "push" || e.kind === "pull_request") {
      const filter = e.kind === "push" ? ({ kind: "push", branch: e.branch } as const) : ({ kind: "pull_request", base: e.base } as const);
      const matched = matchingPipelines(await currentPipelines(c.env, project.id), filter);
      runs = matched.map((p) => ({ pipeline: p.name, runId: uuidv7(), ...(e.kind === "pull_request" && e.fromFork && { withSecrets: false }) }));
      ignoredReason =
        e.kind === "push"
          ? `no pipeline starts on a push to ${e.branch} (on.push.branches)`
          : `no pipeline starts on a pull request into ${e.base} (on.pull_request.branches)`;
    } else {
      ignoredReason = e.kind === "ping" ? "ping: the webhook reaches Yardmaster and its secret matches" : e.reason;
    }

    // Once per signed body: X-GitHub-Delivery is not signed, so a replay could pick a new one.
    const claim = await claimDelivery(c.env, facts, runs, ignoredReason, await bodyDedupeKey(body));
    let delivery = claim.delivery;
    if (claim.kind === "seen" && !isStalled(claim.delivery)) {
      const reason = `this body was received before (delivery ${claim.delivery.deliveryId}, recorded as ${claim.delivery.id}); nothing is started again`;
      return c.json(deliveryView(await recordDelivery(c.env, facts, "duplicate", reason, claim.delivery.runs)), 200);
    }
    if (delivery.status === "accepted") delivery = await startPlannedRuns(c.env, delivery, slug, new URL(c.req.url).origin);
    return c.json(deliveryView(delivery), 200);
  },
);

const ParamValue = z.union([z.string().max(10_000), z.number(), z.boolean()]).transform(String);
const GenericBody = z.strictObject({
  branch: z.string().min(1).max(255).optional(),
  commit: z.string().regex(/^[0-9A-Za-z._/-]{1,255}$/, "commit is a SHA or ref").optional(),
  params: z.record(NAME, ParamValue).optional(),
});

/** The generic webhook's proof: an HMAC signature, or the webhook secret itself as a bearer token. */
async function genericCheck(secret: string, body: Uint8Array, signature: string | undefined, authorization: string | undefined): Promise<SignatureCheck> {
  if (signature) return verifySignature(secret, body, signature);
  const bearer = bearerToken(authorization);
  if (!bearer) return authorization ? "malformed" : "missing";
  // Digests, so the comparison's time does not even depend on the lengths.
  return constantTimeEqual(await sha256Hex(bearer), await sha256Hex(secret)) ? "ok" : "mismatch";
}

webhookRoutes.openapi(
  createRoute({
    method: "post",
    path: "/api/v1/webhooks/generic/{project}/{pipeline}",
    operationId: "receiveGenericWebhook",
    summary: "Generic webhook: start a named pipeline",
    description:
      "Body (JSON, optional): `{branch?, commit?, params?}`. Authenticate with `X-Yardmaster-Signature-256: sha256=<HMAC-SHA256 of the raw body under the project's webhook secret>`, or with `Authorization: Bearer <the project's webhook secret>`. An optional `X-Yardmaster-Delivery` id makes retries safe: an id already seen starts nothing again.",
    security: [],
    request: { params: z.object({ project: SLUG, pipeline: NAME }) },
    responses: {
      201: json(z.object({ delivery: DeliveryView, run: z.object({ id: z.string(), number: z.number().int() }) }), "The run started."),
      200: json(
        z.object({ delivery: DeliveryView, run: z.object({ id: z.string(), number: z.number().int() }).nullable() }),
        "A delivery id seen before: nothing started; `run` is the run the first copy started.",
      ),
      ...deliveryAnswers,
    },
  }),
  async (c) => {
    const { project: slug, pipeline } = c.req.valid("param");
    const { project, secret, body } = await webhookContext(c.env, slug, c.req.raw);
    let facts: DeliveryFacts = { projectId: project.id, source: "generic", deliveryId: c.req.header("x-yardmaster-delivery") ?? null, event: "generic" };
    const check = await genericCheck(secret, body, c.req.header("x-yardmaster-signature-256"), c.req.header("authorization"));
    await spend(c.env, slug, check);
    if (check !== "ok") await refuse(c.env, facts, slug, check, "X-Yardmaster-Signature-256");
    if (facts.deliveryId !== null && !/^[A-Za-z0-9._:-]{1,200}$/.test(facts.deliveryId)) {
      await invalid(c.env, { ...facts, deliveryId: null }, "invalid_delivery_id", "X-Yardmaster-Delivery is 1–200 letters, digits, '.', '_', ':' or '-'");
    }
    let raw: unknown = {};
    const text = new TextDecoder().decode(body);
    if (text.trim() !== "") {
      try {
        raw = JSON.parse(text);
      } catch {
        await invalid(c.env, facts, "malformed_json", "the body is not valid JSON");
      }
    }
    const parsed = GenericBody.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      await invalid(c.env, facts, "invalid_request", `invalid body: ${issue.path.length ? `${issue.path.join(".")}: ` : ""}${issue.message}`);
    }
    const input = parsed.data!;
    facts = { ...facts, branch: input.branch ?? null, commit: input.commit ?? null };

    const claim = await claimDelivery(c.env, facts, [{ pipeline, runId: uuidv7(), params: input.params ?? {} }], null, facts.deliveryId);
    let delivery = claim.delivery;
    if (claim.kind === "seen" && !isStalled(claim.delivery)) {
      const reason = `delivery ${facts.deliveryId} was received before (recorded as ${claim.delivery.id}); nothing is started again`;
      const first = claim.delivery.runs[0];
      const run = first?.number !== undefined ? { id: first.runId, number: first.number } : null;
      return c.json({ delivery: deliveryView(await recordDelivery(c.env, facts, "duplicate", reason, claim.delivery.runs)), run }, 200);
    }
    if (delivery.status === "accepted") delivery = await startPlannedRuns(c.env, delivery, slug, new URL(c.req.url).origin);
    const run = delivery.runs[0]!;
    if (run.error) throw new ApiError(run.error.status as 400, run.error.code, run.error.message);
    return c.json({ delivery: deliveryView(delivery), run: { id: run.runId, number: run.number! } }, 201);
  },
);
