"""The errors a person can cause, shared by every use case and caught by cli/ and web/.

Each says what was wrong in one line; raising one means nothing was changed.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError

# What the database says when another transaction won a race (a unique key, a lock), and
# when it cannot be reached: the web answers 409 and 503 to them.
Conflict = IntegrityError
DatabaseDown = OperationalError


class NotFound(LookupError):
    """An id, e-mail or name that the store does not hold."""


class Refused(ValueError):
    """A request that would break a rule; nothing was changed."""


class NoPlaybooks(RuntimeError):
    def __init__(self) -> None:
        super().__init__("no playbooks loaded: run `kamflow init` first")
