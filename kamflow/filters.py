"""Filters that check their values: a typo is an error naming what exists, not an empty list.

`check` raises ValueError("--state: unknown state 'declned' (did you mean declining?);
known: ...") for the first unknown value: exit 2 on the command line, 422 on the API.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from kamflow.playbooks.schema import CLASSES, unknown_name
from kamflow.store.tables import DEPARTMENT, PERSON
from kamflow.store.versions import active_book
from kamflow.tasks.policy import step_id


def check(conn: Connection, *, state: str | None = None, klass: str | None = None,
          department: str | None = None, step: str | None = None,
          person: str | None = None, person_option: str = "assignee") -> None:
    """Refuse an unknown state, class, department, step (state.key) or person (email)."""
    if state is not None or step is not None:
        book = active_book(conn)
        if state is not None and state not in book.lifecycle.states:
            raise ValueError("--state: " + unknown_name("state", state, book.lifecycle.states))
        steps = {step_id(s, st) for s, pb in book.states.items() for st in pb.steps}
        if step is not None and step not in steps:
            raise ValueError("--step: " + unknown_name("step", step, steps))
    if klass is not None and klass not in CLASSES:
        raise ValueError("--class: " + unknown_name("class", klass, CLASSES))
    if department is not None:
        known = set(conn.execute(select(DEPARTMENT.c.key)).scalars())
        if department not in known:
            raise ValueError("--department: " + unknown_name("department", department, known))
    if person is not None:
        found = conn.execute(select(PERSON.c.email).where(PERSON.c.email == person)).first()
        if found is None:
            emails = conn.execute(select(PERSON.c.email).order_by(PERSON.c.email)).scalars().all()
            message = unknown_name("person", person, emails)
            if len(emails) > 8:  # name the nearest, not the whole directory
                message = message.split("; known:")[0] + (
                    f"; {len(emails)} people are known (kamflow people list)")
            raise ValueError(f"--{person_option}: {message}")
