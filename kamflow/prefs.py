"""Per-person notification preferences: channel, webhook URL, digest hour, time zone and
the kinds a person opted out of. Changing them is one audited transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, select

from kamflow.engine.clock import Clock
from kamflow.errors import NotFound
from kamflow.notifications.messages import CHANNELS, KINDS
from kamflow.store import audit
from kamflow.store.bulk import upsert
from kamflow.store.outbox import Prefs, prefs_of
from kamflow.store.tables import NOTIFICATION_PREF, PERSON


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone: '{name}' is not an IANA time zone "
                         "(for example Europe/Berlin or UTC)") from None
    return name


def _check_kinds(option: str, kinds: Sequence[str]) -> None:
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"{option}: '{kind}' is not one of {', '.join(KINDS)}")


def get_prefs(conn: Connection, email: str) -> Prefs:
    row = conn.execute(
        select(
            PERSON.c.email,
            NOTIFICATION_PREF.c.channel,
            NOTIFICATION_PREF.c.webhook_url,
            NOTIFICATION_PREF.c.digest_hour,
            NOTIFICATION_PREF.c.timezone,
            NOTIFICATION_PREF.c.opted_out,
        )
        .select_from(PERSON.outerjoin(NOTIFICATION_PREF, NOTIFICATION_PREF.c.email == PERSON.c.email))
        .where(PERSON.c.email == email)
    ).first()
    if row is None:
        raise NotFound(f"unknown person '{email}'")
    return prefs_of(row)


def set_prefs(db: Engine, email: str, clock: Clock, *, channel: str | None = None,
              webhook_url: str | None = None, digest_hour: int | None = None,
              timezone: str | None = None, opt_out: Sequence[str] = (),
              opt_in: Sequence[str] = (), actor: str | None = None) -> dict[str, Any]:
    """Change what is given, keep the rest; refuse bad values and change nothing."""
    if channel is not None and channel not in CHANNELS:
        raise ValueError(f"--channel: '{channel}' is not one of {', '.join(CHANNELS)}")
    if webhook_url is not None and webhook_url and not webhook_url.startswith(
            ("http://", "https://")):
        raise ValueError(f"--webhook-url: '{webhook_url}' is not an http:// or https:// URL")
    if digest_hour is not None and not 0 <= digest_hour <= 23:
        raise ValueError(f"--digest-hour: {digest_hour} is not an hour from 0 to 23")
    if timezone is not None:
        check_timezone(timezone)
    _check_kinds("--opt-out", opt_out)
    _check_kinds("--opt-in", opt_in)
    at = clock.now()
    with db.begin() as conn:
        before = get_prefs(conn, email)
        out = [k for k in KINDS if (k in before.opted_out or k in opt_out) and k not in opt_in]
        after = Prefs(channel or before.channel,
                      before.webhook_url if webhook_url is None else (webhook_url or None),
                      before.digest_hour if digest_hour is None else digest_hour,
                      timezone or before.timezone, tuple(out))
        if after.channel == "webhook" and not after.webhook_url:
            raise ValueError("--channel: webhook needs a --webhook-url")
        if after != before:
            row = {"email": email, **asdict(after), "opted_out": list(after.opted_out),
                   "updated_at": at}
            upsert(conn, NOTIFICATION_PREF, [row], ["email"], [c for c in row if c != "email"])
            audit.append(conn, [{"at": at, "actor": actor or "operator", "entity": "person",
                                 "entity_id": email, "action": "notification_prefs",
                                 "before": _jsonable(before), "after": _jsonable(after)}])
    return {"email": email, **_jsonable(after), "changed": after != before}


def _jsonable(p: Prefs) -> dict[str, Any]:
    return {**asdict(p), "opted_out": list(p.opted_out)}
