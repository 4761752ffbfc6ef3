/** Light, dark or the system's choice; kept in localStorage (the theme only — never a token). */
import { useEffect, useState } from "preact/hooks";

export type Theme = "system" | "light" | "dark";

function read(): Theme {
  try {
    const t = localStorage.getItem("ym-theme");
    return t === "light" || t === "dark" ? t : "system";
  } catch {
    return "system";
  }
}

export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(read);
  useEffect(() => {
    const root = document.documentElement;
    if (theme === "system") delete root.dataset.theme;
    else root.dataset.theme = theme;
    try {
      if (theme === "system") localStorage.removeItem("ym-theme");
      else localStorage.setItem("ym-theme", theme);
    } catch {
      // storage disabled: the choice lasts for this page only
    }
  }, [theme]);
  return [theme, setTheme];
}
