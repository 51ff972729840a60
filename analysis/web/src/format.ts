// Number and time formatting shared by every page (one place decides how a cost or a latency reads).

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (v >= 60_000) return `${(v / 60_000).toFixed(1)} min`;
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
}

export function usd(v: number | null | undefined, digits?: number): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const d = digits ?? (Math.abs(v) >= 1 ? 2 : Math.abs(v) >= 0.01 ? 4 : 6);
  return `$${v.toFixed(d)}`;
}

export function int(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return Math.round(v).toLocaleString("en-US");
}

export function pct(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  return `${(v * 100).toFixed(digits)}%`;
}

export function signed(v: number, text: string): string {
  return `${v > 0 ? "+" : ""}${text}`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export function short(id: string, n = 8): string {
  return id.length > n ? id.slice(0, n) : id;
}

/** A dimension's effect as the CLI prints it: percentage points for rates, % for shifts. */
export function effect(name: string, value: number | null, unit = ""): string {
  if (value === null) return "—";
  if (name === "rate_difference") return signed(value, `${(value * 100).toFixed(1)} pp`);
  if (name.endsWith("_shift")) return signed(value, `${(value * 100).toFixed(1)}%`);
  if (name === "wasserstein_sd") return `Wasserstein ${value.toFixed(3)} SD`;
  if (name === "mean_shift_sd") return signed(value, `${value.toFixed(3)} SD`);
  if (name === "centroid_cosine_distance") return `cosine distance ${value.toFixed(3)}`;
  return signed(value, `${value.toFixed(2)}${unit ? ` ${unit}` : ""}`);
}
