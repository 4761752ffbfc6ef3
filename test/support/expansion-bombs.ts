/**
 * Pipeline files that are small but expand (YAML aliases resolved) to far more than the
 * parser may take (issue 13, item 6). Each stays within yaml's own per-anchor alias count, so
 * only the expanded-size limit (PIPELINE_DEFAULTS.maxExpandedSize) can refuse it.
 */

/** Wide: ten job anchors of 200 literal steps, each aliased 99 times — 1,000 jobs × 200 steps (~40 MB normalised) from ~120 KB. */
export function wideJobsBomb(): string {
  let text = "jobs:\n";
  for (let a = 0; a < 10; a++) {
    const steps = Array.from({ length: 200 }, (_, i) => `{ run: "${`${a}-${i}`.padEnd(40, "x")}" }`).join(", ");
    text += `  j${a}: &j${a} { runs-on: [linux], steps: [${steps}] }\n`;
  }
  for (let j = 10; j < 1000; j++) text += `  j${j}: *j${j % 10}\n`;
  return text;
}

/** Long values: one 200 KiB string aliased into 99 steps' env — ~20 MB from ~200 KB. */
export function longValueBomb(): string {
  let text = `jobs:\n  a:\n    runs-on: [linux]\n    steps:\n      - { run: echo, env: { V: &big "${"y".repeat(200 * 1024)}" } }\n`;
  for (let i = 0; i < 98; i++) text += "      - { run: echo, env: { V: *big } }\n";
  return text;
}

/** Deep: a step list anchored once and reused by a chain of job anchors (within the alias count). */
export function reusedStepsBomb(): string {
  const steps = Array.from({ length: 200 }, (_, i) => `{ run: "${String(i).padEnd(60, "z")}" }`).join(", ");
  let text = `jobs:\n  j0: { runs-on: [linux], steps: &s [${steps}] }\n`;
  for (let j = 1; j < 100; j++) text += `  j${j}: { runs-on: [linux], steps: *s }\n`;
  return text;
}
