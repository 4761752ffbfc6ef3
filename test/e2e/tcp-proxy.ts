/**
 * A TCP proxy on 127.0.0.1 between agents and `wrangler dev`, to cut the network under them.
 * `cut()` resets every live connection (both sides, so the server sees the client go too) and
 * resets each new one at once until `restore()`: to the agent it looks like a dropped link —
 * requests in flight fail midway, their answers are lost, reconnects are refused.
 */
import { createServer, type Server, type Socket, connect } from "node:net";

export interface TcpProxy {
  /** The proxy's origin, to give agents instead of the control plane's. */
  url: string;
  cut(): void;
  restore(): void;
  /** Connections reset by the proxy so far (live ones at a cut, and refused ones during it). */
  resets(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const live = new Set<Socket>();
  let down = false;
  let resets = 0;

  const server: Server = createServer((client) => {
    if (down) {
      resets += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    live.add(client);
    live.add(upstream);
    const drop = () => {
      live.delete(client);
      live.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const socket of live) {
        resets += 1;
        // An RST, not a FIN: the request in flight is broken, not politely ended.
        if (socket.readyState === "opening") socket.destroy();
        else socket.resetAndDestroy();
      }
      live.clear();
    },
    restore() {
      down = false;
    },
    resets: () => resets,
    async close() {
      for (const socket of live) socket.destroy();
      live.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
