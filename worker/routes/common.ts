/** Pieces every route module uses: the router type, error responses, shared params. */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import { ErrorBody } from "../../domain/views.ts";
import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE } from "../../domain/queues.ts";
import type { AppEnv } from "../auth/authenticate.ts";
import { validationHook } from "../http/validation.ts";

export const router = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

export const SLUG = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a slug is 1–63 lowercase letters, digits or '-', starting with a letter or digit");
export const NAME = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "a name is 1–100 letters, digits, '_', '.' or '-', starting with a letter or digit");
export const QUEUE_NAME = z.string().regex(QUEUE_NAME_PATTERN, QUEUE_NAME_RULE);
export const ID = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "an id is a UUID");

const error = (description: string) => ({ description, content: { "application/json": { schema: ErrorBody } } });

/** The error responses a route may give, for the OpenAPI document. */
export const errors = {
  400: error("The request is malformed or invalid; `details` says where."),
  401: error("No token, or an unknown, revoked or expired one."),
  403: error("The token lacks the scope or project needed."),
  404: error("Not found."),
  409: error("The request conflicts with the current state."),
  413: error("The body is larger than its limit."),
  415: error("The body's content type is not accepted."),
} as const;

export const security = [{ bearerAuth: [] }];

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}
