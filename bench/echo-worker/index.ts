/**
 * A raw WebSocket echo in a plain Worker: every message goes straight back to its sender. The
 * log benchmark (bench/logs.ts) measures it as the floor of what a byte costs going through
 * workerd to a WebSocket and out again on this machine, with no Durable Object, storage or
 * batching in the way. `GET /health` answers so the harness can wait for it.
 */
export default {
  fetch(request: Request): Response {
    if (new URL(request.url).pathname === "/health") return new Response("ok");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("WebSocket only", { status: 426 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    server.accept();
    server.addEventListener("message", (event) => server.send(event.data));
    server.addEventListener("close", (event) => server.close(event.code === 1005 ? 1000 : event.code, "bye"));
    return new Response(null, { status: 101, webSocket: client });
  },
};
