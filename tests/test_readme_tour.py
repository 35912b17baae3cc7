"""The README's tour, run as written: every `kamflow ...` line of its shell blocks, in order,
on a scratch database, must succeed (the examples name accounts, people and tasks that the
demo really has)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from kamflow.store.db import db_for
from support import DB

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("## A ten-minute tour", "## Tasks: the playbooks at work")


def tour_commands(text: str) -> list[list[str]]:
    """The `kamflow` lines of the shell blocks in the tour's sections, comments dropped."""
    commands: list[list[str]] = []
    for part in re.split(r"(?m)^(?=## )", text):
        if not part.startswith(SECTIONS):
            continue
        for block in re.findall(r"(?ms)^```sh\n(.*?)^```", part):
            for line in block.splitlines():
                args = shlex.split(line, comments=True)
                if args and args[0] == "kamflow":
                    commands.append(args[1:])
    return commands


def test_the_tour_has_commands() -> None:
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert ["init"] in commands and any(c[0] == "demo" for c in commands)
    assert any(c[:2] == ["task", "done"] for c in commands)


@pytest.mark.slow  # a 2,000-account demo, its first sweep and a week of daily sweeps
def test_the_readme_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the tour runs from a clone's root (playbooks/defaults)
    url = f"sqlite:///{tmp_path / 'tour.db'}"
    db = DB(url, db_for(url))
    for args in tour_commands((ROOT / "README.md").read_text(encoding="utf-8")):
        r = db.cli(*args)
        assert r.code == 0, f"kamflow {shlex.join(args)}\n{r.stdout[-2000:]}\n{r.stderr}"
