"""/api/accounts/{id}/plan: an account's plan for a fiscal year, read and saved as YAML, and
what changed between two of its revisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from kamflow import access, plans
from kamflow.web.deps import ActingMoment, Moment, User, WebContext, context
from kamflow.web.schemas.accounts import PlanChange, PlanIn, PlanOut, PlanSaved
from kamflow.web.schemas.base import MAX_ID, Clean, Output

router = APIRouter(prefix="/accounts", tags=["plans"])
Ctx = Annotated[WebContext, Depends(context)]
AccountId = Annotated[str, Path(min_length=1, max_length=64), Clean]
Year = Annotated[int | None, Query(ge=1900, le=9999,
                                   description="Fiscal year (default: the one `at` falls in).")]


class PlanDiffOut(Output):
    """Field by field, what changed from one revision of the plan to another."""

    account: str
    fiscal_year: int
    first: int = Field(alias="from")
    second: int = Field(alias="to")
    changes: list[PlanChange]


@router.get("/{account_id}/plan", response_model=PlanOut)
def show_plan(ctx: Ctx, user: User, account_id: AccountId, clock: Moment,
              year: Year = None) -> dict[str, object]:
    """The plan, its target attainment now, its quarterly evaluations and its history."""
    with ctx.db.connect() as conn:
        access.visible_account(conn, user, account_id)
        return plans.show(conn, account_id, year, clock.now())


@router.put("/{account_id}/plan", response_model=PlanSaved)
def save_plan(ctx: Ctx, user: User, account_id: AccountId, body: PlanIn,
              clock: ActingMoment) -> dict[str, object]:
    """Validate the YAML and store it as the plan of its fiscal year (a new revision if it
    changed). A problem is a 422 naming the line and the field; nothing is saved then."""
    with ctx.db.connect() as conn:
        access.may_edit_plan(user, access.visible_account(conn, user, account_id))
    return plans.save(ctx.db, account_id, body.yaml, "plan.yaml", user.email, clock)


@router.get("/{account_id}/plan/diff", response_model=PlanDiffOut, response_model_by_alias=True)
def diff_plan(ctx: Ctx, user: User, account_id: AccountId, clock: Moment,
              first: Annotated[int, Query(alias="from", ge=1, le=MAX_ID,
                                          description="The revision to compare from.")],
              second: Annotated[int, Query(alias="to", ge=1, le=MAX_ID,
                                           description="The revision to compare with.")],
              year: Year = None) -> dict[str, object]:
    """What changed between two revisions of the plan (`kamflow plan show` lists them): each
    field with its value in the first and in the second. An unknown revision is a 422."""
    with ctx.db.connect() as conn:
        access.visible_account(conn, user, account_id)
        return plans.compare(conn, account_id, year, first, second, clock.now())
