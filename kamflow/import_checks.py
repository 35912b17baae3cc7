"""What an import file must hold: its columns, its natural key, and a check per row.

Raw CSV strings in, typed rows out; every problem is `FILE:LINE: column: problem`.
Nothing here writes: kamflow.importer writes only when a whole file passed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table

from kamflow.engine.metrics import BadEventField, quote_fields
from kamflow.playbooks.loader import PlaybookSet
from kamflow.playbooks.touchpoints import customer_role
from kamflow.store.models import ROLES
from kamflow.store.tables import ACCOUNT, ACCOUNT_EVENT, CONTACT, FEEDBACK, MARGIN, PERSON, REVENUE
from kamflow.tasks.policy import sponsor_problem

PRODUCT_LINE = re.compile(r"^[a-z][a-z0-9_]*$")
KINDS = ("people", "accounts", "revenue", "contacts", "feedback", "margin", "events")
Row = dict[str, Any]


@dataclass
class Spec:
    table: Table
    required: tuple[str, ...]
    optional: tuple[str, ...]
    keys: tuple[str, ...]  # natural key of the table
    updates: tuple[str, ...]  # columns a re-import may change


SPECS = {
    "people": Spec(PERSON, ("email", "name", "department", "role"), (),
                    ("email",), ("name", "department", "role")),
    "accounts": Spec(ACCOUNT,
                      ("account_id", "name", "industry", "owner_email", "sponsor_email",
                       "potential"), ("state", "state_since", "created_at"), ("id",),
                      ("name", "industry", "owner_email", "sponsor_email", "potential",
                       "criteria")),
    # product_line optional: a row without one is the month's total (product line '').
    "revenue": Spec(REVENUE, ("account_id", "month", "amount"), ("product_line",),
                     ("account_id", "month", "product_line"), ("amount",)),
    "contacts": Spec(CONTACT, ("account_id", "date", "channel", "person_email"),
                      ("note", "nature", "customer_role"),
                      ("account_id", "date", "channel", "person_email"),
                      ("note", "nature")),  # a file without customer_role keeps the stored one
    "feedback": Spec(FEEDBACK, ("account_id", "date", "score"), ("comment",),
                      ("account_id", "date"), ("score", "comment")),
    # margin.csv: revenue less the cost to serve, per account and month (may be negative).
    "margin": Spec(MARGIN, ("account_id", "month", "margin"), (), ("account_id", "month"),
                    ("margin",)),
    # events.csv: what happened, e.g. quotes with their outcome; a quote is known by its ref.
    "events": Spec(ACCOUNT_EVENT, ("account_id", "event", "at"),
                    ("ref", "outcome", "amount", "decided_at"), ("account_id", "event", "at", "ref"),
                    ("outcome", "amount", "decided_at")),
}


class Unparsable(Exception):
    """The csv module gives up on the record starting at `line`."""

    def __init__(self, line: int, problem: str) -> None:
        self.line, self.problem = line, problem
        super().__init__(problem)


class BadValue(ValueError):
    """One column of one row is wrong."""

    def __init__(self, column: str, problem: str) -> None:
        self.column, self.problem = column, problem
        super().__init__(f"{column}: {problem}")


@dataclass
class Refs:
    """What rows may refer to: loaded once per import, one query per table."""

    departments: set[str]
    people: dict[str, bool]  # email -> active
    accounts: set[str]
    book: PlaybookSet
    now: datetime
    criteria_columns: frozenset[str] = field(default_factory=frozenset)


def validate(kind: str, spec: Spec, name: str, text: str, refs: Refs,
             progress: Callable[[int, int], None] | None) -> tuple[list[Row], list[str]]:
    problems: list[str] = []
    rows: list[Row] = []
    lines = records(csv.reader(io.StringIO(text, newline="")))
    try:
        header = [h.strip() for h in next(lines)[1]]
    except StopIteration:
        return [], [f"{name}:1: the file is empty; it needs a header row"]
    except Unparsable as e:
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
    check = CHECKS[kind]
    seen: dict[tuple[Any, ...], int] = {}
    total = text.count("\n")
    try:
        for line, values in lines:
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) != len(header):
                problems.append(f"{name}:{line}: row: {len(values)} values for {len(header)} "
                                "columns")
                continue
            raw = {h: v.strip() for h, v in zip(header, values, strict=True)}
            try:
                row = check(raw, refs)
            except BadValue as e:
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
    except Unparsable as e:  # where the next record starts is unknown: stop here
        problems.append(f"{name}:{e.line}: row: {e.problem}; the rest of the file was not checked")
    if not rows and not problems:
        problems.append(f"{name}:2: no data rows after the header")
    return rows, problems


def records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on; _Unparsable where the csv module gives up."""
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # e.g. a field over csv.field_size_limit()
            raise Unparsable(line, str(e)) from None
        yield line, values


