/** The queue registry (issue 14, docs/architecture.md "Queues"): one endpoint per file. */
import { router } from "../common.ts";
import { createQueueRoute } from "./create.ts";
import { deleteQueueRoute } from "./delete.ts";
import { queueMetricsRoute } from "./metrics.ts";
import { readQueueRoutes } from "./read.ts";
import { updateQueueRoute } from "./update.ts";

export const queueRegistryRoutes = router();
for (const routes of [createQueueRoute, readQueueRoutes, updateQueueRoute, deleteQueueRoute, queueMetricsRoute]) {
  queueRegistryRoutes.route("/", routes);
}
