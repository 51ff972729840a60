// Filters and selections live in the URL's query string, so any view can be shared or bookmarked.
import { useCallback, useMemo } from "react";
import { useLocation, useSearch } from "wouter";

export function useQueryState(): [URLSearchParams, (changes: Record<string, string | null | undefined>) => void] {
  const search = useSearch();
  const [path, navigate] = useLocation();
  const params = useMemo(() => new URLSearchParams(search), [search]);
  const set = useCallback(
    (changes: Record<string, string | null | undefined>) => {
      const next = new URLSearchParams(search);
      for (const [k, v] of Object.entries(changes)) {
        if (v === null || v === undefined || v === "") next.delete(k);
        else next.set(k, v);
      }
      const s = next.toString();
      navigate(s ? `${path}?${s}` : path, { replace: true });
    },
    [search, path, navigate],
  );
  return [params, set];
}
