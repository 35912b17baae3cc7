"""/healthz and /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from kamflow.engine.clock import FixedClock
from kamflow.store.db import db_for, dispose
from kamflow.store.health import metrics as collect
from kamflow.web.app import create_app
from support.web import NOW, World


def test_healthz(world: World) -> None:
    r = world.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "detail": None}


def test_healthz_is_503_on_an_unmigrated_or_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    try:
        r = TestClient(create_app(url, FixedClock(NOW))).get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "outdated"
    finally:
        dispose(url)
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    try:
        r = TestClient(create_app(url, FixedClock(NOW))).get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
    finally:
        dispose(url)


def sample(body: str, name: str) -> float:
    """The value of one sample line `name{labels} value`."""
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_in_prometheus_text_format(world: World) -> None:
    tasks = world.client.get("/api/tasks?status=all", headers=world.as_("ada@x.test")).json()
    r = world.client.get("/metrics", headers=world.as_("mia@x.test"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = r.text
    assert sample(body, 'kamflow_tasks{status="open"}') == len(tasks)
    assert sample(body, "kamflow_tasks_overdue") == 2
    assert sample(body, 'kamflow_accounts{state="declining"}') == 2
    assert "# TYPE kamflow_accounts gauge" in body
    assert sample(body, 'kamflow_http_responses_total{method="GET",code="200"}') >= 1
    for line in body.splitlines():
        assert line.startswith("#") or line.startswith("kamflow_"), line


def test_metrics_need_a_manager_unless_public(world: World,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.client.get("/metrics").status_code == 401
    assert world.client.get("/metrics", headers=world.as_("ann@x.test")).status_code == 403
    monkeypatch.setenv("KAMFLOW_METRICS_PUBLIC", "true")
    assert TestClient(create_app(world.db.url, FixedClock(NOW))).get("/metrics"
                                                                     ).status_code == 200


def test_metrics_count_job_runs_and_the_outbox_and_skip_missing_tables(world: World) -> None:
    engine = db_for(world.db.url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO job_run (job, scheduled_for, \"trigger\", outcome, covers, "
                          "finished_at, host) VALUES ('sweep', '2026-06-15 05:00:00', "
                          "'schedule', 'ok', 1, '2026-06-15 05:00:07', 'h'), ('sweep', "
                          "'2026-06-14 05:00:00', 'schedule', 'error', 1, NULL, 'h')"))
    with engine.connect() as conn:
        body = collect(conn, NOW.date(), {})
    assert sample(body, 'kamflow_job_runs_total{job="sweep",outcome="ok"}') == 1
    assert sample(body, 'kamflow_job_runs_total{job="sweep",outcome="error"}') == 1
    assert sample(body, 'kamflow_job_last_success_timestamp_seconds{job="sweep"}') == \
        1781499607.0
    assert "kamflow_outbox" in body
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE job_run"))
        conn.execute(text("DROP TABLE outbox"))
    with engine.connect() as conn:
        body = collect(conn, NOW.date(), {})
    assert "kamflow_job_runs_total" not in body and "kamflow_outbox" not in body
    assert "kamflow_tasks" in body
