"""Playbook versions from the admin pages: a folder uploaded as its files or as a zip, read
the way `kamflow playbook validate FOLDER` reads a folder (its *.yaml files, not those in
subfolders), validated by the same loader (the same `folder/file:line: ...` errors),
compared with the active version, and activated in one transaction with an audit event.

Activation goes through kamflow.store.versions.activate, the function behind `kamflow
playbook load`, on a temporary copy of the folder: one way in for every version.
"""

from __future__ import annotations

import difflib
import io
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Connection, Engine, update

from kamflow.engine.clock import Clock
from kamflow.errors import NotFound, Refused
from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.loader import PlaybookSet, load_sources
from kamflow.store import audit, versions
from kamflow.store.tables import PLAYBOOK_VERSION
from kamflow.store.versions import Activation

MAX_FILES = 200
MAX_BYTES = 4 * 1024 * 1024  # every file together, uncompressed
MAX_DIFF_LINES = 3000
FILE_NAME = re.compile(r"^[^/\\\x00]+\.yaml$")
UNSAFE = re.compile(r"[^\w.-]+")


def folder_name(name: str) -> str:
    """A folder's name as it can be on disk (errors start with it)."""
    safe = UNSAFE.sub("_", name)[:100].strip(".")
    return safe or "playbooks"


@dataclass(frozen=True)
class Upload:
    """The files of an uploaded folder. `origin` is the folder's name: errors start with it,
    as the CLI's start with the folder given to it."""

    origin: str
    sources: dict[str, str]


