"""Everyone who can be routed to, loaded once per sweep: people, their departments, leads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select

from kamflow.store.tables import PERSON


@dataclass(frozen=True)
class Directory:
    """Everyone, loaded once per sweep: routing needs departments and leads."""

    people: Mapping[str, tuple[bool, str]]
    leads: Mapping[str, str]

    @classmethod
    def load(cls, conn: Connection) -> Directory:
        people: dict[str, tuple[bool, str]] = {}
        leads: dict[str, str] = {}
        q = select(PERSON.c.email, PERSON.c.active, PERSON.c.department, PERSON.c.role).order_by(
            PERSON.c.email
        )
        for r in conn.execute(q):
            people[r.email] = (bool(r.active), r.department)
            if r.active and r.role == "department_lead":
                leads.setdefault(r.department, r.email)
        return cls(people, leads)
