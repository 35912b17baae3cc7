"""CSV import: every row is validated before anything is written.

A file with any bad row writes nothing and reports every bad row as
`FILE:LINE: column: problem`. Rows are upserted on their natural key, so
importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from kamflow.engine.clock import Clock
from kamflow.playbooks.loader import PlaybookSet
from kamflow.store import audit, task_writes
from kamflow.store.bulk import insert_new, upsert
from kamflow.store.models import (
    ROLES,
    Account,
    Contact,
    Department,
    Feedback,
    Person,
    Revenue,
    Transition,
)
from kamflow.store.versions import active_book, active_version

KINDS = ("people", "accounts", "revenue", "contacts", "feedback")
Row = dict[str, Any]


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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Spec:
    table: Table
    required: tuple[str, ...]
    optional: tuple[str, ...]
    keys: tuple[str, ...]  # natural key of the table
    updates: tuple[str, ...]  # columns a re-import may change


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


SPECS = {
    "people": _Spec(_t(Person), ("email", "name", "department", "role"), (),
                    ("email",), ("name", "department", "role")),
    "accounts": _Spec(_t(Account),
                      ("account_id", "name", "industry", "owner_email", "sponsor_email",
                       "potential"), ("state", "created_at"), ("id",),
                      ("name", "industry", "owner_email", "sponsor_email", "potential",
                       "criteria")),
    "revenue": _Spec(_t(Revenue), ("account_id", "month", "amount"), (),
                     ("account_id", "month"), ("amount",)),
    "contacts": _Spec(_t(Contact), ("account_id", "date", "channel", "person_email"),
                      ("note", "nature"), ("account_id", "date", "channel", "person_email"),
                      ("note", "nature")),
    "feedback": _Spec(_t(Feedback), ("account_id", "date", "score"), ("comment",),
                      ("account_id", "date"), ("score", "comment")),
}


class _Unparsable(Exception):
    """The csv module gives up on the record starting at `line`."""

    def __init__(self, line: int, problem: str) -> None:
        self.line, self.problem = line, problem
        super().__init__(problem)


class _Bad(ValueError):
    """One column of one row is wrong."""

    def __init__(self, column: str, problem: str) -> None:
        self.column, self.problem = column, problem
        super().__init__(f"{column}: {problem}")


@dataclass
class _Refs:
    """What rows may refer to: loaded once per import, one query per table."""

    departments: set[str]
    people: dict[str, bool]  # email -> active
    accounts: set[str]
    book: PlaybookSet
    now: datetime
    criteria_columns: frozenset[str] = field(default_factory=frozenset)


def import_csv(db: Engine, kind: str, path: Path, clock: Clock,
               progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Validate the whole file, then write it in one transaction (or not at all)."""
    if kind not in SPECS:
        raise ImportRejected([f"{path}: unknown kind '{kind}'; use one of {', '.join(KINDS)}"])
    spec = SPECS[kind]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ImportRejected([f"{path}: cannot read: {e}"]) from e
    with db.begin() as conn:  # BEGIN IMMEDIATE on SQLite: references cannot change under us
        refs = _load_refs(conn, clock.now())
        rows, problems = _validate(kind, spec, str(path), text, refs, progress)
        if problems:
            raise ImportRejected(problems)
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
        else:
            upsert(conn, spec.table, rows, spec.keys, spec.updates, tick)
            if kind == "contacts":
                task_writes.complete_checks_for(conn, refs.book, {r["account_id"] for r in rows},
                                            refs.now)
    return ImportResult(kind, str(path), len(rows), new, len(existing))


def _present(refs: _Refs, kind: str, key: str) -> bool:
    return key in refs.people if kind == "people" else key in refs.accounts


def _existing(conn: Connection, spec: _Spec, rows: list[Row]) -> set[tuple[Any, ...]]:
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


