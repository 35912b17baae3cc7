"""Templates: `<name>.txt` and `<name>.html`, from the user's folder first, then the bundled
ones. The only module that imports jinja2.

StrictUndefined makes a missing variable an error instead of "Dear ,"; autoescaping is
decided by the final suffix (`.html`), so the html bodies escape what they show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)

BUNDLED = Path(__file__).parent / "templates"
SUFFIXES = ("txt", "html")


class TemplateError(Exception):
    """A template is missing or does not render; the message names it."""


@dataclass(frozen=True)
class Rendered:
    txt: str
    html: str


class Renderer:
    """Renders a notification's text and html bodies."""

    def __init__(self, template_dir: Path | None = None) -> None:
        folders = [str(template_dir)] if template_dir else []
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(folders), FileSystemLoader(str(BUNDLED))]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # a sweep renders thousands: no stat() per render
        )
        self._compiled: dict[str, Template] = {}

    def _template(self, file: str) -> Template:
        found = self._compiled.get(file)
        if found is None:
            found = self._compiled[file] = self.env.get_template(file)
        return found

    def has(self, name: str) -> bool:
        """Whether both `<name>.txt` and `<name>.html` exist."""
        try:
            for suffix in SUFFIXES:
                self._template(f"{name}.{suffix}")
        except TemplateNotFound:
            return False
        return True

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        """Both bodies of template `name`; TemplateError names the template that failed."""
        out: list[str] = []
        for suffix in SUFFIXES:
            file = f"{name}.{suffix}"
            try:
                out.append(self._template(file).render(context))
            except TemplateNotFound as e:
                raise TemplateError(f"template {file}: not found") from e
            except Exception as e:  # jinja2 raises many kinds; name the file in all of them
                raise TemplateError(f"template {file}: {type(e).__name__}: {e}") from e
        return Rendered(*out)


def bundled_names() -> list[str]:
    """The bundled template names (each has a .txt and a .html)."""
    return sorted({p.stem for p in BUNDLED.glob("*.txt")})
