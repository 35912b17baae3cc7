"""The architecture rules, checked on the source: rooms that import one way, no circles,
one module per library, no private names across modules, and a light `--help`.

The rooms, left to right (a room imports only from rooms to its left, or its own):

    playbooks → engine → tasks → notifications       pure: no database, no I/O, no clock
    basics (settings, clock, errors, security)
    store/                                           queries and writes, never commits
    use cases (kamflow/<name>.py)                    one transaction each
    jobs/ · cli/ · web/                              how a use case is triggered

`check()` takes a tree as {path: source}, so a test can feed it a bad example and see it fail.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = ["playbooks", "engine", "tasks", "notifications"]
BASICS = {"settings", "clock", "errors", "security"}
RANK = {"playbooks": 0, "engine": 1, "tasks": 2, "notifications": 3, "basics": 4, "store": 5,
        "usecase": 6, "jobs": 7, "web": 8, "cli": 9, "migrations": 8}
# cli/ may start the web app (`kamflow serve`); web/ never reaches into cli/.
# library -> the only modules allowed to import it
ONE_HOME = {
    "yaml": {"playbooks/loader.py"},
    "transitions": {"engine/lifecycle.py"},
    "jinja2": {"notifications/render.py"},
    "apscheduler": {"kamflow/jobs/scheduler.py"},
    "prefect": {"kamflow/jobs/flows.py"},
    "argon2": {"kamflow/security.py"},
    "httpx": {"notifications/channels.py"},
    "alembic": {"kamflow/store/db.py", "kamflow/migrations/env.py"},
}
HOME_DIRS = {"typer": "kamflow/cli/", "fastapi": "kamflow/web/", "uvicorn": "kamflow/cli/"}
# database libraries: only the store, the use cases and the migrations may import them
DATABASE = {"sqlalchemy", "sqlmodel", "psycopg"}


def room_of_path(rel: str) -> str:
    parts = rel.split("/")
    if parts[0] in PURE:
        return parts[0]
    if len(parts) == 2:
        return "basics" if parts[1][:-3] in BASICS else "usecase"
    return parts[1] if parts[1] in ("store", "jobs", "cli", "web", "migrations") else "usecase"


def room_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] in PURE:
        return "bare:" + parts[0]  # a pure package imported without the kamflow prefix
    if parts[0] != "kamflow" or len(parts) == 1:
        return None
    if parts[1] in PURE:
        return parts[1]
    if parts[1] in ("store", "jobs", "cli", "web", "migrations"):
        return parts[1]
    return "basics" if parts[1] in BASICS else "usecase"


def module_of_path(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[0] in PURE:
        parts = ["kamflow", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports(rel: str, source: str) -> Iterator[tuple[str, list[str], bool, int]]:
    """(module, names imported from it, only for type checking, line) for every import."""
    tree = ast.parse(source, filename=rel)
    typing_only = _type_checking_lines(tree)
    package = module_of_path(rel).rsplit(".", 0 if rel.endswith("__init__.py") else 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno in typing_only, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            yield base, [a.name for a in node.names], node.lineno in typing_only, node.lineno


def check(tree: Mapping[str, str]) -> list[str]:
    """Every rule broken in a tree of {relative path: source}, one line each."""
    problems: list[str] = []
    modules = {module_of_path(rel) for rel in tree}
    graph: dict[str, set[str]] = defaultdict(set)
    for rel, source in sorted(tree.items()):
        room = room_of_path(rel)
        me = module_of_path(rel)
        for module, names, typing_only, line in imports(rel, source):
            where = f"{rel}:{line}"
            top = module.split(".")[0]
            # `from kamflow import sweep` imports the module kamflow.sweep
            named = [f"{module}.{n}" for n in names] if module in ("kamflow", "kamflow.store",
                                                                   "kamflow.jobs") else []
            for imported in named or [module]:
                target = room_of_module(imported)
                if target is not None and target.startswith("bare:"):
                    problems.append(f"{where}: imports {imported}; write kamflow.{imported}")
                    continue
                if target is not None and target != room and RANK[target] >= RANK[room]:
                    problems.append(f"{where}: {room} imports {imported} ({target}), which is not"
                                    " to its left")
                if room in ("cli", "web") and target == "store":
                    problems.append(f"{where}: {room} imports {imported}; go through a use case")
            if top in ONE_HOME and rel not in ONE_HOME[top]:
                problems.append(f"{where}: imports {top}; only {sorted(ONE_HOME[top])} may")
            if top in HOME_DIRS and not rel.startswith(HOME_DIRS[top]):
                problems.append(f"{where}: imports {top}; only {HOME_DIRS[top]} may")
            if top in DATABASE and not typing_only and room not in ("store", "usecase", "basics",
                                                                    "migrations"):
                problems.append(f"{where}: imports {top}; only store/ and use cases may")
            if top == "kamflow":
                for name in names:
                    if name.startswith("_") and f"{module}.{name}" not in modules:
                        problems.append(f"{where}: imports the private name {name} from {module}")
                targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
                if not typing_only:
                    graph[me].update(targets or ([module] if module in modules else []))
    problems += [f"import circle: {' → '.join(c)}" for c in _circles(graph)]
    return problems


def _circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def sources() -> dict[str, str]:
    """The real tree: the pure packages at the top and kamflow/ without its links to them."""
    tree: dict[str, str] = {}
    for top in [*PURE, "kamflow"]:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if top == "kamflow" and (ROOT / "kamflow" / rel.parts[1]).is_symlink():
                continue
            if "migrations/versions" in str(rel):
                continue
            tree[str(rel)] = path.read_text()
    return tree


def test_the_tree_keeps_every_rule() -> None:
    assert check(sources()) == []


@pytest.mark.parametrize(("tree", "expected"), [
    ({"kamflow/cli/a.py": "from kamflow.store.db import x\n"}, "go through a use case"),
    ({"kamflow/web/a.py": "from kamflow.store import models\n"}, "go through a use case"),
    ({"kamflow/a.py": "from kamflow import b\n", "kamflow/b.py": "from kamflow.a import f\n"},
     "import circle: kamflow.a → kamflow.b"),
    ({"kamflow/a.py": "def f():\n    from kamflow.c import g\n",
      "kamflow/c.py": "from kamflow import a\n"}, "import circle"),
    ({"kamflow/a.py": "from kamflow.b import _helper\n", "kamflow/b.py": "_helper = 1\n"},
     "private name _helper"),
    ({"kamflow/store/a.py": "from kamflow import sweep\n", "kamflow/sweep.py": ""},
     "which is not to its left"),
    ({"engine/a.py": "from kamflow.store import db\n"}, "which is not to its left"),
    ({"engine/a.py": "from playbooks import schema\n"}, "write kamflow.playbooks"),
    ({"kamflow/web/a.py": "import sqlalchemy\n"}, "only store/ and use cases may"),
    ({"kamflow/cli/a.py": "import prefect\n"}, "only ['kamflow/jobs/flows.py'] may"),
])
def test_the_check_fails_on_a_bad_example(tree: dict[str, str], expected: str) -> None:
    problems = check(tree)
    assert any(expected in p for p in problems), problems


def test_the_check_allows_type_only_imports_and_own_room() -> None:
    tree = {"kamflow/web/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from sqlalchemy import Engine\n",
            "kamflow/store/a.py": "from kamflow.store import b\n", "kamflow/store/b.py": ""}
    assert check(tree) == []


def test_a_database_connection_is_never_called_engine() -> None:
    for rel, source in sources().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.args + node.args.kwonlyargs]
                assert "engine" not in names, f"{rel}: {node.name}(engine): call it db"


def test_every_module_uses_postponed_annotations() -> None:
    for rel, text in sources().items():
        if "def " in text or "class " in text:
            assert "from __future__ import annotations" in text, rel


def test_cli_help_imports_no_database_or_orchestration_library() -> None:
    code = ("import sys\nfrom kamflow.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('sqlalchemy', 'sqlmodel', 'prefect', 'transitions',"
            " 'alembic', 'fastapi') if m in sys.modules)\nprint('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert "HEAVY []" in out.stdout


def test_readme_documents_every_metric_and_default_rule() -> None:
    from kamflow.playbooks.loader import bundled_dir, load_dir
    from kamflow.playbooks.metrics import METRICS

    readme = (ROOT / "README.md").read_text()
    for spec in METRICS.values():
        assert f"| `{spec.name}` | {spec.type.value} | {spec.description} |" in readme
    for t in load_dir(bundled_dir()).lifecycle.transitions:
        assert f"| `{t.rule}` |" in readme, t.rule
        if t.when:
            assert f"`{t.when}`" in readme, t.when
