"""The accounts list page and its CSV export: GET /api/accounts's search, filters, sort and
keyset paging (kamflow.account_list), for whoever is logged in, within what they may see.

The form is a plain GET, so every list is a link; "Next page" carries the cursor. The CSV
export is every row the filters keep, streamed a chunk at a time, each cell formula-safe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from itertools import chain
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from kamflow import access, account_list
from kamflow.activation import current as active_book
from kamflow.people import Principal
from kamflow.security import csv_row
from kamflow.web.deps import context
from kamflow.web.errors import ApiError
from kamflow.web.pagekit import Viewer, field_message, page, render

router = APIRouter()
PAGE_SIZE = 50
SORT_LABELS = {"name": "name A–Z", "-name": "name Z–A", "score": "retention score, lowest",
               "-score": "retention score, highest", "-potential": "potential, largest",
               "potential": "potential, smallest", "id": "id"}
CSV_COLUMNS = ("id", "name", "owner_email", "sponsor_email", "state", "state_since", "class",
               "segment", "key_account", "portrait_fit", "retention_score", "potential")
Text = Annotated[str | None, Query(max_length=254)]


def _number(name: str, value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(422, f"{name}: '{value}' is not a number (0-100)", name) from None


def _asked(q: str | None, state: str | None, klass: str | None, key: str | None,
           owner: str | None, score_min: str | None, score_max: str | None,
           overdue: str | None, sort: str | None, cursor: str | None) -> account_list.Asked:
    on = ("1", "on", "true", "yes")
    return account_list.Asked(
        q=q, state=state or None, klass=klass or None, key_only=(key or "") in on,
        owner=(owner or "").strip() or None, score_min=_number("score_min", score_min),
        score_max=_number("score_max", score_max), overdue=(overdue or "") in on,
        sort=sort or "name", limit=PAGE_SIZE, cursor=cursor or None)


def _query(a: account_list.Asked) -> dict[str, str]:
    """The filters and sort as a query string asks them (links, the CSV export)."""
    pairs: dict[str, Any] = {"q": a.q, "state": a.state, "class": a.klass,
                             "key": "true" if a.key_only else None, "owner": a.owner,
                             "score_min": a.score_min, "score_max": a.score_max,
                             "overdue": "true" if a.overdue else None, "sort": a.sort}
    return {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in pairs.items()
            if v not in (None, "")}


def _field(message: str) -> str | None:
    head = message.split(":", 1)[0]
    return head if head.replace("_", "").isalpha() else None


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, viewer: Viewer, q: Text = None, state: Text = None,
                  klass: Annotated[str | None, Query(alias="class", max_length=8)] = None,
                  key: Text = None, owner: Text = None, score_min: Text = None,
                  score_max: Text = None, overdue: Text = None, sort: Text = None,
                  cursor: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """The accounts the viewer may see: search by id or name, filters, sort, 50 a page."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        today = ctx.clock.now().date()
        a = _asked(q, state, klass, key, owner, score_min, score_max, overdue, sort, cursor)
        error, listed = "", account_list.Listed([], 0, None)
        with ctx.db.connect() as conn:
            states = {k: s.title for k, s in active_book(conn).lifecycle.states.items()}
            try:
                listed = account_list.list_page(conn, a, today,
                                                scope=access.account_scope(user), viewer=user)
            except ValueError as e:
                error = field_message(str(e))
        query = _query(a)
        following = dict(query, cursor=listed.next_cursor) if listed.next_cursor else None
        return render(request, "accounts.html", user, 422 if error else 200, a=a,
                      rows=listed.rows, total=listed.total, query=query, following=following,
                      states=states, sorts=SORT_LABELS, error=error, paged=bool(a.cursor),
                      mine=account_list.mine_first(user))

    return page(request, viewer, build)


@router.get("/accounts.csv")
def accounts_csv(request: Request, viewer: Viewer, q: Text = None, state: Text = None,
                 klass: Annotated[str | None, Query(alias="class", max_length=8)] = None,
                 key: Text = None, owner: Text = None, score_min: Text = None,
                 score_max: Text = None, overdue: Text = None, sort: Text = None) -> Response:
    """Every account of the list as filtered and sorted (not only a page), as CSV."""

    def build(user: Principal) -> Response:
        ctx = context(request)
        today = ctx.clock.now().date()
        a = _asked(q, state, klass, key, owner, score_min, score_max, overdue, sort, None)
        chunks = account_list.export(ctx.db, a, today, scope=access.account_scope(user),
                                     viewer=user)
        try:
            first = next(chunks)  # bad input fails here, before the answer starts
        except ValueError as e:
            message = field_message(str(e))
            raise ApiError(422, message, _field(message)) from None
        name = f"accounts-{today.isoformat()}.csv"
        return StreamingResponse(_csv(chain([first], chunks)),
                                 media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return page(request, viewer, build)


def _csv(chunks: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rows in chunks:
        for r in rows:  # a name or an id starting with "=" is shown, not run
            writer.writerow(csv_row([_cell(r, c) for c in CSV_COLUMNS]))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def _cell(row: dict[str, Any], column: str) -> object:
    value = row["klass"] if column == "class" else row[column]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value
