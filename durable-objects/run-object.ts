import { DurableObject } from "cloudflare:workers";
export class RunObject extends DurableObject {
  async ping() { return "pong"; }
}