def _write_accounts(conn: Connection, spec: _Spec, rows: list[Row], refs: _Refs,
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
    insert_new(conn, _t(Transition), [
        {"account_id": r["id"], "from_state": "", "to_state": r["state"], "at": r["created_at"],
         "rule": "imported", "metrics": {}, "actor": "import",
         "reason": "initial state from accounts.csv", "playbook_version": version}
        for r in fresh
    ], ["account_id", "at"], returning="account_id")


def _account_changes(conn: Connection, spec: _Spec, rows: list[Row]
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


def _load_refs(conn: Connection, now: datetime) -> _Refs:
    book = active_book(conn)
    return _Refs(
        departments=set(conn.execute(select(_t(Department).c.key)).scalars()),
        people={r.email: r.active for r in conn.execute(
            select(_t(Person).c.email, _t(Person).c.active))},
        accounts=set(conn.execute(select(_t(Account).c.id)).scalars()),
        book=book,
        now=now,
        criteria_columns=book.classification.criteria_columns,
    )


def _validate(kind: str, spec: _Spec, name: str, text: str, refs: _Refs,
              progress: Callable[[int, int], None] | None) -> tuple[list[Row], list[str]]:
    problems: list[str] = []
    rows: list[Row] = []
    records = _records(csv.reader(io.StringIO(text, newline="")))
    try:
        header = [h.strip() for h in next(records)[1]]
    except StopIteration:
        return [], [f"{name}:1: the file is empty; it needs a header row"]
    except _Unparsable as e:
        return [], [f"{name}:{e.line}: header: {e.problem}"]
    missing = [c for c in spec.required if c not in header]
    allowed = set(spec.required) | set(spec.optional)
    extra = [c for c in header if c not in allowed]
    if kind == "accounts":
        unknown = [c for c in extra if c not in refs.criteria_columns]
        extra = unknown
    if missing:
        problems.append(f"{name}:1: header: missing column(s) {', '.join(missing)}")
    if extra:
        hint = ("; extra columns must be portrait or retention criteria: "
                + ", ".join(sorted(refs.criteria_columns))) if kind == "accounts" else ""
        problems.append(f"{name}:1: header: unknown column(s) {', '.join(extra)}{hint}")
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        problems.append(f"{name}:1: header: column(s) given twice: {', '.join(dupes)}")
    if problems:
        return [], problems
    check = _CHECKS[kind]
    seen: dict[tuple[Any, ...], int] = {}
    total = text.count("\n")
    try:
        for line, values in records:
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) != len(header):
                problems.append(f"{name}:{line}: row: {len(values)} values for {len(header)} "
                                "columns")
                continue
            raw = {h: v.strip() for h, v in zip(header, values, strict=True)}
            try:
                row = check(raw, refs)
            except _Bad as e:
                problems.append(f"{name}:{line}: {e.column}: {e.problem}")
                continue
            key = tuple(row[k] for k in spec.keys)
            if key in seen:
                columns = "/".join("account_id" if k == "id" else k for k in spec.keys)
                problems.append(f"{name}:{line}: {spec.required[0]}: same {columns} as line "
                                f"{seen[key]}")
                continue
            seen[key] = line
            rows.append(row)
            if progress and line % 5000 == 0:
                progress(0, total)
    except _Unparsable as e:  # where the next record starts is unknown: stop here
        problems.append(f"{name}:{e.line}: row: {e.problem}; the rest of the file was not checked")
    if not rows and not problems:
        problems.append(f"{name}:2: no data rows after the header")
    return rows, problems


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on; _Unparsable where the csv module gives up."""
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # e.g. a field over csv.field_size_limit()
            raise _Unparsable(line, str(e)) from None
        yield line, values


# -- per-kind row checks: raw strings in, typed row out, _Bad on the first problem ---


def _text(raw: Row, col: str, *, required: bool = True, limit: int = 300) -> str:
    value = str(raw.get(col, ""))
    if required and not value:
        raise _Bad(col, "required")
    if "\x00" in value:  # PostgreSQL cannot store it
        raise _Bad(col, "contains a NUL character")
    if len(value) > limit:
        raise _Bad(col, f"longer than {limit} characters")
    return value


def _number(raw: Row, col: str, lo: float | None = None, hi: float | None = None) -> float:
    text = _text(raw, col)
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise _Bad(col, f"'{text}' is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _Bad(col, f"'{text}' is not a finite number")
    if lo is not None and value < lo:
        raise _Bad(col, f"{text} is below {lo:g}")
    if hi is not None and value > hi:
        raise _Bad(col, f"{text} is above {hi:g}")
    return value


def _date(raw: Row, col: str) -> date:
    text = _text(raw, col)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad(col, f"'{text}' is not a date (YYYY-MM-DD)") from None


def _person(raw: Row, col: str, refs: _Refs, *, required: bool = True) -> str | None:
    email = _text(raw, col, required=required, limit=254).lower()
    if not email:
        return None
    if email not in refs.people:
        raise _Bad(col, f"unknown person '{email}' (import people.csv first)")
    return email


def _account(raw: Row, refs: _Refs) -> str:
    account_id = _text(raw, "account_id", limit=64)
    if account_id not in refs.accounts:
        raise _Bad("account_id", f"unknown account '{account_id}' (import accounts.csv first)")
    return account_id


def _check_people(raw: Row, refs: _Refs) -> Row:
    email = _text(raw, "email", limit=254).lower()
    if "@" not in email or " " in email:
        raise _Bad("email", f"'{email}' is not an email address")
    dept = _text(raw, "department", limit=64)
    if dept not in refs.departments:
        raise _Bad("department", f"unknown department '{dept}'; known: "
                   + ", ".join(sorted(refs.departments)))
    role = _text(raw, "role", limit=32)
    if role not in ROLES:
        raise _Bad("role", f"'{role}' is not one of {', '.join(ROLES)}")
    return {"email": email, "name": _text(raw, "name", limit=200), "department": dept,
            "role": role, "active": True}


def _check_accounts(raw: Row, refs: _Refs) -> Row:
    states = refs.book.lifecycle.states
    state = raw.get("state") or refs.book.lifecycle.initial
    if state not in states:
        raise _Bad("state", f"unknown state '{state}'; states: {', '.join(states)}")
    created = raw.get("created_at") or ""
    try:
        created_at = datetime.fromisoformat(created) if created else refs.now
    except ValueError:
        raise _Bad("created_at", f"'{created}' is not an ISO date or datetime") from None
    if created_at.tzinfo is not None:  # the store holds naive UTC
        created_at = created_at.astimezone(UTC).replace(tzinfo=None)
    criteria = {}
    for col in sorted(refs.criteria_columns):
        if raw.get(col):
            criteria[col] = _number(raw, col, 0, 10)
    account_id = _text(raw, "account_id", limit=64)
    if any(ch.isspace() for ch in account_id):
        raise _Bad("account_id", f"'{account_id}' contains white space")
    return {
        "id": account_id,
        "name": _text(raw, "name"),
        "industry": _text(raw, "industry", required=False, limit=200),
        "owner_email": _person(raw, "owner_email", refs),
        "sponsor_email": _person(raw, "sponsor_email", refs, required=False),
        "potential": _number(raw, "potential", 0),
        "criteria": criteria,
        "state": state,
        "state_since": created_at,
        "created_at": created_at,
        "key_account": False,
    }


def _check_revenue(raw: Row, refs: _Refs) -> Row:
    account_id = _account(raw, refs)
    text = _text(raw, "month")
    try:
        if len(text) != 7:
            raise ValueError
        month = date.fromisoformat(text + "-01")
    except ValueError:
        raise _Bad("month", f"'{text}' is not a month (YYYY-MM)") from None
    return {"account_id": account_id, "month": month, "amount": _number(raw, "amount", 0)}


def _check_contacts(raw: Row, refs: _Refs) -> Row:
    account_id = _account(raw, refs)
    channel = _text(raw, "channel", limit=32)
    channels = refs.book.organization.contact_channels
    if channel not in channels:
        raise _Bad("channel", f"'{channel}' is not one of {', '.join(channels)}")
    return {"account_id": account_id, "date": _date(raw, "date"), "channel": channel,
            "person_email": _person(raw, "person_email", refs),
            "note": _text(raw, "note", required=False, limit=5000),
            "nature": _text(raw, "nature", required=False, limit=100)}


def _check_feedback(raw: Row, refs: _Refs) -> Row:
    account_id = _account(raw, refs)
    score = _number(raw, "score", 0, 10)
    if score != int(score):
        raise _Bad("score", f"{raw['score']} is not a whole number 0-10")
    return {"account_id": account_id, "date": _date(raw, "date"), "score": int(score),
            "comment": _text(raw, "comment", required=False, limit=5000)}


_CHECKS: dict[str, Callable[[Row, _Refs], Row]] = {
    "people": _check_people,
    "accounts": _check_accounts,
    "revenue": _check_revenue,
    "contacts": _check_contacts,
    "feedback": _check_feedback,
}
