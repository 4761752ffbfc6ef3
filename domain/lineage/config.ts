/**
 * Where lineage events go, read from the worker's vars: OPENLINEAGE_URL (the backend's base
 * URL; unset = lineage is off), OPENLINEAGE_ENDPOINT (default `api/v1/lineage`, resolved
 * against the base URL as a folder), OPENLINEAGE_API_KEY (sent as a bearer token) and
 * OPENLINEAGE_COMPRESSION (`gzip` or unset). A setting that makes no sense is reported, not
 * guessed at: nothing is sent until it is fixed.
 */

export const DEFAULT_ENDPOINT = "api/v1/lineage";

export interface LineageConfig {
  /** The full URL events are POSTed to. */
  endpoint: string;
  apiKey: string | null;
  compression: "gzip" | null;
}

export type LineageSettings =
  | { kind: "configured"; config: LineageConfig }
  | { kind: "not_configured" }
  | { kind: "invalid"; message: string };

export interface LineageVars {
  OPENLINEAGE_URL?: string;
  OPENLINEAGE_ENDPOINT?: string;
  OPENLINEAGE_API_KEY?: string;
  OPENLINEAGE_COMPRESSION?: string;
}

const blank = (v: string | undefined): v is undefined => v === undefined || v.trim() === "";

export function lineageSettings(vars: LineageVars): LineageSettings {
  if (blank(vars.OPENLINEAGE_URL)) return { kind: "not_configured" };
  let base: URL;
  try {
    base = new URL(vars.OPENLINEAGE_URL.trim());
  } catch {
    return { kind: "invalid", message: `OPENLINEAGE_URL is not a URL: ${vars.OPENLINEAGE_URL}` };
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    return { kind: "invalid", message: `OPENLINEAGE_URL must be http:// or https://, not ${base.protocol}` };
  }
  // The base is a folder: https://host/lineage + api/v1/lineage → https://host/lineage/api/v1/lineage.
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const path = blank(vars.OPENLINEAGE_ENDPOINT) ? DEFAULT_ENDPOINT : vars.OPENLINEAGE_ENDPOINT.trim();
  const endpoint = new URL(path, base);
  if (endpoint.origin !== base.origin) {
    return { kind: "invalid", message: `OPENLINEAGE_ENDPOINT must be a path on OPENLINEAGE_URL, not ${path}` };
  }
  const compression = (vars.OPENLINEAGE_COMPRESSION ?? "").trim().toLowerCase();
  if (compression !== "" && compression !== "gzip" && compression !== "none") {
    return { kind: "invalid", message: `OPENLINEAGE_COMPRESSION is gzip or none, not ${vars.OPENLINEAGE_COMPRESSION}` };
  }
  return {
    kind: "configured",
    config: {
      endpoint: endpoint.href,
      apiKey: blank(vars.OPENLINEAGE_API_KEY) ? null : vars.OPENLINEAGE_API_KEY.trim(),
      compression: compression === "gzip" ? "gzip" : null,
    },
  };
}

/** What to do with the backend's answer to one event. */
export type DeliveryOutcome = "sent" | "rejected" | "retry";

/**
 * 2xx: delivered. 408, 429 and 5xx: the backend is busy or down, try again later (in order, so
 * nothing behind it goes first). Any other status (a 4xx, or a redirect fetch did not follow)
 * will not change by sending the same bytes again: recorded and skipped.
 */
export function deliveryOutcome(status: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return "sent";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  return "rejected";
}
