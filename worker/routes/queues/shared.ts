/** What the queue registry's routes share: the view of a row, the path param, the request bodies. */
import { z } from "@hono/zod-openapi";
import type { QueueView } from "../../../domain/views.ts";
import type { QueueRow } from "../../services/queues.ts";
import { QUEUE_NAME, SLUG } from "../common.ts";
import { isoTime } from "../../../domain/time.ts";


export const queueView = (row: QueueRow): QueueView => ({
  name: row.name,
  projects: row.projects,
  description: row.description,
  createdAt: isoTime(row.createdAt),
  updatedAt: isoTime(row.updatedAt),
});

export const QueueParam = z.object({ name: QUEUE_NAME });

const Projects = z
  .array(SLUG)
  .min(1, "list at least one project, or give null for every project")
  .max(1000)
  .nullable()
  .describe("the project slugs allowed to send jobs to the queue; null = every project");
const Description = z.string().max(500);

export const CreateQueue = z.object({ name: QUEUE_NAME, projects: Projects.optional(), description: Description.optional() });
export const UpdateQueue = z
  .object({ projects: Projects.optional(), description: Description.optional() })
  .refine((b) => b.projects !== undefined || b.description !== undefined, "give `projects` or `description` to change");