# -- per-kind row checks: raw strings in, typed row out, _Bad on the first problem ---


def _text(raw: Row, col: str, *, required: bool = True, limit: int = 300) -> str:
    value = str(raw.get(col, ""))
    if required and not value:
        raise BadValue(col, "required")
    if "\x00" in value:  # PostgreSQL cannot store it
        raise BadValue(col, "contains a NUL character")
    if len(value) > limit:
        raise BadValue(col, f"longer than {limit} characters")
    return value


def _number(raw: Row, col: str, lo: float | None = None, hi: float | None = None) -> float:
    text = _text(raw, col)
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise BadValue(col, f"'{text}' is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadValue(col, f"'{text}' is not a finite number")
    if lo is not None and value < lo:
        raise BadValue(col, f"{text} is below {lo:g}")
    if hi is not None and value > hi:
        raise BadValue(col, f"{text} is above {hi:g}")
    return value


def _date(raw: Row, col: str) -> date:
    text = _text(raw, col)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadValue(col, f"'{text}' is not a date (YYYY-MM-DD)") from None


def _person(raw: Row, col: str, refs: Refs, *, required: bool = True) -> str | None:
    email = _text(raw, col, required=required, limit=254).lower()
    if not email:
        return None
    if email not in refs.people:
        raise BadValue(col, f"unknown person '{email}' (import people.csv first)")
    return email


def _account(raw: Row, refs: Refs) -> str:
    account_id = _text(raw, "account_id", limit=64)
    if account_id not in refs.accounts:
        raise BadValue("account_id", f"unknown account '{account_id}' (import accounts.csv first)")
    return account_id


def _check_people(raw: Row, refs: Refs) -> Row:
    email = _text(raw, "email", limit=254).lower()
    if "@" not in email or " " in email:
        raise BadValue("email", f"'{email}' is not an email address")
    dept = _text(raw, "department", limit=64)
    if dept not in refs.departments:
        raise BadValue("department", f"unknown department '{dept}'; known: "
                   + ", ".join(sorted(refs.departments)))
    role = _text(raw, "role", limit=32)
    if role not in ROLES:
        raise BadValue("role", f"'{role}' is not one of {', '.join(ROLES)}")
    return {"email": email, "name": _text(raw, "name", limit=200), "department": dept,
            "role": role, "active": True}


def _check_accounts(raw: Row, refs: Refs) -> Row:
    states = refs.book.lifecycle.states
    state = raw.get("state") or refs.book.lifecycle.initial
    if state not in states:
        raise BadValue("state", f"unknown state '{state}'; states: {', '.join(states)}")
    created_at = _moment(raw, "created_at") or refs.now
    # Without state_since the state is known since this import, not entered then.
    since = _moment(raw, "state_since")
    if since is not None and since > refs.now:
        raise BadValue("state_since", f"{since.isoformat()} is after the moment of the import "
                       f"({refs.now.isoformat()}, --at)")
    criteria = {}
    for col in sorted(refs.criteria_columns):
        if raw.get(col):
            criteria[col] = _number(raw, col, 0, 10)
    account_id = _text(raw, "account_id", limit=64)
    if any(ch.isspace() for ch in account_id):
        raise BadValue("account_id", f"'{account_id}' contains white space")
    return {
        "id": account_id,
        "name": _text(raw, "name"),
        "industry": _text(raw, "industry", required=False, limit=200),
        "owner_email": _person(raw, "owner_email", refs),
        "sponsor_email": _person(raw, "sponsor_email", refs, required=False),
        "potential": _number(raw, "potential", 0),
        "criteria": criteria,
        "state": state,
        "state_since": since or refs.now,
        "state_imported": since is None,
        "created_at": created_at,
        "key_account": False,
    }


def _moment(raw: Row, col: str) -> datetime | None:
    text = raw.get(col) or ""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(col, f"'{text}' is not an ISO date or datetime") from None
    if moment.tzinfo is not None:  # the store holds naive UTC
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _month(raw: Row) -> date:
    text = _text(raw, "month")
    try:
        if len(text) != 7:
            raise ValueError
        return date.fromisoformat(text + "-01")
    except ValueError:
        raise BadValue("month", f"'{text}' is not a month (YYYY-MM)") from None


def _check_revenue(raw: Row, refs: Refs) -> Row:
    account_id = _account(raw, refs)
    line = "_".join(_text(raw, "product_line", required=False, limit=64).lower().split())
    if line and not PRODUCT_LINE.match(line):
        raise BadValue("product_line", f"'{line}' is not a product line key (a letter, then "
                       "letters, digits or _), as the account plan's by_product_line names it")
    return {"account_id": account_id, "month": _month(raw), "product_line": line,
            "amount": _number(raw, "amount", 0)}


def _check_margin(raw: Row, refs: Refs) -> Row:
    return {"account_id": _account(raw, refs), "month": _month(raw),
            "margin": _number(raw, "margin")}


def _check_events(raw: Row, refs: Refs) -> Row:
    account_id = _account(raw, refs)
    event = _text(raw, "event", limit=64)
    if event not in refs.book.organization.events:
        raise BadValue("event", f"unknown event '{event}'; events: "
                       + ", ".join(refs.book.organization.events))
    at = _moment(raw, "at")
    if at is None:
        raise BadValue("at", "required")
    if at > refs.now:
        raise BadValue("at", f"{at.isoformat()} is after the moment of the import (--at)")
    amount = _number(raw, "amount", 0) if raw.get("amount") else None
    try:
        outcome, amount = quote_fields(event, raw.get("outcome"), amount)
    except BadEventField as e:
        raise BadValue(e.field, e.problem) from None
    decided = _moment(raw, "decided_at")
    if outcome in ("won", "lost"):
        decided = decided or at
        if decided < at or decided > refs.now:
            raise BadValue("decided_at", f"{decided.isoformat()} is not between the quote's "
                           "moment (at) and the moment of the import")
    elif decided is not None:
        raise BadValue("decided_at", "only a quote won or lost has a decision moment")
    return {"account_id": account_id, "event": event, "at": at,
            "ref": _text(raw, "ref", required=False, limit=200), "actor": "import",
            "outcome": outcome, "amount": amount, "decided_at": decided}


def _check_contacts(raw: Row, refs: Refs) -> Row:
    account_id = _account(raw, refs)
    try:
        channel = refs.book.organization.channel(_text(raw, "channel", limit=32))
    except ValueError as e:
        raise BadValue("channel", str(e)) from None
    return {"account_id": account_id, "date": _date(raw, "date"), "channel": channel,
            "person_email": _person(raw, "person_email", refs),
            "note": _text(raw, "note", required=False, limit=5000),
            "nature": _text(raw, "nature", required=False, limit=100),
            "customer_role": customer_role(_text(raw, "customer_role", required=False,
                                                 limit=100))}


def _check_feedback(raw: Row, refs: Refs) -> Row:
    account_id = _account(raw, refs)
    score = _number(raw, "score", 0, 10)
    if score != int(score):
        raise BadValue("score", f"{raw['score']} is not a whole number 0-10")
    return {"account_id": account_id, "date": _date(raw, "date"), "score": int(score),
            "comment": _text(raw, "comment", required=False, limit=5000)}


CHECKS: dict[str, Callable[[Row, Refs], Row]] = {
    "people": _check_people,
    "accounts": _check_accounts,
    "revenue": _check_revenue,
    "contacts": _check_contacts,
    "feedback": _check_feedback,
    "margin": _check_margin,
    "events": _check_events,
}


def sponsor_warnings(name: str, text: str, people: Mapping[str, tuple[bool, str]],
                     senior: Sequence[str], key_accounts: set[str]) -> list[str]:
    """`FILE:LINE: sponsor_email: ...` for accounts.csv rows whose sponsor cannot be a key
    account's senior sponsor (kamflow.tasks.policy.sponsor_problem): warnings, the file is
    imported all the same. A named sponsor is always checked; a missing one only for the
    accounts the last sweep flagged as key accounts (a new account is classified later)."""
    lines = records(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in next(lines)[1]]
    out: list[str] = []
    for line, values in lines:
        raw = {h: v.strip() for h, v in zip(header, values, strict=False)}
        account, sponsor = raw.get("account_id", ""), raw.get("sponsor_email", "").lower() or None
        if sponsor is None and account not in key_accounts:
            continue
        problem = sponsor_problem(raw.get("owner_email", "").lower(), sponsor, people, senior)
        if problem is not None:
            out.append(f"{name}:{line}: sponsor_email: {problem}; a key account needs a senior "
                       f"sponsor ({', '.join(senior)}) other than its owner")
    return out
