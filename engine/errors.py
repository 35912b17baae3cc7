"""The engine's errors name the account, the state and the move that was refused."""

from __future__ import annotations


class EngineError(Exception):
    """Base of everything the engine refuses."""


class IllegalTransition(EngineError):
    def __init__(self, source: str, dest: str, allowed: list[str]) -> None:
        self.source, self.dest, self.allowed = source, dest, allowed
        options = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"no declared transition from {source} to {dest}; from {source} an account may go to: "
            f"{options}"
        )
