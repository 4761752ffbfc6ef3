/** Cycles system → light → dark. */
import { useTheme, type Theme } from "../hooks/use-theme.ts";

const NEXT: Record<Theme, Theme> = { system: "light", light: "dark", dark: "system" };
const ICON: Record<Theme, string> = { system: "◐", light: "☀", dark: "☾" };

export function ThemeToggle() {
  const [theme, setTheme] = useTheme();
  return (
    <button
      type="button"
      class="btn btn-ghost btn-sm theme-toggle"
      onClick={() => setTheme(NEXT[theme])}
      title={`Theme: ${theme} (click for ${NEXT[theme]})`}
      aria-label={`Theme: ${theme}. Switch to ${NEXT[theme]}`}
    >
      <span aria-hidden="true">{ICON[theme]}</span>
    </button>
  );
}
