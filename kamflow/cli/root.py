"""The root `kamflow` app; each command module registers its commands on it.

typer renders help with typer.rich_utils, which imports rich.markdown (markdown_it) and
rich.traceback (pygments, attrs) at its top, although help in the "rich" markup mode we use
never touches them: that was a third of what `kamflow --help` imported. So typer.rich_utils
is imported here with two stand-ins that load the real class on first use (a crash's
traceback, or help in the "markdown" markup mode): the same output, less start-up.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import typer

# rich module -> the one class typer.rich_utils takes from it
_LOADED_ON_FIRST_USE = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


class _OnFirstUse(type):
    """A class standing in for a rich class: calling it, or any attribute of it
    (`Traceback.from_exception`), imports the real class and goes to it."""

    home: str

    def real(cls) -> Any:
        return getattr(importlib.import_module(cls.home), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):  # introspection (copy, typing) must not import anything
            raise AttributeError(name)
        return getattr(cls.real(), name)


def _import_rich_utils_lightly() -> None:
    """Import typer.rich_utils with stand-ins in sys.modules for the rich modules not yet
    loaded, then take the stand-ins out again, so any later import gets the real module."""
    if "typer.rich_utils" in sys.modules:
        return
    placed = []
    for home, name in _LOADED_ON_FIRST_USE.items():
        if home not in sys.modules:
            module = types.ModuleType(home)
            setattr(module, name, _OnFirstUse(name, (), {"home": home}))
            sys.modules[home] = module
            placed.append(home)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for home in placed:
            del sys.modules[home]


_import_rich_utils_lightly()

app = typer.Typer(help="kamflow: a process engine for key account management.",
                  no_args_is_help=True, add_completion=False)
