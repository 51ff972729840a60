"""Serve the built web console (``analysis/web`` → ``analysis/api/static``) from the API's process.

Why here and not a separate web server: one origin for the pages and ``/api/v1`` means no CORS and
one port to open. Every path that is not the API or its docs returns ``index.html`` so the console's
own URLs (``/runs/<id>``, ``/diff?baseline=…``) can be shared and reloaded. The static files hold no
data, so they are served without the bearer token; the API calls they make carry it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
RESERVED = ("api/", "docs", "redoc", "openapi.json")

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Driftline</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 720px; margin: 40px auto">
<h1>Driftline</h1>
<p>The REST API is running (<a href="/docs">/docs</a>, <a href="/api/v1/health">/api/v1/health</a>), but the web
console was not built into this installation.</p>
<p>From a source checkout: <code>make console</code> (runs <code>npm ci &amp;&amp; npm run build</code> in
<code>analysis/web</code>), then restart <code>driftline ui</code>.
Wheels built with <code>make wheel</code> carry it.</p>
</body></html>"""


def built(static: Path = STATIC) -> bool:
    return (static / "index.html").is_file()


def mount_console(app: FastAPI, static: Path = STATIC) -> None:
    if (static / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=static / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    def console(path: str) -> FileResponse | HTMLResponse:
        if path.startswith(RESERVED):
            raise HTTPException(404, detail=f"no endpoint /{path}")
        if not built(static):
            return HTMLResponse(NOT_BUILT)
        file = (static / path).resolve()
        if path and file.is_file() and file.is_relative_to(static.resolve()):
            return FileResponse(file)
        # index.html must not be cached: it names the hashed asset files of the current build
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})
