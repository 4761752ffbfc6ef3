/** Assertions shared by the lineage Node tests. */
import { expect } from "vitest";
import type { RunEvent } from "../../../domain/lineage/index.ts";
import { runCycleViolations, validateEvent } from "../../support/openlineage.ts";

/** Every event valid against the official schemas (facets included), every run cycle sound. */
export function expectSound(events: readonly RunEvent[], finished = true): void {
  const invalid = events.flatMap((e, i) => validateEvent(e).map((error) => `#${i} ${e.eventType} ${e.job.name}: ${error}`));
  expect(invalid).toEqual([]);
  expect(runCycleViolations(events, finished)).toEqual([]);
}