def _text(name: str, data: bytes) -> str:
    """The file as Path.read_text reads it: UTF-8, universal newlines."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"files: {name} is not UTF-8 text") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _top_files(paths: Sequence[str]) -> tuple[str, dict[str, str]]:
    """(the folder's name, {file name: path}) of the *.yaml files at the top of the folder
    the paths share ("" when they share none: they are the top)."""
    parts = {p: PurePosixPath(p.replace("\\", "/")).parts for p in paths}
    tops = {ps[0] for ps in parts.values() if ps}
    shared = len(tops) == 1 and all(len(ps) > 1 for ps in parts.values())
    folder, depth = (tops.pop(), 2) if shared else ("", 1)
    chosen: dict[str, str] = {}
    for path, ps in parts.items():
        if len(ps) == depth and FILE_NAME.match(ps[-1]):
            if ps[-1] in chosen:
                raise ValueError(f"files: {ps[-1]} is in the upload twice")
            chosen[ps[-1]] = path
    return folder, chosen


def from_files(files: Sequence[tuple[str, bytes]]) -> Upload:
    """A folder chosen in the browser: (relative path, content) of each of its files."""
    if not files:
        raise ValueError("files: choose a playbook folder (or a .zip of one)")
    if len(files) > MAX_FILES or sum(len(data) for _, data in files) > MAX_BYTES:
        raise ValueError(f"files: at most {MAX_FILES} files and {MAX_BYTES // 2**20} MB")
    folder, chosen = _top_files([name for name, _ in files])
    content = dict(files)
    return Upload(folder_name(folder or "upload"),
                  {name: _text(name, content[path]) for name, path in sorted(chosen.items())})


def from_zip(filename: str, data: bytes) -> Upload:
    """A zip of a playbook folder (or of its files)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = [i for i in z.infolist()
                     if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            if len(infos) > MAX_FILES or sum(i.file_size for i in infos) > MAX_BYTES:
                raise ValueError(f"zip: at most {MAX_FILES} files and "
                                 f"{MAX_BYTES // 2**20} MB unpacked")
            folder, chosen = _top_files([i.filename for i in infos])
            sources = {name: _text(name, z.read(path)) for name, path in sorted(chosen.items())}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            EOFError, OSError) as e:
        raise ValueError(f"zip: {filename} cannot be read as a zip file ({e})") from None
    return Upload(folder_name(folder or PurePosixPath(filename).stem or "upload"), sources)


def validate(upload: Upload) -> PlaybookSet:
    """The loader's verdict: a PlaybookError listing every problem by file and line."""
    return load_sources(upload.sources, origin=upload.origin)


# -- comparing with the active version ------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    name: str
    change: str  # added, removed, changed
    lines: list[tuple[str, str]]  # (kind, text); kind: "+", "-", " " or "@" (a hunk)


@dataclass(frozen=True)
class Comparison:
    """A version against the active one: what it adds, removes and changes (states, steps,
    transitions, departments), and the line diff of each file."""

    active: str | None
    version: str
    summary: list[tuple[str, list[str], list[str], list[str]]]  # what, added, removed, changed
    files: list[FileChange]
    truncated: bool

    @property
    def same(self) -> bool:
        return self.active == self.version


def _named(old: Mapping[str, Any], new: Mapping[str, Any]
           ) -> tuple[list[str], list[str], list[str]]:
    return (sorted(set(new) - set(old)), sorted(set(old) - set(new)),
            sorted(k for k in set(old) & set(new) if old[k] != new[k]))


def _parts(book: PlaybookSet | None) -> dict[str, dict[str, Any]]:
    if book is None:
        return {"states": {}, "steps": {}, "transitions": {}, "departments": {}}
    return {"states": dict(book.lifecycle.states),
            "steps": {f"{s}.{st.key}": st for s, pb in book.states.items() for st in pb.steps},
            "transitions": {t.rule: t for t in book.lifecycle.transitions},
            "departments": dict(book.organization.departments)}


def compare(db: Engine, book: PlaybookSet) -> Comparison:
    with db.connect() as conn:
        active = versions.active_version(conn)
        old = versions.book_of(conn, active) if active is not None else None
    before, after = _parts(old), _parts(book)
    summary = [(what, *_named(before[what], after[what])) for what in after]
    old_files, new_files = dict(old.sources) if old else {}, dict(book.sources)
    files: list[FileChange] = []
    budget = MAX_DIFF_LINES
    for name in sorted(set(old_files) | set(new_files)):
        a, b = old_files.get(name), new_files.get(name)
        if a == b:
            continue
        diff = list(difflib.unified_diff((a or "").splitlines(), (b or "").splitlines(),
                                         lineterm="", n=2))[2:]
        lines = [("@" if line.startswith("@@") else line[:1] or " ", line) for line in diff]
        change = "added" if a is None else "removed" if b is None else "changed"
        files.append(FileChange(name, change, lines[:max(budget, 0)]))
        budget -= len(lines)
    return Comparison(active, book.version, summary, files, budget < 0)


# -- activating -----------------------------------------------------------------------------


def _still(conn: Connection, base: str | None) -> None:
    current = versions.active_version(conn)
    if current != base:
        raise Refused(f"version: the active version is now {current}, not {base}; "
                      "compare again before activating")


def activate(db: Engine, sources: Mapping[str, str], origin: str, base: str | None,
             actor: str, clock: Clock) -> Activation:
    """Make these files the active version, if `base` (the version they were compared
    with) is still the active one: validated again (a PlaybookError, as for the upload),
    in one transaction, audited."""
    for name, text in sources.items():
        if not FILE_NAME.match(name) or not isinstance(text, str):
            raise ValueError(f"sources: '{name[:80]}' is not a playbook file name")
    with db.connect() as conn:
        _still(conn, base)  # a page gone stale is refused before any parsing
    with tempfile.TemporaryDirectory(prefix="kamflow-playbooks-") as tmp:
        folder = Path(tmp) / folder_name(origin)
        folder.mkdir()
        for name, text in sources.items():
            (folder / name).write_text(text, encoding="utf-8", newline="")
        with db.begin() as conn:
            _still(conn, base)
            now = clock.now()
            try:
                act = versions.activate(conn, folder, now)  # after the last activation
            except PlaybookError as e:  # named as the upload's: folder/file:line
                raise PlaybookError([replace(p, file=p.file.removeprefix(f"{tmp}/"))
                                     for p in e.problems]) from None
            if act.new:
                conn.execute(update(PLAYBOOK_VERSION)
                             .where(PLAYBOOK_VERSION.c.version == act.version)
                             .values(origin=f"upload {origin} by {actor}"[:500]))
            if act.changed:
                audit.append(conn, [{"at": now, "actor": actor, "entity": "playbook",
                                     "entity_id": act.version, "action": "activated",
                                     "before": {"version": base},
                                     "after": {"version": act.version, "new": act.new,
                                               "origin": origin}}])
    return act


def stored(db: Engine, version: str) -> PlaybookSet:
    """A version loaded before (to compare with the active one, or to go back to)."""
    with db.connect() as conn:
        if version not in {v["version"] for v in versions.listing(conn)["versions"]}:
            raise NotFound(f"unknown playbook version '{version}'")
        return versions.book_of(conn, version)
