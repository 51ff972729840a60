// Light/dark theme: the choice is remembered in localStorage; until one is made, the OS preference wins.
import { useEffect, useState } from "react";

export type Theme = "light" | "dark";
const KEY = "driftline.theme";

export function currentTheme(): Theme {
  return document.documentElement.dataset.theme === "dark" ? "dark" : "light";
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(currentTheme());
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    window.dispatchEvent(new Event("driftline-theme"));
  }, [theme]);
  const toggle = () =>
    setTheme((t) => {
      const next = t === "dark" ? "light" : "dark";
      localStorage.setItem(KEY, next);
      return next;
    });
  return [theme, toggle];
}

/** Colours for charts, read from the CSS variables so charts follow the theme. */
export function palette(): Record<string, string> {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return {
    text: v("--text"),
    muted: v("--muted"),
    grid: v("--border"),
    baseline: v("--baseline"),
    candidate: v("--candidate"),
    stable: v("--stable"),
    review: v("--review"),
    block: v("--block"),
  };
}

export const SERIES = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
