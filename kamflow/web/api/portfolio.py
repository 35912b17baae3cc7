"""/api/portfolio: accounts and revenue per class and state (managers and admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from kamflow import access, reports
from kamflow.web.deps import Moment, User, WebContext, context
from kamflow.web.schemas.people import PortfolioOut

router = APIRouter(prefix="/portfolio", tags=["portfolio"])
Ctx = Annotated[WebContext, Depends(context)]


@router.get("", response_model=PortfolioOut)
def summary(ctx: Ctx, user: User, clock: Moment) -> dict[str, Any]:
    """Class and key flag of the last sweep; revenue as of `at`."""
    access.may_see_portfolio(user)
    with ctx.db.connect() as conn:
        return reports.summary(conn, clock.now())
