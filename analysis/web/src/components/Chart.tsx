// A thin React wrapper around Chart.js: the page passes a config builder; the chart is rebuilt when
// the data or the theme changes (the builder reads theme colours at build time).
import { Chart as ChartJS, type ChartConfiguration, registerables } from "chart.js";
import { useEffect, useRef, useState } from "react";

ChartJS.register(...registerables);

export function Chart({
  build,
  deps,
  height = 220,
  label,
}: {
  build: () => ChartConfiguration;
  deps: unknown[];
  height?: number;
  label: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [themeTick, setThemeTick] = useState(0);
  useEffect(() => {
    const on = () => setThemeTick((n) => n + 1);
    window.addEventListener("driftline-theme", on);
    return () => window.removeEventListener("driftline-theme", on);
  }, []);
  useEffect(() => {
    if (!canvas.current) return;
    const config = build();
    config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...config.options };
    const chart = new ChartJS(canvas.current, config);
    return () => chart.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, themeTick]);
  return (
    <div className="chart" style={{ height }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
