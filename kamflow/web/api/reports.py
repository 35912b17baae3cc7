"""/api/reports/{name}: the portfolio analytics of kamflow.reports (portfolio, losses,
investment, sponsors: key accounts without a senior owner), the same JSON as
`kamflow report NAME --json`; managers and admins, as /api/portfolio."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from kamflow import access, reports
from kamflow.web.deps import Moment, User, WebContext, context
from kamflow.web.errors import ApiError
from kamflow.web.schemas.base import Output

router = APIRouter(prefix="/reports", tags=["reports"])
Ctx = Annotated[WebContext, Depends(context)]
Share = float | None  # null where the whole is 0


class Span(Output):
    start: str = Field(alias="from")
    end: str = Field(alias="to")


class Figures(Output):
    accounts: int
    revenue_t12: float
    potential: float
    wallet_gap: float
    revenue_share: Share
    wallet_share: Share


class ClassFigures(Figures):
    states: dict[str, int]


class ListedAccount(Output):
    id: str
    name: str
    klass: str = Field(alias="class")
    state: str
    key_account: bool
    revenue_t12: float
    revenue_share: Share
    potential: float
    gap: float


class KeyAccounts(Output):
    accounts: int
    revenue_t12: float
    revenue_share: Share
    accounts_list: list[ListedAccount] = Field(alias="list")


class PortfolioReportOut(Output):
    report: Literal["portfolio"]
    as_of: str
    revenue_months: Span
    note: str
    accounts: int
    revenue_t12: float
    potential: float
    wallet_gap: float
    wallet_share: Share
    classes: dict[str, ClassFigures]
    states: dict[str, Figures]
    top: int
    top_gaps: list[ListedAccount]
    concentration: dict[str, Share]
    threshold: float
    above_threshold: list[ListedAccount]
    key_accounts: KeyAccounts


class LostAccount(Output):
    id: str
    name: str
    klass: str = Field(alias="class")
    lost_at: str
    rule: str
    revenue: float
    potential: float
    cause: str
    won_back_at: str | None
    won_back_to: str | None


class LossYear(Output):
    year: int
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    customers_at_start: int
    lost: int
    loss_rate: Share
    lost_revenue: float
    lost_potential: float
    causes: dict[str, int]
    won_back: int
    accounts: list[LostAccount]


class LossesReportOut(Output):
    report: Literal["losses"]
    as_of: str
    note: str
    years: list[LossYear]


class DueDone(Output):
    due: int
    done: int


class Effort(Output):
    accounts: int
    revenue_t12: float
    potential: float
    wallet_gap: float
    tasks_due: int
    tasks_done: int
    done_on_time: int
    hours_due: float  # each task weighs its step's effort_hours (1 when undeclared)
    hours_done: float
    on_time_share: Share
    departments: dict[str, DueDone]


class ClassEffort(Effort):
    effort_share: Share
    revenue_share: Share
    gap_share: Share
    effort_minus_gap_share: Share
    verdict: str


class InvestmentReportOut(Output):
    report: Literal["investment"]
    as_of: str
    window: Span
    revenue_months: Span
    note: str
    classes: dict[str, ClassEffort]
    total: Effort


class UnsponsoredAccount(Output):
    id: str
    name: str
    klass: str = Field(alias="class")
    state: str
    owner: str
    owner_lead: str | None
    sponsor: str | None
    problem: str
    key_reason: str


class SponsorsReportOut(Output):
    report: Literal["sponsors"]
    as_of: str
    note: str
    senior_departments: list[str]
    key_accounts: int
    without_senior_sponsor: int
    accounts: list[UnsponsoredAccount]


ReportOut = Annotated[PortfolioReportOut | LossesReportOut | InvestmentReportOut
                      | SponsorsReportOut, Field(discriminator="report")]


@router.get("/{name}", response_model=ReportOut)
def report(
    ctx: Ctx, user: User, clock: Moment,
    name: Annotated[str, Path(max_length=40,
                              description="portfolio | losses | investment | sponsors")],
    top: Annotated[int, Query(ge=1, le=1000, description="portfolio: accounts in the "
                                                          "top-gap list")] = reports.TOP,
    threshold: Annotated[float, Query(gt=0, le=1, description="portfolio: list the accounts "
                                      "above this share of all revenue")] = reports.THRESHOLD,
) -> dict[str, Any]:
    """One report as of `at`. Class and key flag are those of the last sweep; revenue is the
    12 complete months before `at`'s month."""
    access.may_see_portfolio(user)
    if name not in reports.REPORTS:
        raise ApiError(404, f"name: unknown report '{name}'; reports: "
                            f"{', '.join(reports.REPORTS)}", "name")
    with ctx.db.connect() as conn:
        return reports.report(conn, name, clock.now(), top, threshold)
