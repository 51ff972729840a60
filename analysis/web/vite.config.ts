// The console is built into the Python package (analysis/api/static) so the wheel carries it and
// `driftline ui` serves it from the same origin as /api/v1 — no CORS, no CDN, nothing fetched at run time.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../api/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run dev` next to `driftline ui --port 8000` for hot reload while working on the console
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
