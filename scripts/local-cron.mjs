// Cron Triggers for `npm start`. Deployed, Cloudflare calls the worker's `scheduled` handler
// every minute (wrangler.jsonc `triggers.crons`); `wrangler dev` never does, it only offers
// GET /cdn-cgi/local/scheduled to call it by hand. This ticker calls that URL on the same
// cadence, so `on: schedule` pipelines fire locally through the same handler and the same
// code (worker/services/scheduler.ts) as deployed.
//
// YM_LOCAL_CRON_SECONDS sets the period (default 60, as deployed; the tests use a few seconds:
// a tick finds nothing due between slots, exactly as the deployed minute tick would).

/** The crons wrangler.jsonc declares (`triggers.crons`), read from the file: written once. */
export function declaredCrons(wranglerJsonc) {
  const list = /"crons"\s*:\s*\[([^\]]*)\]/.exec(wranglerJsonc)?.[1] ?? "";
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

/**
 * Calls `${url}/cdn-cgi/local/scheduled` (with `cron`, as Cloudflare passes it) every `periodMs`
 * until `stop()`. Waits for wrangler dev
 * to answer first; a failed tick (wrangler dev reloading after an edit) is reported and the
 * next one tried.
 */
export function startLocalCron({ url, cron, periodMs, log = console.log, warn = console.warn }) {
  let timer;
  let stopped = false;
  let failing = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const res = await fetch(`${url}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}`);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      if (failing) log("local cron: ticking again");
      failing = false;
    } catch (error) {
      if (!failing) warn(`local cron: the scheduled handler did not answer (${error.message}); trying again every ${periodMs / 1000} s`);
      failing = true;
    }
    if (!stopped) timer = setTimeout(tick, periodMs);
  };
  const waitUntilUp = async () => {
    while (!stopped) {
      const up = await fetch(`${url}/api/health`).then((r) => r.ok, () => false);
      if (up) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (stopped) return;
    log(`local cron: calling the scheduled handler every ${periodMs / 1000} s (deployed: Cloudflare's Cron Trigger)`);
    await tick();
  };
  void waitUntilUp();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** YM_LOCAL_CRON_SECONDS as milliseconds (default one minute). */
export function localCronPeriodMs(env) {
  const text = env.YM_LOCAL_CRON_SECONDS;
  if (text === undefined || text.trim() === "") return 60_000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {
    throw new Error(`YM_LOCAL_CRON_SECONDS: "${text}" is not a number of seconds from 1 to 3600`);
  }
  return seconds * 1000;
}
