"""What the browser tests share: Debian's chromium for Playwright, the app served by uvicorn
in a thread on 127.0.0.1, logging in through the form, screenshots, and the phone check.

`playwright install` is never needed: tests/kamflow/web/conftest.py's
`browser_type_launch_args` points Playwright at the system chromium (CHROMIUM_PATH, default
/usr/bin/chromium). Without it the browser tests skip with the reason, unless
KAMFLOW_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from kamflow import people, security
from kamflow.engine.clock import FixedClock
from kamflow.store.tables import TASK
from kamflow.web.app import create_app
from support import DB
from support.web import NOW

REQUIRED = os.environ.get("KAMFLOW_REQUIRE_BROWSER") == "1"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser-test-pw"
PHONE = {"width": 390, "height": 844}


def launch_args(base: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments with the system chromium; skip, or fail under
    KAMFLOW_REQUIRE_BROWSER=1, when it is missing."""
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        message = (f"browser tests need chromium at {CHROMIUM} (apt-get install -y chromium, "
                   "or set CHROMIUM_PATH)")
        if REQUIRED:
            pytest.fail(message + "; KAMFLOW_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)
    return {**base, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


class Live:
    """The served app: its base URL and its store."""

    def __init__(self, url: str, db: DB) -> None:
        self.url, self.db = url, db

    def task(self, account: str, step: str) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(TASK.c.id).where(TASK.c.account_id == account,
                                                         TASK.c.step == step)).scalar_one())

    def row(self, task_id: int) -> Any:
        with self.db.engine.connect() as conn:
            return conn.execute(select(TASK).where(TASK.c.id == task_id)).one()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: DB, emails: Iterable[str]) -> Iterator[Live]:
    """uvicorn serving `db` at NOW (FixedClock), with PASSWORD for `emails` and cheap
    password hashes while it runs."""
    clock = FixedClock(NOW)
    before = security.cost()
    security.set_cost(1, 64, 1)
    for email in emails:
        people.set_password(db.engine, email, PASSWORD, clock)
    server = uvicorn.Server(uvicorn.Config(create_app(db.url, clock), host="127.0.0.1",
                                           port=(port := _free_port()), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", db)
    finally:
        server.should_exit = True
        thread.join(10)
        security.set_cost(*before)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page: Any, live: Live, email: str, then: str = "/") -> None:
    """Open `then`, be sent to the login form, log in as `email` and land back."""
    from playwright.sync_api import expect

    page.goto(live.url + then)
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header .who")).to_contain_text(email.split("@")[0].title()[:3])


def fits(page: Any) -> None:
    """No horizontal scrolling at a phone's width."""
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"
