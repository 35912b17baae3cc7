"""The web app: `create_app(database_url=None, clock=None) -> FastAPI`.

    from kamflow.web.app import create_app
    app = create_app()                      # KAMFLOW_DATABASE_URL, the system clock
    app = create_app(url, FixedClock(at))   # tests

It mounts the REST API under /api (OpenAPI document at /api/openapi.json, docs at
/api/docs: Swagger UI served from kamflow/web/static/swagger, so they work offline), the
calendar feeds under /cal, and /healthz and /metrics. The pages (Jinja2 +
htmx) are another router on the same app: `app.include_router(pages.router)`; their routes
take `kamflow.web.deps.current_user` / `optional_user` like the API's, read the database and
clock with `kamflow.web.deps.context(request)`, and raise the same errors (JSON error
handlers are installed app-wide by kamflow.web.errors.install; a page that wants HTML
errors catches them itself). State lives on `app.state.kamflow` (a `WebContext`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from kamflow.database import connect as db_for
from kamflow.engine.clock import Clock
from kamflow.settings import Settings
from kamflow.web import api, calendar, errors, headers, ops, pages
from kamflow.web.deps import WebContext

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]
DOCS_URL = "/api/docs"
SWAGGER = "/static/swagger"
DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>kamflow API</title>
  <link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{SWAGGER}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/api/openapi.json"></div>
  <script src="{SWAGGER}/swagger-ui-bundle.js"></script>
  <script src="{SWAGGER}/init.js"></script>
</body>
</html>
"""


def api_docs() -> HTMLResponse:
    """Swagger UI from this package (no CDN, no inline script: the page policy holds)."""
    return HTMLResponse(DOCS_PAGE)


def create_app(database_url: str | None = None, clock: Clock | None = None,
               settings: Settings | None = None, lifespan: Lifespan | None = None) -> FastAPI:
    """`lifespan`: what runs around serving (`kamflow serve` runs the scheduler in it)."""
    from kamflow.clock import SystemClock

    settings = settings or Settings()
    ctx = WebContext(db_for(database_url or settings.database_url), clock or SystemClock(),
                     settings)
    app = FastAPI(
        title="kamflow",
        summary="A process engine for key account management: accounts, tasks, playbooks, audit.",
        version="0.1.0",
        openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
        swagger_ui_oauth2_redirect_url=None, lifespan=lifespan,
    )
    app.state.kamflow = ctx
    app.state.requests = ops.RequestCounter()
    errors.install(app)
    app.include_router(api.router)
    app.include_router(calendar.router)
    app.include_router(ops.router)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    app.add_api_route(DOCS_URL, api_docs, methods=["GET"], include_in_schema=False,
                      response_class=HTMLResponse)
    headers.install(app)  # CSP, nosniff, no framing; a full Allow on every 405

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                    ) -> Response:
        response = await call_next(request)
        app.state.requests.add(request.method, response.status_code)
        return response

    return app
