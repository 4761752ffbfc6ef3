/** OpenLineage for Yardmaster (docs/lineage.md): pure event building, run cycle, settings. */
export * from "./types.ts";
export * from "./producer.ts";
export { lineageEvents, eventTypeOf, type LineageBatch, type LineageInput } from "./events.ts";
export { enforceRunCycle, type CycleLookup, type CycleState } from "./run-cycle.ts";
export { logTail, LOG_TAIL_BYTES, LOG_TAIL_LINES } from "./log-tail.ts";
export { lineageSettings, deliveryOutcome, DEFAULT_ENDPOINT, type LineageConfig, type LineageSettings, type LineageVars, type DeliveryOutcome } from "./config.ts";
export { repositoryUri } from "./facets.ts";
export { LineageDeliveryState, LineageEventView, LineageDeliveryView, LineageListView } from "./views.ts";
