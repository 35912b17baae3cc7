"""Security headers on every answer, a full Allow on a 405, ?at= as the document says, and
templates with no inline script (the CSP forbids it)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamflow.web.deps import AT_PATTERN
from support.web import World

TEMPLATES = Path(__file__).parents[3] / "kamflow" / "web" / "templates"


def directives(policy: str) -> dict[str, str]:
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2]
            for d in policy.split(";") if d.strip()}


@pytest.mark.parametrize("path", ["/login", "/api/me", "/static/kamflow.css", "/nowhere",
                                  "/api/openapi.json", "/healthz"])
def test_every_answer_carries_the_security_headers(world: World, path: str) -> None:
    r = world.client.get(path, follow_redirects=False)
    policy = directives(r.headers["content-security-policy"])
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def test_the_api_docs_page_keeps_the_page_policy(world: World) -> None:
    r = world.client.get("/api/docs")  # Swagger UI from /static/swagger, no inline script
    assert directives(r.headers["content-security-policy"])["script-src"] == "'self'"


def test_templates_have_no_inline_script_or_event_handler() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "javascript:" not in text, template


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("PUT", "/api/tokens", {"GET", "POST"}),
    ("DELETE", "/api/login", {"POST"}),
    ("PATCH", "/api/me", {"GET"}),
])
def test_a_405_lists_every_method_of_the_path(world: World, method: str, path: str,
                                              expected: set[str]) -> None:
    r = world.client.request(method, path, headers=world.as_("ada@x.test"))
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert expected <= allowed and method not in allowed


def test_the_document_says_what_at_accepts(world: World) -> None:
    spec = world.client.get("/api/openapi.json").json()
    at = [p for op in spec["paths"]["/api/tasks"].values() for p in op.get("parameters", [])
          if p["name"] == "at"][0]
    assert at["schema"]["anyOf"][0]["pattern"] == AT_PATTERN


def exists(text: str) -> bool:
    """The pattern lets 02-29 through in every year; only a leap year has it."""
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(at=st.from_regex(AT_PATTERN, fullmatch=True).filter(exists))
def test_every_at_the_document_allows_is_accepted(world: World, at: str) -> None:
    r = world.client.get("/api/tasks", params={"at": at}, headers=world.as_("ada@x.test"))
    assert r.status_code == 200, (at, r.text)


def test_an_at_the_document_refuses_is_a_422_naming_the_field(world: World) -> None:
    r = world.client.get("/api/tasks", params={"at": "0" * 30}, headers=world.as_("ada@x.test"))
    assert r.status_code == 422 and "at" in r.text
