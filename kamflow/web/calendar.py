"""Each person's iCalendar feed of their open tasks: GET /cal/{secret}.ics.

The URL is the credential (calendar apps cannot log in): its secret is random, only its
sha256 is stored (`person.calendar_token`), and POST /api/me/calendar-token makes a new one,
after which the old URL answers 404. Each open task assigned to the person is one all-day
VEVENT on its due date; its UID (`task-<id>@kamflow`) never changes, so calendar apps update
an event in place when the task moves. The text is written here (RFC 5545: CRLF line ends,
TEXT values escaped, lines folded at 75 octets).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from kamflow import people, queue
from kamflow.errors import NotFound
from kamflow.web.deps import WebContext, context
from kamflow.web.errors import ErrorOut
from kamflow.web.schemas.base import Clean

router = APIRouter(tags=["calendar"])
MAX_EVENTS = 5000
PRODID = "-//kamflow//open tasks//EN"


def escape(value: str) -> str:
    """An RFC 5545 TEXT value: backslash, semicolon, comma and newlines escaped; other
    control characters dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch in ";,":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t" or ord(ch) >= 32 and ord(ch) != 127:
            out.append(ch)
    return "".join(out)


def fold(line: str, limit: int = 75) -> str:
    """Fold a content line into pieces of at most `limit` octets (UTF-8), never inside a
    character; continuation lines start with one space."""
    pieces: list[str] = []
    current: list[str] = []
    size, room = 0, limit
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > room:
            pieces.append("".join(current))
            current, size, room = [], 0, limit - 1
        current.append(ch)
        size += n
    pieces.append("".join(current))
    return "\r\n ".join(pieces)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


def _day(d: date) -> str:
    return d.strftime("%Y%m%d")


def render(owner: str, tasks: Iterable[Any], now: datetime) -> str:
    """The calendar: `tasks` rows need id, title, due, account_id, account_name, step,
    status, escalation_level and updated_at (naive UTC)."""
    lines: list[str] = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}",
                        "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
                        f"X-WR-CALNAME:{escape(f'kamflow: tasks of {owner}')}"]
    for t in tasks:
        late = " (escalated)" if t.escalation_level else ""
        description = (f"Account {t.account_id} ({t.account_name})\nStep {t.step}\n"
                       f"Due {t.due.isoformat()}, status {t.status}{late}\nkamflow task {t.id}")
        lines += [
            "BEGIN:VEVENT",
            f"UID:task-{t.id}@kamflow",
            f"DTSTAMP:{_stamp(now)}",
            f"LAST-MODIFIED:{_stamp(t.updated_at)}",
            f"DTSTART;VALUE=DATE:{_day(t.due)}",
            f"DTEND;VALUE=DATE:{_day(t.due + timedelta(days=1))}",
            f"SUMMARY:{escape(f'{t.title} — {t.account_name}{late}')}",
            f"DESCRIPTION:{escape(description)}",
            "CATEGORIES:kamflow",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


@router.get("/cal/{token}.ics", name="calendar_feed", response_class=Response,
            responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}},
                             "description": "iCalendar (RFC 5545) of the person's open tasks"},
                       404: {"model": ErrorOut, "description": "Unknown or rotated URL"},
                       422: {"model": ErrorOut, "description": "Malformed URL"}})
def calendar_feed(ctx: Annotated[WebContext, Depends(context)],
                  token: Annotated[str, Path(max_length=200), Clean]) -> Response:
    """The secret calendar feed: needs no login, the URL is the credential."""
    with ctx.db.connect() as conn:
        who = people.person_for_calendar(conn, token)
        if who is None:
            raise NotFound("unknown calendar")
        tasks = queue.calendar_tasks(conn, who.email, MAX_EVENTS)
    body = render(who.name, tasks, ctx.clock.now())
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})
