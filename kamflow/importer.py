"""CSV import: every row is validated before anything is written.

Kinds: people, accounts, revenue (account_id, month, amount, optional product_line: a row
without one is the month's total; a month is given either as a total or split by product
line, never both), contacts (optional customer_role: whom we met), feedback, margin
(account_id, month, margin: revenue less the cost to serve, which classification.yaml's
`contribution: {basis: margin}` classifies on) and events (account_id, event, at, optional
ref, outcome, amount, decided_at: a quote event's outcome won | lost | open, known by its ref).

A file with any bad row writes nothing and reports every bad row as
`FILE:LINE: column: problem`. Rows are upserted on their natural key, so
importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from kamflow.engine.clock import Clock
from kamflow.import_checks import KINDS, SPECS, Refs, Row, Spec, sponsor_warnings, validate
from kamflow.store import audit, changes, events, locking, stats, task_writes, touchpoint_tasks
from kamflow.store.bulk import insert_new, upsert
from kamflow.store.directory import Directory
from kamflow.store.tables import ACCOUNT, DEPARTMENT, PERSON, REVENUE, TRANSITION
from kamflow.store.versions import active_book, active_version


class ImportRejected(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ImportResult:
    kind: str
    file: str
    rows: int
    new: int
    existing: int
    warnings: list[str] = field(default_factory=list)  # imported all the same

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "warnings" or v}


def import_csv(db: Engine, kind: str, path: Path, clock: Clock,
               progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Validate the whole file, then write it in one transaction (or not at all)."""
    if kind not in SPECS:
        raise ImportRejected([f"{path}: unknown kind '{kind}'; use one of {', '.join(KINDS)}"])
    spec = SPECS[kind]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:  # name the line of the first bad byte
        data, line = path.read_bytes(), 1
        try:
            data.decode("utf-8")  # again, whole: offsets into the file, not into a chunk
        except UnicodeDecodeError as whole:
            line = data[:whole.start].count(b"\n") + 1
        raise ImportRejected([f"{path}:{line}: cannot read: not UTF-8 ({e.reason})"]) from e
    except OSError as e:
        raise ImportRejected([f"{path}: cannot read: {e}"]) from e
    with db.begin() as conn:  # BEGIN IMMEDIATE on SQLite: references cannot change under us
        refs = _load_refs(conn, clock.now())
        rows, problems = validate(kind, spec, str(path), text, refs, progress)
        if kind == "revenue" and not problems:
            problems = revenue_mixing(conn, str(path), rows)
        if problems:
            raise ImportRejected(problems)
        warnings = sponsor_warnings(str(path), text, Directory.load(conn).people,
                                    refs.book.organization.senior_departments, set(conn.execute(
                                        select(ACCOUNT.c.id).where(ACCOUNT.c.key_account.is_(True))
                                    ).scalars())) if kind == "accounts" else []
        # Rows in key order: account rows are locked in id order (kamflow.store.locking);
        # other kinds take the audit lock before the task rows a contact may complete.
        rows.sort(key=lambda r: tuple(str(r[k]) for k in spec.keys))
        if kind not in ("accounts", "people"):  # their accounts first, then the audit lock
            locking.lock_accounts(conn, {r["account_id"] for r in rows})
            locking.audit_first(conn)
        key_col = spec.keys[0]
        existing = _existing(conn, spec, rows) if len(spec.keys) > 1 else {
            r[key_col] for r in rows if _present(refs, kind, r[key_col])}
        new = len(rows) - len(existing)
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], len(rows))

        if kind == "accounts":
            _write_accounts(conn, spec, rows, refs, tick)
        elif kind == "events":  # a quote is known by its ref: kamflow.store.events decides
            new = events.write(conn, rows, refs.now, "import")
        else:
            upsert(conn, spec.table, rows, spec.keys, spec.updates, tick)
        if kind == "people":  # whom their accounts' tasks go to, whether a sponsor is senior
            changes.mark_people(conn, {r["email"] for r in rows})
        else:  # new facts: the next sweep reads these accounts
            changes.mark(conn, {r["id" if kind == "accounts" else "account_id"] for r in rows})
        if kind == "contacts":
            task_writes.complete_checks_for(conn, refs.book, {r["account_id"] for r in rows},
                                            refs.now)
            touchpoint_tasks.complete_for(conn, {r["account_id"] for r in rows}, refs.now)
        stats.after_writes(conn, len(rows))  # a large import: fresh planner statistics
    return ImportResult(kind, str(path), len(rows), new, len(rows) - new, warnings)


