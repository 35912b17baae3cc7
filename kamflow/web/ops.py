"""For operators: GET /healthz and GET /metrics (Prometheus text format, written by hand).

/healthz needs no login: 200 `{"status": "ok"}` when the database answers and its schema is
at the newest migration, else 503. /metrics needs a manager's or admin's session or token
(Prometheus: `authorization: {credentials: <token>}`) unless KAMFLOW_METRICS_PUBLIC=true.
Tables that another part of kamflow may not have made yet (`outbox`, `job_run`) are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, DateTime, String, column, func, inspect, select, table

from kamflow.db import schema_is_current
from kamflow.models import Account, Task
from kamflow.web import policy
from kamflow.web.auth import Principal
from kamflow.web.deps import WebContext, context, optional_user
from kamflow.web.errors import ERRORS, ApiError
from kamflow.web.schemas import HealthOut

router = APIRouter(tags=["operations"])
Ctx = Annotated[WebContext, Depends(context)]
T = Task.__table__  # type: ignore[attr-defined]
A = Account.__table__  # type: ignore[attr-defined]
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "Database down or not migrated"}})
def healthz(ctx: Ctx) -> Any:
    try:
        current = schema_is_current(ctx.engine)
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

    def add(self, method: str, status: int) -> None:
        self.counts[(method, status)] += 1


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _family(name: str, kind: str, help_: str,
            samples: Iterable[tuple[dict[str, object], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        number = str(int(value)) if float(value).is_integer() else repr(float(value))
        lines.append(f"{name}{{{inner}}} {number}" if inner else f"{name} {number}")
    return lines


def collect(conn: Connection, today: Any, requests: RequestCounter) -> str:
    lines: list[str] = []
    tasks = conn.execute(select(T.c.status, func.count()).group_by(T.c.status)).all()
    lines += _family("kamflow_tasks", "gauge", "Tasks by status.",
                     (({"status": s}, n) for s, n in sorted(tasks)))
    overdue = conn.execute(select(func.count()).where(T.c.status == "open", T.c.due < today)
                           ).scalar_one()
    lines += _family("kamflow_tasks_overdue", "gauge", "Open tasks past their due date.",
                     [({}, overdue)])
    escalated = conn.execute(select(func.count()).where(T.c.status.in_(("open", "snoozed")),
                                                        T.c.escalation_level > 0)).scalar_one()
    lines += _family("kamflow_tasks_escalated", "gauge", "Live tasks that were escalated.",
                     [({}, escalated)])
    states = conn.execute(select(A.c.state, func.count()).group_by(A.c.state)).all()
    lines += _family("kamflow_accounts", "gauge", "Accounts by lifecycle state.",
                     (({"state": s}, n) for s, n in sorted(states)))
    klass = func.coalesce(A.c.klass, "none")
    classes = conn.execute(select(klass, func.count()).group_by(klass)).all()
    lines += _family("kamflow_accounts_by_class", "gauge", "Accounts by class (last sweep).",
                     (({"class": c}, n) for c, n in sorted(classes)))
    have = set(inspect(conn).get_table_names())
    if "outbox" in have:
        box = table("outbox", column("status", String))
        rows = conn.execute(select(box.c.status, func.count()).group_by(box.c.status)).all()
        lines += _family("kamflow_outbox", "gauge", "Notifications in the outbox by status.",
                         (({"status": s}, n) for s, n in sorted(rows)))
    if "job_run" in have:
        runs = table("job_run", column("job", String), column("outcome", String),
                     column("finished_at", DateTime))
        rows = conn.execute(select(runs.c.job, runs.c.outcome, func.count())
                            .group_by(runs.c.job, runs.c.outcome)).all()
        lines += _family("kamflow_job_runs_total", "counter",
                         "Scheduled job runs (the sweep among them) by outcome; error = failed.",
                         (({"job": j, "outcome": o}, n) for j, o, n in sorted(rows)))
        last = conn.execute(select(runs.c.job, func.max(runs.c.finished_at))
                            .where(runs.c.outcome == "ok").group_by(runs.c.job)).all()
        lines += _family("kamflow_job_last_success_timestamp_seconds", "gauge",
                         "When each job last finished without error (Unix time, UTC).",
                         (({"job": j}, _epoch(at)) for j, at in sorted(last) if at is not None))
    lines += _family("kamflow_http_responses_total", "counter",
                     "HTTP responses of this process by method and status code.",
                     (({"method": m, "code": c}, n)
                      for (m, c), n in sorted(requests.counts.items())))
    return "\n".join(lines) + "\n"


def _epoch(at: Any) -> float:
    from datetime import UTC

    return float(at.replace(tzinfo=UTC).timestamp())


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
        policy.may_read_metrics(user)
    counter: RequestCounter = request.app.state.requests
    with ctx.engine.connect() as conn:
        body = collect(conn, ctx.clock.now().date(), counter)
    return Response(body, media_type=TEXT_FORMAT)
