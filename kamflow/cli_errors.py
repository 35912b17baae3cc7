"""The user-error handling of kamflow.cli, for the command modules registered on its app.

kamflow.cli imports those modules while it is being built, so they cannot import it at
their top; `user_errors` looks kamflow.cli.user_errors up when the command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """kamflow.cli.user_errors, looked up when the command runs."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kamflow.cli import user_errors as handled

        return handled(fn)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
