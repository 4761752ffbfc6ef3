/**
 * Which run a thing belongs to, as both the public API (domain/views.ts) and the agent protocol
 * (domain/protocol.ts) name it: one shape, so the two cannot drift apart.
 */
import { z } from "zod";

export const RunRef = z.object({
  id: z.string(),
  number: z.number().int(),
  project: z.string(),
  pipeline: z.string(),
  branch: z.string().nullable(),
  commit: z.string().nullable(),
});
