/**
 * A Durable Object that serves a live WebSocket stream (Hibernation API): the platform's
 * handlers — the upgrade request and the three socket events — written once here, handed to the
 * object's stream (after partyserver's Server: the platform in a base class, the object's own
 * logic behind a hook). The objects pass their sockets nowhere else, so these four cover them.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../platform/env.ts";

/** What an object's live stream offers the platform handlers. */
export interface LiveStream {
  /** Answers an upgrade request: a 101 with the socket accepted, or a JSON error instead. */
  fetch(request: Request): Response | Promise<Response>;
  readonly fanout: {
    message(ws: WebSocket, data: string | ArrayBuffer): void;
    closed(ws: WebSocket, code?: number, reason?: string): void;
  };
}

export abstract class LiveObject extends DurableObject<Env> {
  /** The object's live stream; set in the subclass's constructor. */
  protected abstract readonly stream: LiveStream;

  override async fetch(request: Request): Promise<Response> {
    return this.stream.fetch(request);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.stream.fanout.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.stream.fanout.closed(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.stream.fanout.closed(ws);
  }
}
