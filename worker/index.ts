import { Hono } from "hono";
export { RunObject } from "../durable-objects/run-object";
export { DispatcherObject } from "../durable-objects/dispatcher-object";
const app = new Hono();
app.get("/api/health", (c) => c.json({ ok: true }));
export default app;
