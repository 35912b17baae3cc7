"""The base of every playbook model: frozen, no unknown keys, stripped strings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

KEY = r"^[a-z][a-z0-9_]*$"


def no_twins(keys: list[str], problem: str) -> None:
    twins = sorted({k for k in keys if keys.count(k) > 1})
    if twins:
        raise ValueError(f"{problem}: {', '.join(twins)}")


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
