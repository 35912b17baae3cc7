"""The SVG primitives the charts and the lifecycle diagram share: escaped text, short
numbers, one `<svg>` element that scales to its container."""

from __future__ import annotations

from html import escape

INK, GRID, MUTED = "#222", "#e3e3e3", "#666"
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def num(value: float) -> str:
    """A coordinate with at most one decimal."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {num(width)} {num(height)}" '
            f'width="100%" role="img" aria-label="{esc(label)}" {FONT} font-size="12" '
            f'class="chart">' f"<title>{esc(label)}</title>" + "".join(body) + "</svg>")


def svg_text(x: float, y: float, text: object, anchor: str = "start", size: int = 12,
          fill: str = INK, extra: str = "") -> str:
    return (f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}"{extra}>{esc(text)}</text>')
