"""Request and response models of the REST API, with the constraints the store needs:
no text can carry a NUL or an unpaired surrogate (PostgreSQL and SQLite refuse them),
no text is longer than its column, dates stay within 1970-2999, ids within 32 bits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from kamflow.people import ROLES

EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)
MAX_ID = 2**31 - 1


def clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text") from None
    return value


def _utc(moment: datetime) -> datetime:
    """The store keeps naive UTC; the API says so (RFC 3339: `...Z`)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _in_range(day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return day


def bounded(max_length: int, min_length: int = 0, strip: bool = False) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length,
                             strip_whitespace=strip)


Clean = AfterValidator(clean)
Name = Annotated[str, bounded(200, 1), Clean]
Key = Annotated[str, bounded(64, 1), Clean]  # account ids, states, departments, events, channels
Label = Annotated[str, bounded(100, 1), Clean]
Short = Annotated[str, bounded(254), Clean]
Ref = Annotated[str, bounded(200), Clean]  # account_event.ref
Line = Annotated[str, bounded(2000), Clean]
Note = Annotated[str, bounded(10_000), Clean]
Reason = Annotated[str, bounded(2000, 1, strip=True), Clean]
Secret = Annotated[str, bounded(256), Clean]
Password = Annotated[str, bounded(256, 10), Clean]
Email = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+$"), Clean]
Day = Annotated[date, AfterValidator(_in_range)]
Moment = Annotated[datetime, AfterValidator(_utc)]  # in responses
Role = Literal["account_manager", "department_lead", "manager", "admin"]
assert set(ROLES) == {"account_manager", "department_lead", "manager", "admin"}


class Input(BaseModel):
    """Request bodies: unknown fields are an error, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(populate_by_name=True, from_attributes=True)


