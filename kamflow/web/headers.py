"""Headers every answer carries, and a correct `Allow` on every 405.

- Content-Security-Policy: scripts only from this origin (no inline script, no eval; the
  templates keep their JavaScript in static/*.js), no plugins, no framing
  (frame-ancestors 'none'), forms post only here. Inline `style=""` attributes are allowed
  (style-src-attr: the adherence meters' widths), `<style>` elements are not. The API docs
  (/api/docs) live under the same policy: Swagger UI is served from /static/swagger and
  started by a script file there, not an inline one.
- X-Frame-Options: DENY and X-Content-Type-Options: nosniff, for browsers without CSP 3;
  Referrer-Policy: same-origin (task and account URLs stay inside).
- A 405 lists in `Allow` every method of every route on that path: Starlette answers from
  the first route that matches the path, which may not be the only one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
               "style-src-attr 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
COMMON = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
          "Referrer-Policy": "same-origin"}


def _leaf_routes(app: FastAPI) -> Iterator[Any]:
    """Every route with a path and methods, through included routers (FastAPI keeps those
    as one entry each, expanded by effective_route_contexts)."""
    for route in app.router.routes:
        expand = getattr(route, "effective_route_contexts", None)
        yield from (expand() if expand is not None else (route,))


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in _leaf_routes(app):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def secure(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                     ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        for name, value in COMMON.items():
            response.headers.setdefault(name, value)
        if response.status_code == 405:
            methods = allowed_methods(app, request.url.path)
            if methods:
                response.headers["Allow"] = ", ".join(methods)
        return response
