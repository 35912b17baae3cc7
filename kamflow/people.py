"""Who is calling, in the store: passwords, API tokens, the login rate limit, calendar
tokens, the session key and the demo logins. No web framework here: the CLI
(kamflow.cli.web) uses the same functions; FastAPI's side is kamflow.web.deps.

- A person logs in with a password, kept as an argon2 hash in `person.password_hash`
  (None: cannot log in). Setting one appends a `password_set` audit event.
- Scripts use API tokens (`api_token`): the secret (`kft_...`) is shown once, only its
  sha256 is kept, a revoked token stays in the table with `revoked_at`.
- The login throttle (kamflow.store.throttle) counts failed logins per email and address,
  per email, per address and in total; past each key's free failures a try must wait an
  exponentially growing delay (429 with Retry-After), so a flood slows the owner down
  without locking them out. A success clears the email-and-address failures.
- Web sessions are server-side rows (kamflow.store.sessions): logout ends one, a new
  password or a deactivation ends all of a person's at once.
- The calendar feed URL carries a random secret; `person.calendar_token` keeps its sha256,
  so a new one (rotation) makes the old URL unknown.
- Session cookies are signed with KAMFLOW_SECRET_KEY, or else with a key made on first use
  and kept in `web_secret`, so that every process of one installation agrees.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, update

from kamflow import filters, security
from kamflow.engine.clock import Clock
from kamflow.errors import NotFound, Refused
from kamflow.playbooks.schema import unknown_name
from kamflow.store import audit, changes, sessions, throttle
from kamflow.store.bulk import upsert
from kamflow.store.models import ROLES as ROLES
from kamflow.store.tables import ACCOUNT, API_TOKEN, DEPARTMENT, PERSON, TASK, WEB_SECRET

LOGIN_FAILURES = 5  # per email and address, then 1 s, 2 s, 4 s ... (at most 15 min) between tries
EMAIL_FAILURES = 20  # per email from any address, then the same (at most 5 min)
ADDRESS_FAILURES = 50  # per address for any email (at most 15 min)
GLOBAL_FAILURES = 1000  # everyone together (at most 30 s)
LOGIN_WINDOW = timedelta(minutes=15)
DEMO_PASSWORD = "kamflow-demo"


@dataclass(frozen=True)
class Principal:
    """The person a request acts for. `via` is "session" (cookie), "token" (bearer) or
    "cli"; `csrf` is the session's CSRF token (None for tokens)."""

    email: str
    name: str
    role: str
    department: str
    via: str = "session"
    csrf: str | None = None
    token_id: int | None = None
    session: str | None = None  # sha256 of the session's secret (logout ends it)


class LoginFailed(Exception):
    """Wrong email or password, or a person who cannot log in: one message for all."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


def _principal(row: Any, **kw: Any) -> Principal:
    return Principal(row.email, row.name, row.role, row.department, **kw)


# -- people and passwords --------------------------------------------------------------


def person(conn: Connection, email: str) -> Any:
    """The active person's row (email, name, role, department, password_hash), or None."""
    return conn.execute(
        select(
            PERSON.c.email, PERSON.c.name, PERSON.c.role, PERSON.c.department, PERSON.c.password_hash
        ).where(PERSON.c.email == email, PERSON.c.active.is_(True))
    ).first()


def set_password(db: Engine, email: str, password: str, clock: Clock,
                 actor: str | None = None) -> None:
    """Give a person a (new) password; raises ValueError for one that breaks the rules."""
    hashed = security.hash_password(password)
    with db.begin() as conn:
        found = conn.execute(select(PERSON.c.active).where(PERSON.c.email == email)).first()
        if found is None:
            raise NotFound(f"unknown person '{email}'")
        if not found.active:
            raise Refused(f"'{email}' is deactivated")
        conn.execute(update(PERSON).where(PERSON.c.email == email).values(password_hash=hashed))
        sessions.revoke_all(conn, email, clock.now(), "password")
        audit.append(conn, [{"at": clock.now(), "actor": actor or "operator", "entity": "person",
                             "entity_id": email, "action": "password_set", "before": None,
                             "after": None}])


