"""Reading accounts with their "why", and moving one by hand along a declared transition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from kamflow import filters
from kamflow.engine.assess import full_metrics, next_baseline
from kamflow.engine.classify import retention_score
from kamflow.engine.clock import Clock
from kamflow.errors import NotFound, Refused
from kamflow.store import audit, changes, facts, outbox, task_writes
from kamflow.store.tables import ACCOUNT, PERSON, TRANSITION
from kamflow.store.versions import active_book, active_version, lifecycle_of
from kamflow.sweep import jsonable


def list_accounts(conn: Connection, klass: str | None = None, state: str | None = None,
                  owner: str | None = None, key_only: bool = False, *, scope: Any = None,
                  limit: int | None = None) -> list[dict[str, Any]]:
    """`scope`: an extra condition on the account table (the web app's visibility rule).
    An unknown state, class or owner is a ValueError naming what exists."""
    filters.check(conn, state=state or None, klass=klass or None, person=owner or None,
                  person_option="owner")
    q = select(
        ACCOUNT.c.id,
        ACCOUNT.c.name,
        ACCOUNT.c.owner_email,
        ACCOUNT.c.state,
        ACCOUNT.c.state_since,
        ACCOUNT.c.klass,
        ACCOUNT.c.segment,
        ACCOUNT.c.key_account,
        ACCOUNT.c.portrait_fit,
        ACCOUNT.c.potential,
    ).order_by(ACCOUNT.c.id)
    if scope is not None:
        q = q.where(scope)
    if limit:
        q = q.limit(limit)
    if klass:
        q = q.where(ACCOUNT.c.klass == klass)
    if state:
        q = q.where(ACCOUNT.c.state == state)
    if owner:
        q = q.where(ACCOUNT.c.owner_email == owner)
    if key_only:
        q = q.where(ACCOUNT.c.key_account.is_(True))
    return [dict(r._mapping) for r in conn.execute(q)]


def show(conn: Connection, account_id: str, at: datetime) -> dict[str, Any]:
    """Metrics, class, state and the full transition history: why the account is where it is."""
    row = conn.execute(select(ACCOUNT).where(ACCOUNT.c.id == account_id)).first()
    if row is None:
        raise NotFound(f"unknown account '{account_id}'")
    book = active_book(conn)
    f = facts.load_one(conn, at, account_id, book.organization.fiscal_year_start_month)
    assert f is not None
    version = active_version(conn) or ""
    stats = changes.kept_figures(conn, at, version) \
        or facts.stats(conn, at, book.classification.key_account)
    values, c = full_metrics(f, at, book, stats)
    retention, parts = retention_score(values, f.criteria, book.classification)
    history = conn.execute(
        select(TRANSITION)
        .where(TRANSITION.c.account_id == account_id)
        .order_by(TRANSITION.c.at, TRANSITION.c.id)
    ).all()
    rules = book.lifecycle.transitions
    described = {t.rule: (t.description or t.when or "") for t in rules}
    conditions = {t.rule: t.when for t in rules}
    return {
        "id": row.id, "name": row.name, "industry": row.industry,
        "owner": row.owner_email, "sponsor": row.sponsor_email,
        "state": row.state, "state_since": row.state_since.isoformat(),
        "as_of": at.isoformat(), "playbook_version": version or None,
        "class": c.klass, "potential_level": c.potential_level,
        "contribution_level": c.contribution_level, "segment": c.segment,
        "key_account": c.key_account, "key_reason": c.key_reason, "portrait_fit": c.portrait_fit,
        "portrait": dict(c.fit_detail), "metrics": jsonable(values),
        "retention_score": retention,
        "retention": [{"factor": p.key, "title": p.title, "value": p.value, "score": p.score,
                       "weight": p.weight, "points": p.points} for p in parts],
        "baseline_revenue": row.baseline_revenue,
        "transitions": [
            {"at": t.at.isoformat(), "from": t.from_state, "to": t.to_state, "rule": t.rule,
             "condition": conditions.get(t.rule), "description": described.get(t.rule, ""),
             "metrics": t.metrics, "actor": t.actor, "reason": t.reason,
             "playbook_version": t.playbook_version}
            for t in history
        ],
    }


def destinations(conn: Connection, state: str) -> list[dict[str, str]]:
    """Where a person may move an account that is in `state`: each state a declared
    transition leads to, with its title and the rule the move would record."""
    book = active_book(conn)
    engine = lifecycle_of(book)
    return [{"state": dest, "title": book.lifecycle.states[dest].title,
             "rule": engine.move(state, dest)} for dest in engine.destinations(state)]


@dataclass(frozen=True)
class Moved:
    account_id: str
    source: str
    dest: str
    rule: str
    at: datetime


def move(db: Engine, account_id: str, dest: str, reason: str, actor: str | None,
         clock: Clock) -> Moved:
    """A person's move: only along a declared transition, with a reason, recorded like any other."""
    if not reason.strip():
        raise Refused("--reason: a manual move needs a reason")
    at = clock.now()
    with db.begin() as conn:
        row = conn.execute(
            select(ACCOUNT.c.state, ACCOUNT.c.state_since, ACCOUNT.c.baseline_revenue)
            .where(ACCOUNT.c.id == account_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"unknown account '{account_id}'")
        book = active_book(conn)
        if dest not in book.lifecycle.states:
            raise Refused(f"unknown state '{dest}'; states: {', '.join(book.lifecycle.states)}")
        if actor is not None:
            active = conn.execute(select(PERSON.c.active).where(PERSON.c.email == actor)).scalar()
            if active is None:
                raise NotFound(f"--by: unknown person '{actor}'")
            if not active:
                raise Refused(f"--by: '{actor}' is deactivated")
        if row.state_since >= at:
            raise Refused(f"account '{account_id}' changed state at {row.state_since.isoformat()}"
                          f"; a move must come later (use a later --at)")
        rule = lifecycle_of(book).move(row.state, dest)
        f = facts.load_one(conn, at, account_id, book.organization.fiscal_year_start_month)
        assert f is not None
        stats = facts.stats(conn, at, book.classification.key_account)
        values, _ = full_metrics(f, at, book, stats)
        conn.execute(TRANSITION.insert().values(
            account_id=account_id, from_state=row.state, to_state=dest, at=at, rule=rule,
            metrics=jsonable(values), actor=actor or "operator", reason=reason.strip(),
            playbook_version=active_version(conn),
        ))
        baseline = next_baseline(book, dest, row.baseline_revenue, values)
        conn.execute(ACCOUNT.update().where(ACCOUNT.c.id == account_id).values(
            state=dest, state_since=at, state_imported=False, baseline_revenue=baseline))
        audit.append(conn, [{
            "at": at, "actor": actor or "operator", "entity": "account", "entity_id": account_id,
            "action": "transitioned", "before": {"state": row.state},
            "after": {"state": dest, "rule": rule, "reason": reason.strip(),
                      "playbook_version": active_version(conn)}}])
        outbox.on_manual_move(conn, account_id, row.state, dest, rule, active_version(conn) or "",
                              at, actor or "operator", reason.strip())
        task_writes.cancel_for_moves(conn, [(account_id, row.state, dest)], at, actor or "operator")
        task_writes.refresh_account(conn, account_id, at)
    return Moved(account_id, row.state, dest, rule, at)
