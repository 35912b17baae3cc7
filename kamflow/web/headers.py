"""Headers every answer carries, and a correct `Allow` on every 405.

- Content-Security-Policy: scripts only from this origin (no inline script, no eval; the
  templates keep their JavaScript in static/*.js), no plugins, no framing
  (frame-ancestors 'none'), forms post only here. Inline `style=""` attributes are allowed
  (style-src-attr: the adherence meters' widths), `<style>` elements are not. The API docs
  page (/api/docs, Swagger UI from its CDN) gets its own policy that allows that CDN and
  the one inline script FastAPI writes, by its hash.
- X-Frame-Options: DENY and X-Content-Type-Options: nosniff, for browsers without CSP 3;
  Referrer-Policy: same-origin (task and account URLs stay inside).
- A 405 lists in `Allow` every method of every route on that path: Starlette answers from
  the first route that matches the path, which may not be the only one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
               "style-src-attr 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CDN = "https://cdn.jsdelivr.net"
COMMON = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
          "Referrer-Policy": "same-origin"}


def docs_policy(app: FastAPI) -> str:
    """The policy of the Swagger UI page: its CDN and its one inline script, by hash."""
    page = get_swagger_ui_html(openapi_url=app.openapi_url or "", title=f"{app.title} - Swagger UI",
                               swagger_ui_parameters=app.swagger_ui_parameters)
    html = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(r"<script>(.*?)</script>", html, re.S))
    return (f"default-src 'self'; script-src 'self' {DOCS_CDN} {hashes}; "
            f"style-src 'self' {DOCS_CDN}; img-src 'self' data: https:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")


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
    docs = docs_policy(app)

    @app.middleware("http")
    async def secure(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                     ) -> Response:
        response = await call_next(request)
        policy = docs if request.url.path == app.docs_url else PAGE_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        for name, value in COMMON.items():
            response.headers.setdefault(name, value)
        if response.status_code == 405:
            methods = allowed_methods(app, request.url.path)
            if methods:
                response.headers["Allow"] = ", ".join(methods)
        return response