def create_person(db: Engine, email: str, name: str, department: str, role: str,
                  password: str | None, clock: Clock, actor: str | None = None) -> None:
    if role not in ROLES:
        raise ValueError(f"role: '{role}' is not one of {', '.join(ROLES)}")
    hashed = security.hash_password(password) if password is not None else None
    with db.begin() as conn:
        if conn.execute(select(DEPARTMENT.c.key).where(DEPARTMENT.c.key == department)).first() is None:
            known = ", ".join(
                conn.execute(select(DEPARTMENT.c.key).order_by(DEPARTMENT.c.key)).scalars()
            )
            raise ValueError(f"department: unknown department '{department}'; known: {known}")
        if conn.execute(select(PERSON.c.email).where(PERSON.c.email == email)).first() is not None:
            raise Refused(f"'{email}' already exists")
        conn.execute(PERSON.insert().values(email=email, name=name, department=department, role=role,
                                       active=True, password_hash=hashed))
        changes.mark_people(conn, [email])  # an account may already name them as sponsor
        audit.append(conn, [{"at": clock.now(), "actor": actor or "operator", "entity": "person",
                             "entity_id": email, "action": "created", "before": None,
                             "after": {"name": name, "department": department, "role": role}}])


def list_people(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            PERSON.c.email,
            PERSON.c.name,
            PERSON.c.department,
            PERSON.c.role,
            PERSON.c.active,
            PERSON.c.password_hash.is_not(None).label("can_log_in"),
        ).order_by(PERSON.c.email)
    )
    return [dict(r._mapping) for r in rows]


def directory(db: Engine, role: str | None = None, department: str | None = None
              ) -> list[dict[str, Any]]:
    """Who is who (`kamflow people list`): each person with the accounts they own or sponsor
    and their open tasks. An unknown role or department is an error naming the known ones."""
    if role is not None and role not in ROLES:
        raise ValueError("--role: " + unknown_name("role", role, ROLES))
    with db.connect() as conn:
        filters.check(conn, department=department)
        owned = dict(conn.execute(select(ACCOUNT.c.owner_email, func.count())
                                  .group_by(ACCOUNT.c.owner_email)).tuples().all())
        sponsored = dict(conn.execute(
            select(ACCOUNT.c.sponsor_email, func.count())
            .where(ACCOUNT.c.sponsor_email.is_not(None))
            .group_by(ACCOUNT.c.sponsor_email)).tuples().all())
        tasks = dict(conn.execute(select(TASK.c.assignee, func.count())
                                  .where(TASK.c.status.in_(("open", "snoozed")),
                                         TASK.c.assignee.is_not(None))
                                  .group_by(TASK.c.assignee)).tuples().all())
        rows = list_people(conn)
    return [{**r, "accounts_owned": int(owned.get(r["email"], 0)),
             "accounts_sponsored": int(sponsored.get(r["email"], 0)),
             "open_tasks": int(tasks.get(r["email"], 0))}
            for r in rows if (role is None or r["role"] == role)
            and (department is None or r["department"] == department)]


# -- logging in --------------------------------------------------------------------------


def login_limits(email: str, ip: str) -> list[throttle.Limit]:
    """The throttle keys one try counts against: the email from this address (the owner
    retrying), the email from anywhere, the address for any email, and everyone."""
    return [throttle.Limit(f"pair:{email}|{ip}", LOGIN_FAILURES, LOGIN_WINDOW),
            throttle.Limit(f"email:{email}", EMAIL_FAILURES, timedelta(minutes=5)),
            throttle.Limit(f"addr:{ip}", ADDRESS_FAILURES, LOGIN_WINDOW),
            throttle.Limit("all", GLOBAL_FAILURES, timedelta(seconds=30))]


def login(db: Engine, email: str, password: str, ip: str, clock: Clock) -> Principal:
    """Check a password login against the throttle; raise RateLimited or LoginFailed.
    The try is counted (in one locked step with the check of the limit) before the
    password is verified, and given back when it was right."""
    now = clock.now()
    email = email.strip().lower()[:254]
    ip = ip[:64]
    limits = login_limits(email, ip)
    with db.begin() as conn:
        wait = throttle.reserve(conn, limits, now, LOGIN_WINDOW)
    if wait is not None:
        raise RateLimited(wait)
    with db.connect() as conn:
        row = person(conn, email)
    if row is None or not security.verify_password(row.password_hash, password):
        raise LoginFailed("wrong email or password")
    with db.begin() as conn:
        throttle.succeeded(conn, limits, limits[0].key)
        throttle.prune(conn, now - timedelta(days=1))  # keep it small
        if security.needs_rehash(row.password_hash):
            conn.execute(update(PERSON).where(PERSON.c.email == email)
                         .values(password_hash=security.hash_password(password)))
    return _principal(row)


# -- sessions ------------------------------------------------------------------------------


