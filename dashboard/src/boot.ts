// Runs before the first paint (a small classic script in <head>, before the app's module has
// even downloaded):
// 1. applies the theme the person chose with the toggle, so a dark page never flashes light
//    ("system" follows the OS);
// 2. on a run's page, asks for the run at once (api/prefetch.ts hands the answer to the app),
//    so the request overlaps the app's download instead of following it.
try {
  const theme = localStorage.getItem("ym-theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // storage disabled: follow the system
}

const run = /^\/runs\/([0-9a-f-]{36})\/?$/.exec(location.pathname);
if (run) {
  const path = `/api/v1/runs/${run[1]}`;
  (window as unknown as { __ymPrefetch?: Record<string, Promise<Response>> }).__ymPrefetch = {
    [path]: fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } }),
  };
}
