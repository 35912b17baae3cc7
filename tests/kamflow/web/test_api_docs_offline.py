"""/api/docs works on a machine without internet: Swagger UI comes from the package
(kamflow/web/static/swagger), under the same Content-Security-Policy as every page.

The browser (Chromium, with the launch fixtures of test_pages_browser) gets every request
that does not go to the server aborted, and must still render the operations of the
OpenAPI document, without one CSP violation or script error. The docs need no data: the
server runs the app on an empty SQLite file.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Route, expect

from kamflow.web.app import create_app
from kamflow.web.headers import PAGE_POLICY
from support.browser import shot

ROOT = Path(__file__).resolve().parents[3]
SWAGGER = ROOT / "kamflow" / "web" / "static" / "swagger"


def test_the_docs_page_names_only_files_of_this_origin(tmp_path: Path) -> None:
    client = TestClient(create_app(f"sqlite:///{tmp_path / 'unused.db'}"))
    r = client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-security-policy"] == PAGE_POLICY
    assert "<script>" not in r.text  # no inline script; nothing from another host:
    assert not re.search(r'(?:src|href)="(?:https?:)?//', r.text)
    for src in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/init.js",
                "/static/swagger/swagger-ui.css", "/static/swagger/favicon-32x32.png"):
        assert src in r.text and client.get(src).status_code == 200, src
    assert "Apache License" in (SWAGGER / "LICENSE").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'unused.db'}")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = running.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def test_swagger_ui_renders_the_operations_with_the_network_blocked(page: Page,
                                                                   server: str) -> None:
    outside: list[str] = []
    problems: list[str] = []

    def only_here(route: Route) -> Any:
        if route.request.url.startswith(server + "/"):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_here)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server + "/api/docs")
    # 1.7 MB of script to parse on a busy machine: more than expect's 5 s default
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("kamflow", timeout=30_000)
    operations = page.locator(".swagger-ui .opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 20
    expect(page.locator(".opblock-summary-path", has_text="/api/tasks").first).to_be_visible()
    page.locator(".opblock-summary", has_text="/api/me").first.click()  # opens: the UI is live
    expect(page.locator(".opblock.is-open").first).to_be_visible()
    shot(page, "api-docs-offline")
    assert outside == [] and problems == []
