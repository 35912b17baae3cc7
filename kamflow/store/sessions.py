"""Server-side web sessions: the cookie carries a random secret, this table its sha256.

A session is live while its row is there and not revoked: logout revokes one, a new
password or a deactivation revokes every session of the person, at once (the signed
cookie alone is not enough any more).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from kamflow.store.tables import WEB_SESSION


def create(conn: Connection, sid_hash: str, email: str, now: datetime) -> None:
    conn.execute(WEB_SESSION.insert().values(id=sid_hash, email=email, created_at=now))


def is_live(conn: Connection, sid_hash: str, email: str, issued_after: datetime) -> bool:
    """True when the session exists for `email`, is not revoked and began after
    `issued_after` (older ones have expired)."""
    found = conn.execute(select(WEB_SESSION.c.id).where(
        WEB_SESSION.c.id == sid_hash, WEB_SESSION.c.email == email,
        WEB_SESSION.c.revoked_at.is_(None), WEB_SESSION.c.created_at > issued_after)).first()
    return found is not None


def revoke(conn: Connection, sid_hash: str, now: datetime, why: str) -> int:
    return conn.execute(update(WEB_SESSION).where(
        WEB_SESSION.c.id == sid_hash, WEB_SESSION.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_why=why)).rowcount


def revoke_all(conn: Connection, email: str, now: datetime, why: str) -> int:
    """End every live session of one person; how many there were."""
    return conn.execute(update(WEB_SESSION).where(
        WEB_SESSION.c.email == email, WEB_SESSION.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_why=why)).rowcount


def prune(conn: Connection, before: datetime) -> None:
    """Forget sessions begun before `before` (expired whatever their state)."""
    conn.execute(delete(WEB_SESSION).where(WEB_SESSION.c.created_at < before))
