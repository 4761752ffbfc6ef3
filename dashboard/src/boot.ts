// Runs before the first paint (a classic, blocking script): applies the theme the person
// chose with the toggle, so a dark page never flashes light. "system" follows the OS.
try {
  const theme = localStorage.getItem("ym-theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // storage disabled: follow the system
}
