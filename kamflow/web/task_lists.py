"""The filter form, the counts and the pages that My queue, the department queue and the
board share: what the query string asks, as a kamflow.queue.TaskFilter, and the links that
change one thing (a chip, the next page).

The form is a plain GET, so every list is a link. 50 tasks a page, in keyset order ("Next
page" carries the cursor); every count is exact, counted in SQL (kamflow.queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from kamflow import queue
from kamflow.activation import current as active_book
from kamflow.people import Principal
from kamflow.tasks.policy import step_id

if TYPE_CHECKING:
    from sqlalchemy import Connection

PAGE = queue.PAGE
WEEK = 7  # "this week": due within the next 7 days
# due= -> (label, the status it lists)
DUE = {"": ("All open", "open"), "overdue": ("Overdue", "overdue"),
       "due-today": ("Due today", "due-today"), "week": ("This week", "upcoming"),
       "later": ("Later", "upcoming"), "upcoming": ("Upcoming", "upcoming"),
       "snoozed": ("Snoozed", "snoozed")}
SORTS = {"due": "due date, soonest first", "-due": "due date, latest first"}
CLASSES = ("A", "B", "C", "D", "-")
FIELDS = ("due", "klass", "state", "step", "key", "holder", "raci", "sort")
PARAM = {"klass": "class"}  # the query string's name where it differs


@dataclass(frozen=True)
class Asked:
    """The filter form as the query string gave it (empty: not asked)."""

    due: str = ""
    klass: str = ""
    state: str = ""
    step: str = ""
    key: str = ""
    holder: str = ""  # "", "queue", "me" or a person's email
    raci: str = ""
    sort: str = "due"
    cursor: str = ""
    page: int = 1  # which page the cursor is (shown only: "51-100 of 1,897")

    def but(self, **changes: Any) -> Asked:
        return replace(self, **changes)

    @property
    def filtered(self) -> bool:
        """Anything asked beyond the defaults (My queue then shows one list, not sections)."""
        return any(v for k, v in asdict(self).items() if k not in ("sort", "page")) \
            or self.sort != "due"


def asked(params: Mapping[str, str]) -> Asked:
    def get(name: str) -> str:
        return (params.get(PARAM.get(name, name)) or "").strip()[:254]

    number = get("page")
    return Asked(**{name: get(name) for name in FIELDS}, cursor=get("cursor")[:2000],
                 page=int(number) if number.isdigit() and 0 < int(number) < 10**6 else 1
                 ).but(sort=get("sort") or "due")


def query(a: Asked, **extra: str) -> str:
    """The query string of `a` (without its cursor unless given), plus `extra`."""
    pairs = {PARAM.get(k, k): v for k, v in asdict(a).items()
             if k not in ("cursor", "page") and v}
    if pairs.get("sort") == "due":
        del pairs["sort"]
    pairs.update({k: v for k, v in extra.items() if v})
    return urlencode(pairs)


def to_filter(a: Asked, user: Principal, today: date, **base: Any) -> queue.TaskFilter:
    """The TaskFilter `a` asks for, on top of `base` (the view's own: person, department,
    scope...). ValueError naming the field for a value that does not exist."""
    if a.due not in DUE:
        raise ValueError(f"due: '{a.due}' is not one of {', '.join(k for k in DUE if k)}")
    if a.sort not in SORTS:
        raise ValueError(f"sort: '{a.sort}' is not one of {', '.join(SORTS)}")
    if a.klass and a.klass not in CLASSES:
        raise ValueError(f"class: '{a.klass}' is not one of {', '.join(CLASSES)}")
    if a.raci and a.raci not in ("R", "A", "C", "I"):
        raise ValueError(f"raci: '{a.raci}' is not one of R, A, C, I")
    week_end = today + timedelta(days=WEEK)
    extra: dict[str, Any] = {
        "status": DUE[a.due][1], "klass": a.klass or None, "state": a.state or None,
        "step": a.step or None, "key_account": True if a.key else None,
        "due_to": week_end if a.due == "week" else None,
        "due_from": week_end + timedelta(days=1) if a.due == "later" else None,
    }
    if a.raci:
        extra["raci"] = a.raci
    if a.holder == "queue":
        extra["queue"] = base.get("department") or user.department
    elif a.holder == "me":
        extra["assignee"] = user.email
    elif a.holder:
        extra["assignee"] = a.holder
    return queue.TaskFilter(today, **{**base, **extra})


def after(a: Asked) -> list[Any] | None:
    """The sort key the cursor carries (ValueError naming `cursor` for a bad one)."""
    return queue.key_of(a.cursor, a.sort) if a.cursor else None


def choices(conn: Connection) -> dict[str, Any]:
    """What the form's selects offer: the lifecycle states and the playbook steps."""
    book = active_book(conn)
    return {"states": {k: s.title for k, s in book.lifecycle.states.items()},
            "steps": sorted(step_id(s, st) for s, pb in book.states.items() for st in pb.steps)}


@dataclass(frozen=True)
class Shown:
    """One page of a list as a page shows it: which rows, of how many, and the next page."""

    first: int
    last: int
    total: int
    next_query: str | None


def shown(a: Asked, page: queue.Page, **extra: str) -> Shown:
    start = (a.page - 1) * PAGE if a.cursor else 0
    following = (query(a, **extra, cursor=queue.cursor_of(a.sort, page.next_key),
                       page=str(a.page + 1 if a.cursor else 2))
                 if page.next_key is not None else None)
    return Shown(start + 1 if page.rows else 0, start + len(page.rows), page.total, following)


# due= -> the breakdown's buckets it covers (kamflow.queue.breakdown with a week's end)
COVERS = {"": ("overdue", "due-today", "week", "later", "snoozed"), "overdue": ("overdue",),
          "due-today": ("due-today",), "upcoming": ("week", "later"), "week": ("week",),
          "later": ("later",), "snoozed": ("snoozed",)}


@dataclass(frozen=True)
class Counts:
    """Every chip's count, exact: by due (within the class asked), by class (within the due
    asked), and the tasks both select."""

    due: dict[str, int]
    klass: dict[str, int]
    total: int


def counts(conn: Connection, f: queue.TaskFilter, a: Asked) -> Counts:
    """One breakdown query (kamflow.queue.breakdown) gives them all."""
    cells = queue.breakdown(conn, f, f.today + timedelta(days=WEEK))

    def n(klass: str, due: str) -> int:
        return sum(v for (k, b), v in cells.items()
                   if klass in ("", k) and b in COVERS[due])

    return Counts({d: n(a.klass, d) for d in COVERS}, {k: n(k, a.due) for k in CLASSES},
                  n(a.klass, a.due))
