"""/api/audit: adherence (managers and admins; a department lead, their own department),
events and the hash chain's verification (managers and admins)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from kamflow import access
from kamflow import adherence as audit
from kamflow.web.deps import Moment, User, WebContext, context
from kamflow.web.errors import ApiError
from kamflow.web.schemas.base import Clean, Day
from kamflow.web.schemas.people import AdherenceOut, AuditEventOut, VerifyOut

router = APIRouter(prefix="/audit", tags=["audit"])
Ctx = Annotated[WebContext, Depends(context)]
By = Literal["step", "account", "owner", "person", "department", "letter", "class", "state"]
Letter = Literal["R", "A", "C", "I"]
assert set(By.__args__) == set(audit.BY)  # type: ignore[attr-defined]


def auditor(user: User) -> User:
    access.may_audit(user)
    return user


Auditor = Annotated[User, Depends(auditor)]


@router.get("/adherence", response_model=AdherenceOut)
def adherence(
    ctx: Ctx, user: User, clock: Moment,
    start: Annotated[Day, Query(alias="from", description="First due date")],
    end: Annotated[Day, Query(alias="to", description="Last due date, included")],
    by: Annotated[By, Query(description="How to group: owner is the account's manager, "
                                        "person who holds the task, department each one "
                                        "the RACI names")] = "step",
    department: Annotated[str | None, Query(max_length=64, description="Only the tasks "
                                            "whose RACI names it (a lead: their own)"),
                          Clean] = None,
    letter: Annotated[Letter | None, Query(description="Only where the department is "
                                                      "named as this RACI letter")] = None,
) -> dict[str, Any]:
    """Of the tasks due in the period: done on time, late, skipped, missed, open; per group
    and total. Open tasks count as overdue when due before `at` (default: today)."""
    limit = audit.Limit(access.adherence_department(user, department), letter)
    if start > end:
        raise ApiError(422, f"to: {end.isoformat()} is before from {start.isoformat()}", "to")
    as_of: date = clock.now().date()
    rows = audit.report(ctx.db, start, end, by, as_of, limit)
    return {"from": start, "to": end, "as_of": as_of, "by": by, "rows": rows}


@router.get("/events", response_model=list[AuditEventOut])
def events(
    ctx: Ctx, user: Auditor,
    entity: Annotated[str | None, Query(max_length=32, description="task, account, person, "
                                                                   "token"), Clean] = None,
    entity_id: Annotated[str | None, Query(alias="id", max_length=64), Clean] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The most recent audit events, newest first."""
    return audit.events(ctx.db, entity, entity_id, limit)


@router.get("/verify", response_model=VerifyOut)
def verify(ctx: Ctx, user: Auditor) -> dict[str, Any]:
    """What `kamflow audit verify` checks: the hash chain (`broken_at` names the first event
    that does not fit), its head against the newest signed checkpoint, every task row
    against its creation event, and the boards' counts against the tasks."""
    return audit.verify(ctx.db).as_dict()
