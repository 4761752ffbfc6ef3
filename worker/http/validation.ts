/** Turns a zod validation failure into a 400 that says which field is wrong and why. */
import type { Hook } from "@hono/zod-openapi";
import { errorBody } from "./errors.ts";

// The hook is generic over every route.
export const validationHook: Hook<any, any, any, any> = (result, c) => {
  if (result.success) return;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join("."),
    message: issue.message,
  }));
  const where = result.target === "json" ? "body" : result.target;
  const first = issues[0];
  const message = first
    ? `invalid ${where}: ${first.path ? `${first.path}: ` : ""}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`
    : `invalid ${where}`;
  return c.json(errorBody("invalid_request", message, { issues }), 400);
};
