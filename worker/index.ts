/** The worker's entry point: the Hono app, and the Durable Object classes it binds. */
import { createApp } from "./app";

export { RunObject } from "../durable-objects/run-object";
export { DispatcherObject } from "../durable-objects/dispatcher";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<import("./env").Env>;
