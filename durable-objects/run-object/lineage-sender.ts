/**
 * One POST of one OpenLineage event to the configured backend, the way OpenLineage's own HTTP
 * transport does it: JSON body, `Authorization: Bearer <api key>` when one is set, gzip when
 * asked for. Never throws: every way it can end is an outcome the outbox records.
 */
import { deliveryOutcome, type DeliveryOutcome, type LineageConfig, YARDMASTER_VERSION } from "../../domain/lineage/index.ts";

/** A backend that does not answer within this time counts as down (retried later). */
export const SEND_TIMEOUT_MS = 10_000;
/** How much of a refusal's answer is kept (enough for an error message, not a whole page). */
export const ERROR_EXCERPT_CHARS = 500;

export type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

export interface SendResult {
  outcome: DeliveryOutcome;
  httpStatus: number | null;
  /** Why it was not delivered: an excerpt of the answer, or the network error. */
  error: string | null;
}

async function gzip(text: string): Promise<ArrayBuffer> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

/** The start of a response body as text, reading no more than needed. */
async function excerpt(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < ERROR_EXCERPT_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text.length > ERROR_EXCERPT_CHARS ? `${text.slice(0, ERROR_EXCERPT_CHARS)}…` : text;
}

export async function sendEvent(config: LineageConfig, body: string, fetcher: Fetcher): Promise<SendResult> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": `yardmaster/${YARDMASTER_VERSION}`,
  };
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  let payload: BodyInit = body;
  if (config.compression === "gzip") {
    payload = await gzip(body);
    headers["content-encoding"] = "gzip";
  }
  let response: Response;
  try {
    response = await fetcher(config.endpoint, { method: "POST", headers, body: payload, signal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { outcome: "retry", httpStatus: null, error: message.slice(0, ERROR_EXCERPT_CHARS) };
  }
  const outcome = deliveryOutcome(response.status);
  if (outcome === "sent") {
    await response.body?.cancel().catch(() => {});
    return { outcome, httpStatus: response.status, error: null };
  }
  const text = await excerpt(response).catch((e: unknown) => String(e));
  return { outcome, httpStatus: response.status, error: `HTTP ${response.status}${text ? `: ${text}` : ""}` };
}
