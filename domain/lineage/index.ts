/** OpenLineage for Yardmaster (docs/lineage.md): pure event building, run cycle, settings. */
export * from "./types";
export * from "./producer";
export { lineageEvents, eventTypeOf, type LineageBatch, type LineageInput } from "./events";
export { enforceRunCycle, type CycleLookup, type CycleState } from "./run-cycle";
export { logTail, LOG_TAIL_BYTES, LOG_TAIL_LINES } from "./log-tail";
export { lineageSettings, deliveryOutcome, DEFAULT_ENDPOINT, type LineageConfig, type LineageSettings, type LineageVars, type DeliveryOutcome } from "./config";
export { repositoryUri } from "./facets";
export { LineageDeliveryState, LineageEventView, LineageDeliveryView, LineageListView } from "./api";
