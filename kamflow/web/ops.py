"""For operators: GET /healthz and GET /metrics (Prometheus text format, written by hand).

/healthz needs no login: 200 `{"status": "ok"}` when the database answers and its schema is
at the newest migration, else 503. /metrics needs a manager's or admin's session or token
(Prometheus: `authorization: {credentials: <token>}`) unless KAMFLOW_METRICS_PUBLIC=true.
Tables that another part of kamflow may not have made yet (`outbox`, `job_run`) are skipped.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from kamflow import access
from kamflow.database import is_current as schema_is_current
from kamflow.jobs import health
from kamflow.people import Principal
from kamflow.web.deps import WebContext, context, optional_user
from kamflow.web.errors import ERRORS, ApiError
from kamflow.web.schemas.people import HealthOut

router = APIRouter(tags=["operations"])
Ctx = Annotated[WebContext, Depends(context)]
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "Database down or not migrated"}})
def healthz(ctx: Ctx) -> Any:
    try:
        current = schema_is_current(ctx.db)
    except Exception as e:  # any failure to reach the database
        return JSONResponse({"status": "unavailable", "detail": type(e).__name__},
                            status_code=503)
    if not current:
        return JSONResponse({"status": "outdated", "detail": "run `kamflow init`"},
                            status_code=503)
    return {"status": "ok", "detail": None}


class RequestCounter:
    """HTTP responses served by this process, by method and status code."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()

    def add(self, method: str, health: int) -> None:
        self.counts[(method, health)] += 1


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"},
                       401: ERRORS[401], 403: ERRORS[403]})
def metrics(ctx: Ctx, request: Request,
            user: Annotated[Principal | None, Depends(optional_user)]) -> Response:
    if not ctx.settings.metrics_public:
        if user is None:
            raise ApiError(401, "metrics need a manager's or admin's token",
                           headers={"WWW-Authenticate": "Bearer"})
        access.may_read_metrics(user)
    counter: RequestCounter = request.app.state.requests
    body = health.metrics(ctx.db, ctx.clock.now().date(), counter.counts)
    return Response(body, media_type=TEXT_FORMAT)
