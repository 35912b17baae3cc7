"""The REST API under /api: one router per resource, each route checking kamflow.access."""

from __future__ import annotations

from fastapi import APIRouter

from kamflow.web.api import (
    accounts,
    audit,
    people,
    plans,
    playbooks,
    portfolio,
    reports,
    session,
    tasks,
)
from kamflow.web.errors import ERRORS

router = APIRouter(prefix="/api", responses=ERRORS)
for module in (session, accounts, plans, tasks, playbooks, audit, people, portfolio, reports):
    router.include_router(module.router)