def open_session(db: Engine, email: str, clock: Clock, max_age: timedelta) -> str:
    """A new server-side session for a person who just logged in: its secret, for the
    cookie (the store keeps only its sha256)."""
    secret = security.new_secret()
    now = clock.now()
    with db.begin() as conn:
        sessions.prune(conn, now - max_age - timedelta(days=1))
        sessions.create(conn, security.digest(secret), email, now)
    return secret


def session_is_live(conn: Connection, secret: str, email: str, clock: Clock,
                    max_age: timedelta) -> bool:
    return bool(secret) and sessions.is_live(conn, security.digest(secret), email,
                                             clock.now() - max_age)


def close_session(db: Engine, session: str, clock: Clock) -> None:
    """Logout: the session (the sha256 a Principal carries) ends now, on every device
    that holds its cookie."""
    with db.begin() as conn:
        sessions.revoke(conn, session, clock.now(), "logout")


def end_sessions(conn: Connection, email: str, at: datetime, why: str) -> int:
    """End every session of a person inside the caller's transaction (a new password,
    a deactivation); how many were live."""
    return sessions.revoke_all(conn, email, at, why)


def session_key(db: Engine, configured: str | None, clock: Clock) -> bytes:
    """The key session cookies are signed with: the configured one, else the stored one,
    made on first use (every process of one installation reads the same row)."""
    if configured:
        return configured.encode("utf-8")
    with db.begin() as conn:
        upsert(conn, WEB_SECRET, [{"name": "session", "value": secrets.token_hex(32),
                           "created_at": clock.now()}], ["name"])
        value = conn.execute(
            select(WEB_SECRET.c.value).where(WEB_SECRET.c.name == "session")
        ).scalar_one()
    return bytes.fromhex(value)


# -- API tokens ------------------------------------------------------------------------


def create_token(db: Engine, email: str, name: str, clock: Clock,
                 actor: str | None = None) -> tuple[int, str]:
    """A new token for an active person: (id, secret). The secret is not kept."""
    if not name.strip():
        raise ValueError("name: a token needs a name")
    secret = security.new_secret(security.TOKEN_PREFIX)
    at = clock.now()
    with db.begin() as conn:
        if person(conn, email) is None:
            raise NotFound(f"unknown person '{email}'")
        token_id = conn.execute(API_TOKEN.insert().values(
            email=email, name=name.strip(), token_hash=security.digest(secret), created_at=at,
        ).returning(API_TOKEN.c.id)).scalar_one()
        audit.append(conn, [{"at": at, "actor": actor or "operator", "entity": "token",
                             "entity_id": str(token_id), "action": "created", "before": None,
                             "after": {"email": email, "name": name.strip()}}])
    return int(token_id), secret


def token_row(conn: Connection, token_id: int) -> Any:
    return conn.execute(
        select(
            API_TOKEN.c.id,
            API_TOKEN.c.email,
            API_TOKEN.c.name,
            API_TOKEN.c.created_at,
            API_TOKEN.c.revoked_at,
        ).where(API_TOKEN.c.id == token_id)
    ).first()


def list_tokens(conn: Connection, email: str | None = None) -> list[dict[str, Any]]:
    q = select(
        API_TOKEN.c.id,
        API_TOKEN.c.email,
        API_TOKEN.c.name,
        API_TOKEN.c.created_at,
        API_TOKEN.c.revoked_at,
    ).order_by(API_TOKEN.c.id)
    if email is not None:
        q = q.where(API_TOKEN.c.email == email)
    return [dict(r._mapping) for r in conn.execute(q)]


def revoke_token(db: Engine, token_id: int, clock: Clock, actor: str | None = None) -> Any:
    """Revoke a token (again is fine: it stays revoked from the first time); its row after."""
    at = clock.now()
    with db.begin() as conn:
        row = token_row(conn, token_id)
        if row is None:
            raise NotFound(f"unknown token {token_id}")
        if row.revoked_at is None:
            conn.execute(update(API_TOKEN).where(API_TOKEN.c.id == token_id).values(revoked_at=at))
            audit.append(conn, [{"at": at, "actor": actor or "operator", "entity": "token",
                                 "entity_id": str(token_id), "action": "revoked",
                                 "before": None, "after": {"email": row.email}}])
        return token_row(conn, token_id)


