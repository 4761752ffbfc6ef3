/**
 * The HTTP side of a live stream's upgrade inside a Durable Object: what the worker forwards
 * (the caller's visible projects in a header, `?since=`) and the JSON errors answered instead
 * of a 101. The objects are reachable only through the worker, so the header is trusted.
 */

/** Header the worker sets: a JSON array of the project slugs the caller may see, or `*` for all. */
export const LIVE_PROJECTS_HEADER = "x-yardmaster-projects";

export function jsonError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

export const upgradeRequired = () => jsonError(426, "upgrade_required", "connect with a WebSocket (`Upgrade: websocket`)");

/** The projects the caller may see (null = all), from the worker's header. */
export function visibleProjects(request: Request): string[] | null | "invalid" {
  const header = request.headers.get(LIVE_PROJECTS_HEADER);
  if (header === "*") return null;
  try {
    const projects = JSON.parse(header ?? "") as unknown;
    return Array.isArray(projects) && projects.every((p) => typeof p === "string") ? projects : "invalid";
  } catch {
    return "invalid";
  }
}

/** `?since=`: null when absent, a Response (400) when it is not a seq the feed has reached. */
export function parseSince(request: Request, head: number, feed: string): number | null | Response {
  const param = new URL(request.url).searchParams.get("since");
  if (param === null) return null;
  const since = Number(param);
  if (param === "" || !Number.isSafeInteger(since) || since < 0) {
    return jsonError(400, "invalid_since", "`since` is the `seq` of the last event you received: an integer ≥ 0");
  }
  if (since > head) {
    return jsonError(400, "since_ahead", `${feed} feed ends at seq ${head}; you asked to resume after ${since}: reconnect without since`);
  }
  return since;
}
