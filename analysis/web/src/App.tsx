// Layout and routes. Every page's state (filters, selected versions) is in its URL.
import { useEffect } from "react";
import { Link, Redirect, Route, Switch, useLocation } from "wouter";
import { type Health, useApi } from "./api";
import { CostPage } from "./pages/Cost";
import { DriftPage } from "./pages/Drift";
import { IngestPage } from "./pages/Ingest";
import { ModelsPage } from "./pages/Models";
import { PlaygroundPage } from "./pages/Playground";
import { RunPage } from "./pages/Run";
import { RunsPage } from "./pages/Runs";
import { TrendsPage } from "./pages/Trends";
import { VersionsPage } from "./pages/Versions";
import { useTheme } from "./theme";

const NAV = [
  ["/runs", "Runs"],
  ["/versions", "Versions"],
  ["/trends", "Trends"],
  ["/cost", "Cost"],
  ["/models", "Models"],
  ["/playground", "Playground"],
  ["/ingest", "Ingest"],
] as const;

export function App() {
  const [theme, toggle] = useTheme();
  const [location] = useLocation();
  const health = useApi<Health>("/health", {}, 10_000);
  useEffect(() => {
    const page = NAV.find(([href]) => location.startsWith(href))?.[1] ?? (location.startsWith("/diff") ? "Drift report" : "");
    document.title = page ? `${page} · Driftline` : "Driftline";
  }, [location]);
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/runs" className="brand">
          Driftline
        </Link>
        <nav aria-label="Pages">
          {NAV.map(([href, label]) => (
            <Link key={href} href={href} className={location.startsWith(href) ? "active" : ""} aria-current={location.startsWith(href) ? "page" : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <span className="spacer" />
        {health.data && (
          <span className="muted data-root" title="data root">
            {health.data.data}
          </span>
        )}
        <button
          type="button"
          className="theme-toggle"
          onClick={toggle}
          aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
          data-theme-now={theme}
        >
          {theme === "dark" ? "☀ Light" : "☾ Dark"}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Switch>
          <Route path="/">
            <Redirect to="/runs" replace />
          </Route>
          <Route path="/runs">
            <RunsPage health={health.data} />
          </Route>
          <Route path="/runs/:id">{(p) => <RunPage id={decodeURIComponent(p.id)} />}</Route>
          <Route path="/versions">
            <VersionsPage health={health.data} />
          </Route>
          <Route path="/diff">
            <DriftPage />
          </Route>
          <Route path="/trends">
            <TrendsPage />
          </Route>
          <Route path="/cost">
            <CostPage health={health.data} />
          </Route>
          <Route path="/models">
            <ModelsPage />
          </Route>
          <Route path="/playground">
            <PlaygroundPage />
          </Route>
          <Route path="/ingest">
            <IngestPage health={health.data} />
          </Route>
          <Route>
            <section>
              <h1>Not found</h1>
              <p>
                No page at <code>{location}</code>. <Link href="/runs">Go to the runs</Link>.
              </p>
            </section>
          </Route>
        </Switch>
      </main>
    </div>
  );
}
