"""The clock is passed in: the engine never reads the wall clock itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class FixedClock:
    """A clock stopped at one moment: replays and tests run on it."""

    at: datetime

    def now(self) -> datetime:
        return self.at
