import { DurableObject } from "cloudflare:workers";
export class DispatcherObject extends DurableObject {
  async ping() { return "pong"; }
}
