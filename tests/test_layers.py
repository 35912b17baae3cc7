"""The architecture rules, checked on the source: one-way imports, one module per library,
and a CLI whose --help imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["playbooks", "engine", "tasks", "notifications", "kamflow"]
# library -> the only modules allowed to import it
ONE_HOME = {
    "yaml": {"playbooks/loader.py"},
    "transitions": {"engine/lifecycle.py"},
    "jinja2": {"notifications/render.py"},
    "apscheduler": {"kamflow/scheduler.py"},
    "prefect": {"kamflow/flows.py"},
    "typer": {"kamflow/cli.py", "kamflow/cli_audit.py", "kamflow/cli_notify.py",
              "kamflow/cli_ops.py", "kamflow/cli_plan.py", "kamflow/cli_prefect.py",
              "kamflow/cli_report.py", "kamflow/cli_web.py"},
    "argon2": {"kamflow/web/security.py"},
    "httpx": {"notifications/channels.py"},
    "alembic": {"kamflow/db.py", "kamflow/migrations/env.py"},
}
# libraries only the composition root may touch (the store lives there)
ROOT_ONLY = {"sqlalchemy", "sqlmodel", "psycopg", "fastapi", "uvicorn", "rich",
             "pydantic_settings"}


def sources() -> list[Path]:
    return [p for pkg in ORDER for p in (ROOT / pkg).rglob("*.py")
            if "migrations/versions" not in str(p)]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way_and_each_library_has_one_home(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    package = rel.split("/")[0]
    allowed_packages = set(ORDER[: ORDER.index(package) + 1])
    for name in imports(path):
        if name in ORDER:
            assert name in allowed_packages, f"{rel} imports {name}, which is to its right"
        if name in ONE_HOME:
            assert rel in ONE_HOME[name], f"{rel} imports {name}; only {ONE_HOME[name]} may"
        if name in ROOT_ONLY:
            assert package == "kamflow", f"{rel} imports {name}; only kamflow/ may"


def test_every_module_uses_postponed_annotations() -> None:
    for path in sources():
        text = path.read_text()
        if "def " in text or "class " in text:
            assert "from __future__ import annotations" in text, path


def test_cli_help_imports_no_database_or_orchestration_library() -> None:
    code = ("import sys\nfrom kamflow.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('sqlalchemy', 'sqlmodel', 'prefect', 'transitions',"
            " 'alembic', 'fastapi') if m in sys.modules)\nprint('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert "HEAVY []" in out.stdout


def test_readme_documents_every_metric_and_default_rule() -> None:
    from playbooks.loader import bundled_dir, load_dir
    from playbooks.metrics import METRICS

    readme = (ROOT / "README.md").read_text()
    for spec in METRICS.values():
        assert f"| `{spec.name}` | {spec.type.value} | {spec.description} |" in readme
    for t in load_dir(bundled_dir()).lifecycle.transitions:
        assert f"| `{t.rule}` |" in readme, t.rule
        if t.when:
            assert f"`{t.when}`" in readme, t.when