def revenue_mixing(conn: Connection, name: str, rows: list[Row]) -> list[str]:
    """A month given both as a total (no product_line) and per product line would count twice:
    refused, whether both are in the file or one is stored already."""
    kinds: dict[tuple[str, Any], set[bool]] = {}
    for r in rows:
        kinds.setdefault((r["account_id"], r["month"]), set()).add(r["product_line"] == "")
    ids = sorted({a for a, _ in kinds})
    for start in range(0, len(ids), 1000):
        q = select(REVENUE.c.account_id, REVENUE.c.month, REVENUE.c.product_line).where(
            REVENUE.c.account_id.in_(ids[start:start + 1000]))
        for account_id, month, line in conn.execute(q):
            if (account_id, month) in kinds:
                kinds[(account_id, month)].add(line == "")
    return [f"{name}: product_line: {a} {m:%Y-%m} is given both as a month total (no "
            "product_line) and per product line; give one or the other"
            for (a, m), seen in sorted(kinds.items()) if len(seen) > 1]


def _present(refs: Refs, kind: str, key: str) -> bool:
    return key in refs.people if kind == "people" else key in refs.accounts


def _existing(conn: Connection, spec: Spec, rows: list[Row]) -> set[tuple[Any, ...]]:
    t = spec.table
    ids = {r["account_id"] for r in rows}
    found: set[tuple[Any, ...]] = set()
    id_list = sorted(ids)
    for start in range(0, len(id_list), 1000):
        q = select(*(t.c[k] for k in spec.keys)).where(
            t.c.account_id.in_(id_list[start:start + 1000]))
        found.update(tuple(r) for r in conn.execute(q))
    keys = {tuple(r[k] for k in spec.keys) for r in rows}
    return found & keys


def _write_accounts(conn: Connection, spec: Spec, rows: list[Row], refs: Refs,
                    tick: Callable[[int], None]) -> None:
    changes = _account_changes(conn, spec, [r for r in rows if r["id"] in refs.accounts])
    upsert(conn, spec.table, rows, spec.keys, spec.updates, tick)
    fresh = [r for r in rows if r["id"] not in refs.accounts]
    audit.append(conn, [
        {"at": refs.now, "actor": "import", "entity": "account", "entity_id": r["id"],
         "action": "created", "before": None,
         "after": {c: r[c] for c in ("name", "owner_email", "sponsor_email", "potential", "state")}}
        for r in fresh
    ] + [
        {"at": refs.now, "actor": "import", "entity": "account", "entity_id": account_id,
         "action": "updated", "before": before, "after": after}
        for account_id, before, after in changes
    ])
    version = active_version(conn) or ""
    insert_new(conn, TRANSITION, [
        {"account_id": r["id"], "from_state": "", "to_state": r["state"], "at": r["state_since"],
         "rule": "imported", "metrics": {}, "actor": "import",
         "reason": "initial state from accounts.csv, " + (
             "known since the import (no state_since given)" if r["state_imported"]
             else "entered on its state_since"),
         "playbook_version": version}
        for r in fresh
    ], ["account_id", "at"], returning="account_id")


def _account_changes(conn: Connection, spec: Spec, rows: list[Row]
                     ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, before, after) of the fields a re-import changes, for the audit trail."""
    t = spec.table
    new = {r["id"]: r for r in rows}
    ids = sorted(new)
    out = []
    for start in range(0, len(ids), 1000):
        q = select(t.c.id, *(t.c[c] for c in spec.updates)).where(
            t.c.id.in_(ids[start:start + 1000]))
        for old in conn.execute(q):
            before = {c: old._mapping[c] for c in spec.updates if old._mapping[c] != new[old.id][c]}
            if before:
                out.append((old.id, before, {c: new[old.id][c] for c in before}))
    return out


def _load_refs(conn: Connection, now: datetime) -> Refs:
    book = active_book(conn)
    return Refs(
        departments=set(conn.execute(select(DEPARTMENT.c.key)).scalars()),
        people={r.email: r.active for r in conn.execute(
            select(PERSON.c.email, PERSON.c.active))},
        accounts=set(conn.execute(select(ACCOUNT.c.id)).scalars()),
        book=book,
        now=now,
        criteria_columns=book.classification.criteria_columns,
    )


