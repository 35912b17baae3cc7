"""One typed handle per table, for the SQLAlchemy Core queries of the store and use cases.

SQLModel declares `__table__` on each model at run time only; reading it here, once and
typed, spares every query module an alias and a `type: ignore`.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlmodel import SQLModel

from kamflow.store import models


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


ACCOUNT = _table(models.Account)
ACCOUNT_EVENT = _table(models.AccountEvent)
ACCOUNT_PLAN = _table(models.AccountPlan)
API_TOKEN = _table(models.ApiToken)
AUDIT_CHECKPOINT = _table(models.AuditCheckpoint)
AUDIT_EVENT = _table(models.AuditEvent)
CONTACT = _table(models.Contact)
DEPARTMENT = _table(models.Department)
FEEDBACK = _table(models.Feedback)
JOB_RUN = _table(models.JobRun)
LOGIN_ATTEMPT = _table(models.LoginAttempt)
LOGIN_THROTTLE = _table(models.LoginThrottle)
MARGIN = _table(models.Margin)
NOTICE = _table(models.Notice)
NOTIFICATION_PREF = _table(models.NotificationPref)
OUTBOX = _table(models.Outbox)
PERSON = _table(models.Person)
PLAN_ENTRY = _table(models.PlanEntry)
PLAYBOOK_VERSION = _table(models.PlaybookVersion)
REVENUE = _table(models.Revenue)
SETTING = _table(models.Setting)
TASK = _table(models.Task)
TASK_PARTY = _table(models.TaskParty)
TASK_TALLY = _table(models.TaskTally)
TRANSITION = _table(models.Transition)
WEB_SECRET = _table(models.WebSecret)
WEB_SESSION = _table(models.WebSession)
