/** A small client for the worker's API inside workerd tests (real worker, real bindings). */
import { env, exports } from "cloudflare:workers";
import { createApp } from "../../worker/app.ts";
import { readReply } from "../support/reply.ts";

export const ADMIN = "test-admin-token";

/**
 * A "token" that starts with this is a person behind Cloudflare Access: the rest is sent as the
 * `Cf-Access-Jwt-Assertion`, to the app with the Access vars of `useAccessVars` (access-helpers.ts),
 * so route tables test people and tokens alike.
 */
export const ASSERTION_PREFIX = "access-assertion:";
let accessVars: Record<string, string> | null = null;
let accessApp: ReturnType<typeof createApp> | null = null;
export function useAccessVars(vars: Record<string, string>) {
  accessVars = vars;
}

export async function api(method: string, path: string, options: { body?: unknown; token?: string | null; raw?: BodyInit; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? ADMIN : options.token;
  const person = token?.startsWith(ASSERTION_PREFIX) ? token.slice(ASSERTION_PREFIX.length) : null;
  if (person !== null) headers["cf-access-jwt-assertion"] = person;
  else if (token) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  if (person !== null) {
    if (!accessVars) throw new Error("useAccessVars(...) first");
    accessApp ??= createApp();
    return readReply(await accessApp.request(`http://yardmaster.test${path}`, { method, headers, body }, { ...env, ...accessVars }));
  }
  return readReply(await exports.default.fetch(`http://yardmaster.test${path}`, { method, headers, body }));
}

export const PIPELINE = `name: build
jobs:
  test:
    runs-on: [linux]
    steps:
      - id: install
        run: echo install
      - id: unit
        needs: [install]
        run: echo unit
  deploy:
    needs: [test]
    runs-on: [linux]
    steps:
      - run: echo deploy
`;

/** Creates a project and stores PIPELINE as its pipeline `build`. */
export async function projectWithPipeline(slug: string, pipeline = PIPELINE) {
  const project = await api("POST", "/api/v1/projects", { body: { slug } });
  if (project.status !== 201) throw new Error(`project: ${project.status} ${project.text}`);
  const stored = await api("PUT", `/api/v1/projects/${slug}/pipelines/build`, { raw: pipeline, headers: { "content-type": "text/plain" } });
  if (stored.status !== 201) throw new Error(`pipeline: ${stored.status} ${stored.text}`);
  return { project: project.json, pipeline: stored.json };
}
