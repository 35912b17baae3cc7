"""`kamflow serve` for real: uvicorn on a free local port, the demo logins, the embedded
scheduler, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.web import World

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_app_with_demo_logins_and_the_scheduler(world: World) -> None:
    port = free_port()
    env = {**os.environ, "KAMFLOW_DATABASE_URL": world.db.url, "COLUMNS": "200",
           "KAMFLOW_SCHEDULER_TICK_SECONDS": "3600",
           **{f"KAMFLOW_SCHEDULE_{job}": "off" for job in ("SWEEP", "ESCALATION", "DIGESTS",
                                                           "DELIVER")}}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kamflow.cli import main; main()", "serve", "--port",
         str(port), "--demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up in 60 s"
            time.sleep(0.2)
        r = httpx.post(f"{base}/api/login", json={"email": "lea@x.test",
                                                  "password": "kamflow-demo"}, timeout=10)
        assert r.status_code == 200 and r.json()["role"] == "department_lead"
        assert "kamflow_session" in r.cookies
        assert httpx.get(f"{base}/api/docs", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), err  # uvicorn re-raises the signal
    for email, role in (("ann@x.test", "account_manager"), ("lea@x.test", "department_lead"),
                        ("sam@x.test", "manager"), ("ada@x.test", "admin")):
        assert f"login {email}" in out and role in out
    assert "kamflow-demo" in out
    assert "active: holding the scheduler lock" in err  # one process runs the jobs
    assert "scheduler stopped" in err


def test_serve_refuses_an_uninitialised_database(tmp_path: Path) -> None:
    env = {**os.environ, "KAMFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    r = subprocess.run([sys.executable, "-c", "from kamflow.cli import main; main()", "serve",
                        "--port", str(free_port())], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "run `kamflow init`" in r.stderr