def principal_for_token(conn: Connection, secret: str) -> Principal | None:
    """The active person a live token belongs to, or None."""
    if not secret.startswith(security.TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = conn.execute(
        select(API_TOKEN.c.id, PERSON.c.email, PERSON.c.name, PERSON.c.role, PERSON.c.department)
        .select_from(API_TOKEN.join(PERSON, PERSON.c.email == API_TOKEN.c.email))
        .where(API_TOKEN.c.token_hash == security.digest(secret), API_TOKEN.c.revoked_at.is_(None),
               PERSON.c.active.is_(True))
    ).first()
    return _principal(row, via="token", token_id=row.id) if row is not None else None


# -- calendar feed ---------------------------------------------------------------------


def rotate_calendar_token(db: Engine, email: str) -> str:
    """A new secret for the person's calendar URL; the old URL stops working."""
    secret = security.new_secret()
    with db.begin() as conn:
        done = conn.execute(update(PERSON).where(PERSON.c.email == email, PERSON.c.active.is_(True))
                            .values(calendar_token=security.digest(secret)))
        if done.rowcount != 1:
            raise NotFound(f"unknown person '{email}'")
    return secret


def person_for_calendar(conn: Connection, secret: str) -> Any:
    """The active person whose calendar URL carries `secret` (email, name), or None."""
    if not secret or len(secret) > 200:
        return None
    return conn.execute(select(PERSON.c.email, PERSON.c.name).where(
        and_(PERSON.c.calendar_token == security.digest(secret), PERSON.c.active.is_(True)))).first()


# -- demo ------------------------------------------------------------------------------


def set_demo_passwords(db: Engine, clock: Clock | None = None) -> list[tuple[str, str, str]]:
    """Give one active person of each role the password "kamflow-demo" and return (email,
    role, password) for each, to print as the demo's logins. Each is the one whose pages
    are fullest: the account manager with tasks due today and overdue, and the most open tasks
    of their own, the lead of the
    department with the most open work, the manager sponsoring the most accounts."""
    from kamflow.clock import SystemClock

    clock = clock or SystemClock()
    live = TASK.c.status.in_(("open", "snoozed"))
    mine = (select(func.count()).where(TASK.c.assignee == PERSON.c.email, live)
            .correlate(PERSON).scalar_subquery())
    board = (select(func.count()).where(live, (TASK.c.responsible_dept == PERSON.c.department)
                                        | (TASK.c.queue == PERSON.c.department))
             .correlate(PERSON).scalar_subquery())
    sponsored = (select(func.count()).where(ACCOUNT.c.sponsor_email == PERSON.c.email)
                 .correlate(PERSON).scalar_subquery())
    today = clock.now().date()
    own = and_(TASK.c.assignee == PERSON.c.email, TASK.c.status == "open")
    due_today = (select(func.count()).where(own, TASK.c.due == today).correlate(PERSON)
                 .scalar_subquery())
    overdue = (select(func.count()).where(own, TASK.c.due < today).correlate(PERSON)
               .scalar_subquery())
    # the account manager whose queue shows every section: due today, overdue, then the most
    fullest = {"account_manager": [(due_today > 0).desc(), (overdue > 0).desc(), mine.desc()],
               "department_lead": [board.desc()], "manager": [sponsored.desc()]}
    logins: list[tuple[str, str, str]] = []
    with db.connect() as conn:
        for role in ROLES:
            q = select(PERSON.c.email).where(PERSON.c.role == role, PERSON.c.active.is_(True))
            if role in fullest:
                q = q.order_by(*fullest[role])
            email = conn.execute(q.order_by(PERSON.c.email).limit(1)).scalar()
            if email is not None:
                logins.append((email, role, DEMO_PASSWORD))
    for email, _, password in logins:
        set_password(db, email, password, clock, actor="demo")
    return logins


def queue_sizes(db: Engine, email: str, today: date) -> dict[str, int]:
    """A person's own open tasks: overdue, due today, upcoming; and the open tasks their
    department is Responsible or Accountable for (its board), for the demo's logins."""
    live = and_(TASK.c.assignee == email, TASK.c.status == "open")
    with db.connect() as conn:
        row = conn.execute(select(
            func.count().filter(TASK.c.due < today),
            func.count().filter(TASK.c.due == today),
            func.count().filter(TASK.c.due > today)).where(live)).one()
        dept = conn.execute(select(PERSON.c.department).where(PERSON.c.email == email)).scalar()
        board = conn.execute(select(func.count()).where(
            TASK.c.status.in_(("open", "snoozed")),
            (TASK.c.responsible_dept == dept) | (TASK.c.accountable_dept == dept))).scalar()
    return {"overdue": int(row[0]), "due_today": int(row[1]), "upcoming": int(row[2]),
            "board": int(board or 0)}
