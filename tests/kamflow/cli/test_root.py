"""`kamflow --help` stays light: counted in modules imported, not seconds, so the test does not
depend on how busy the machine is. `kamflow --help`, and then every help page in one fresh
interpreter, may import no database, web, scheduling or templating library, none of kamflow's
store or use cases, and not the rich modules only a traceback or markdown help needs
(kamflow.cli.root stands in for those; the pages must be the same as with the real modules).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]

# libraries and kamflow modules that no help page needs (a name covers its submodules)
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "psycopg", "prefect", "fastapi", "starlette",
         "uvicorn", "httpx", "jinja2", "apscheduler", "transitions", "yaml", "pydantic",
         "pydantic_settings", "argon2", "attr", "markdown_it", "pygments", "rich.markdown",
         "rich.traceback", "rich.syntax", "kamflow.store", "kamflow.database", "kamflow.settings",
         "kamflow.security", "kamflow.jobs", "kamflow.web", "kamflow.engine", "kamflow.playbooks",
         "kamflow.tasks", "kamflow.notifications", "kamflow.sweep", "kamflow.queue")
# modules `kamflow --help` may add to a bare interpreter's: 165 once the stand-ins were in,
# 297 before (markdown_it alone is 80)
BUDGET = 200

CHILD = """
import contextlib, io, json, sys
if sys.argv[1] == "real":  # the rich modules loaded first: kamflow.cli.root needs no stand-in
    import rich.markdown, rich.traceback
import typer
from kamflow.cli import app

def paths(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from paths(sub, [*path, name])

pages = {}
command = typer.main.get_command(app)  # what app() builds on each call: build it once
for path in paths(command, []):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            command.main([*path, "--help"], prog_name="kamflow")
        except SystemExit as e:
            assert e.code in (0, None), (path, e.code, buffer.getvalue())
    pages[" ".join(path)] = buffer.getvalue()
print(json.dumps({"modules": sorted(sys.modules), "pages": pages}))
"""


def helps(mode: str) -> dict[str, Any]:
    env = {**os.environ, "COLUMNS": "100", "FORCE_COLOR": "1"}
    env.pop("TERMINAL_WIDTH", None)
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def heavy(modules: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    names = [h for h in HEAVY if h not in allowed]
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in names)]


@pytest.fixture(scope="module")
def light() -> dict[str, Any]:
    return helps("light")


def imported(*args: str) -> tuple[str, list[str]]:
    """(stdout, every module imported) of `python -X importtime ARGS`."""
    run = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60)
    return run.stdout, [line.split("|")[2].strip() for line in run.stderr.splitlines()
                        if line.startswith("import time:") and "self [us]" not in line]


def test_kamflow_help_imports_nothing_heavy_and_stays_in_budget() -> None:
    out, modules = imported("-m", "kamflow.cli", "--help")
    assert "kamflow: a process engine" in out
    assert "kamflow.cli.accounts" in modules  # importtime saw the command modules
    assert heavy(modules) == []
    added = len(set(modules) - set(imported("-c", "pass")[1]))
    assert added <= BUDGET, f"`kamflow --help` imports {added} modules (budget {BUDGET})"


def test_no_help_page_imports_anything_heavy(light: dict[str, Any]) -> None:
    assert len(light["pages"]) > 40  # every group and command, e.g. `kamflow task done --help`
    assert "task done" in light["pages"]
    # once a command is named, typer (0.29) coerces every option value, even the root's unused
    # --help flag, through a pydantic TypeAdapter: pydantic itself is typer's, not ours
    assert heavy(light["modules"], allowed=("pydantic",)) == []


def test_every_help_page_is_the_same_as_with_the_real_rich_modules(light: dict[str, Any]) -> None:
    real = helps("real")
    assert "rich.markdown" in real["modules"]  # the comparison really used them
    assert light["pages"].keys() == real["pages"].keys()
    for path, page in real["pages"].items():
        assert light["pages"][path] == page, f"`kamflow {path} --help` differs"


def test_the_stand_ins_reach_the_real_classes_and_leave_no_trace() -> None:
    code = """
import sys
import kamflow.cli.root
import rich
import typer.rich_utils as r
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
assert not hasattr(rich, "markdown")
import rich.markdown, rich.traceback
assert isinstance(r.Markdown("**x**"), rich.markdown.Markdown)
try:
    raise RuntimeError("kaboom")
except RuntimeError as e:
    tb = r.Traceback.from_exception(type(e), e, e.__traceback__)
assert isinstance(tb, rich.traceback.Traceback)
print("OK")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "OK", out.stderr


def test_a_crash_still_shows_the_rich_traceback_and_markdown_help_still_renders() -> None:
    code = """
import sys
import typer
from kamflow.cli.root import app

@app.command()
def boom() -> None:
    \"\"\"Fail on purpose.\"\"\"
    raise RuntimeError("kaboom")

md = typer.Typer(rich_markup_mode="markdown")

@md.command()
def hello() -> None:
    \"\"\"Say **hello** in `markdown`.\"\"\"

@md.command()
def other() -> None:
    \"\"\"Another.\"\"\"

try:
    md(["hello", "--help"], prog_name="md")
except SystemExit:
    pass
app(["boom"], prog_name="kamflow")
"""
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("_TYPER_STANDARD_TRACEBACK", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "Say hello in markdown." in out.stdout  # rendered: no ** or backticks left
    assert "Traceback (most recent call last)" in out.stderr
    assert "RuntimeError: kaboom" in out.stderr
