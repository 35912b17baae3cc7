"""The one place that reads the wall clock, and the parser for every --at option."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kamflow.engine.clock import Clock, FixedClock


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def parse_at(text: str | None) -> Clock:
    """`--at 2026-03-31` (midnight) or `--at 2026-03-31T14:00`; None means now (UTC)."""
    if text is None:
        return SystemClock()
    try:
        if len(text) == 10:
            return FixedClock(datetime.combine(date.fromisoformat(text), datetime.min.time()))
        at = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValueError(f"--at: '{text}' is not an ISO date or datetime (2026-03-31)") from e
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return FixedClock(at)
