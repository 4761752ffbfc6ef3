/**
 * The control plane a test file shares: started before its tests, with the file's project
 * created, and stopped with every agent after them, so that no file leaves a `wrangler dev`
 * or an agent behind for the next. (Not in harness.ts: the benchmarks load that outside vitest.)
 */
import { afterAll, beforeAll, expect } from "vitest";
import { type ControlPlane, type ControlPlaneOptions, startControlPlane, stopAll } from "./harness.ts";

export function controlPlaneForFile(setup: {
  project: string;
  options?: ControlPlaneOptions;
  /** Receives the control plane once the project exists (the file keeps it, starts what else it needs). */
  started: (cp: ControlPlane) => void | Promise<void>;
  /** Closes what the file started itself, after the agents and before the control plane. */
  stopping?: () => void | Promise<void>;
}): void {
  let cp: ControlPlane | undefined;
  beforeAll(async () => {
    cp = await startControlPlane(setup.options);
    expect((await cp.api("POST", "/api/v1/projects", { slug: setup.project })).status).toBe(201);
    await setup.started(cp);
  });
  afterAll(async () => {
    await stopAll();
    await setup.stopping?.();
    await cp?.stop();
  });
}

/** A job `print` on `label` that prints "line <n>" for `seconds` with `pause` between lines, then outputs total=<n>. */
export const linePrinter = (name: string, label: string, seconds: number, pause: string) => `name: ${name}
jobs:
  print:
    runs-on: [${label}]
    steps:
      - id: lines
        run: |
          i=0; end=$((SECONDS + ${seconds}))
          while [ $SECONDS -lt $end ]; do i=$((i + 1)); echo "line $i"; sleep ${pause}; done
          echo "total=$i" >> "$YM_OUTPUT"
`;
