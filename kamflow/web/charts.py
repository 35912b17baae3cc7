"""Server-side SVG for the pages: no JavaScript, no chart library, nothing to download.

Every function returns one `<svg>` element as a string, with every piece of text escaped
here, so a template inserts it as it is. Sizes are in user units; the SVG scales to the
width of its container (`viewBox`, `width="100%"`).

- `line_chart`: a rate over time (the weekly on-time rate), gaps where there is no value.
- `scatter`: potential x contribution on log scales with the class boundaries.
- `hbars`: labelled horizontal bars (accounts per state, revenue concentration).
- `month_bars`: an account's revenue per month of a fiscal year against the plan's monthly
  target and the same month of the year before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kamflow.web.svg import GRID, INK, MUTED, esc, num, svg, svg_text

CLASS_COLOURS = {"A": "#1b7837", "B": "#2166ac", "C": "#d95f02", "D": "#7f7f7f"}
NO_CLASS = "#bdbdbd"


def money(value: float) -> str:
    """1234567 -> 1.2M; 45000 -> 45k."""
    v = abs(value)
    sign = "-" if value < 0 else ""
    if v >= 1e9:
        return f"{sign}{v / 1e9:.1f}B".replace(".0B", "B")
    if v >= 1e6:
        return f"{sign}{v / 1e6:.1f}M".replace(".0M", "M")
    if v >= 1e3:
        return f"{sign}{v / 1e3:.0f}k"
    return f"{sign}{v:.0f}"


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


# -- a rate over time -------------------------------------------------------------------


def line_chart(points: Sequence[tuple[str, float | None]], label: str, *,
               width: float = 960, height: float = 240,
               fmt: Callable[[float], str] = percent, y_max: float = 1.0,
               hover: Sequence[str] | None = None) -> str:
    """Points (x label, value or None) in order; the y axis runs from 0 to `y_max`."""
    left, right, top, bottom = 48, 34, 14, 36
    pw, ph = width - left - right, height - top - bottom
    body: list[str] = []
    for i in range(5):
        value = y_max * i / 4
        y = top + ph - ph * i / 4
        body.append(f'<line x1="{left}" y1="{num(y)}" x2="{num(left + pw)}" y2="{num(y)}" '
                    f'stroke="{GRID}"/>')
        body.append(svg_text(left - 6, y + 4, fmt(value), "end", 11, MUTED))
    if not points:
        body.append(svg_text(left + pw / 2, top + ph / 2, "nothing fell due in this period",
                          "middle", 13, MUTED))
        return svg(width, height, body, label)
    step = pw / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i * step if len(points) > 1 else pw / 2)
        return x, top + ph - ph * min(max(v / y_max, 0.0), 1.0)

    every = max(1, math.ceil(len(points) / 10))
    for i, (x_label, _) in enumerate(points):
        if i % every == 0 or i == len(points) - 1:
            x, _y = xy(i, 0)
            body.append(svg_text(x, top + ph + 18, x_label, "middle", 11, MUTED))
    runs: list[list[tuple[float, float]]] = [[]]
    for i, (_, v) in enumerate(points):
        if v is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(xy(i, v))
    for run in runs:
        if len(run) > 1:
            d = " ".join(f"{'M' if k == 0 else 'L'}{num(x)},{num(y)}" for k, (x, y) in
                         enumerate(run))
            body.append(f'<path d="{d}" fill="none" stroke="#2166ac" stroke-width="2.5" '
                        f'stroke-linejoin="round" class="line"/>')
    for i, (x_label, v) in enumerate(points):
        if v is None:
            continue
        x, y = xy(i, v)
        tip = hover[i] if hover else f"{x_label}: {fmt(v)}"
        body.append(f'<circle cx="{num(x)}" cy="{num(y)}" r="3.5" fill="#2166ac" class="point">'
                    f"<title>{esc(tip)}</title></circle>")
    return svg(width, height, body, label)


# -- potential x contribution -----------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    klass: str | None
    label: str


def _decades(values: Sequence[float]) -> tuple[int, int]:
    positive = [v for v in values if v > 0]
    if not positive:
        return 3, 6
    lo = math.floor(math.log10(min(positive)))
    hi = math.ceil(math.log10(max(positive)))
    return lo, max(hi, lo + 1)


def scatter(points: Sequence[Point], label: str, *, x_title: str, y_title: str,
            x_lines: Sequence[tuple[float, str]] = (), y_lines: Sequence[tuple[float, str]] = (),
            ratio_line: tuple[float, str] | None = None,
            regions: Sequence[tuple[str, tuple[float, float], tuple[float, float]]] = (),
            width: float = 720, height: float = 500) -> str:
    """Log-log scatter. Values at or below the lowest decade sit on the axis (a revenue of 0
    is drawn on the bottom edge). `x_lines`/`y_lines`: thresholds (value, name);
    `ratio_line`: y = k * x (dashed); `regions`: (letter, (x from, x to), (y from, y to)) in
    data space (0 and math.inf: the plot's edges), the letter drawn faintly in its middle."""
    left, right, top, bottom = 64, 20, 34, 48
    pw, ph = width - left - right, height - top - bottom
    xlo, xhi = _decades([p.x for p in points] + [v for v, _ in x_lines])
    ylo, yhi = _decades([p.y for p in points] + [v for v, _ in y_lines])

    def lx(v: float) -> float:
        return min(max(math.log10(v) if v > 0 else xlo, xlo), xhi)

    def ly(v: float) -> float:
        return min(max(math.log10(v) if v > 0 else ylo, ylo), yhi)

    def sx(v: float) -> float:
        return left + pw * (lx(v) - xlo) / (xhi - xlo)

    def sy(v: float) -> float:
        return top + ph - ph * (ly(v) - ylo) / (yhi - ylo)

    body = [f'<rect x="{left}" y="{top}" width="{num(pw)}" height="{num(ph)}" fill="#fcfcfc" '
            f'stroke="{GRID}"/>']
    for d in range(xlo, xhi + 1):
        x = sx(10.0 ** d)
        body.append(f'<line x1="{num(x)}" y1="{top}" x2="{num(x)}" y2="{num(top + ph)}" '
                    f'stroke="{GRID}"/>')
        body.append(svg_text(x, top + ph + 16, money(10.0 ** d), "middle", 11, MUTED))
    for d in range(ylo, yhi + 1):
        y = sy(10.0 ** d)
        body.append(f'<line x1="{left}" y1="{num(y)}" x2="{num(left + pw)}" y2="{num(y)}" '
                    f'stroke="{GRID}"/>')
        body.append(svg_text(left - 6, y + 4, money(10.0 ** d), "end", 11, MUTED))
    body.append(svg_text(left + pw / 2, height - 8, x_title, "middle", 12, INK))
    body.append(svg_text(14, top + ph / 2, y_title, "middle", 12, INK,
                      f' transform="rotate(-90 14 {num(top + ph / 2)})"'))
    for letter, (x0, x1), (y0, y1) in regions:
        cx = left + pw * ((lx(x0) + lx(x1)) / 2 - xlo) / (xhi - xlo)
        cy = top + ph - ph * ((ly(y0) + ly(y1)) / 2 - ylo) / (yhi - ylo)
        body.append(svg_text(cx, cy + 15, letter, "middle", 44, CLASS_COLOURS.get(letter, MUTED),
                          ' opacity="0.16" font-weight="700" class="region"'))
    for i, (v, name) in enumerate(x_lines):
        x = sx(v)
        body.append(f'<line x1="{num(x)}" y1="{top}" x2="{num(x)}" y2="{num(top + ph)}" '
                    f'stroke="#555" stroke-width="1.2" class="threshold"/>')
        ty = top + 12 + 14 * i
        body.append(svg_text(x + 4, ty, name, "start", 10, "#555"))
    for v, name in y_lines:
        y = sy(v)
        body.append(f'<line x1="{left}" y1="{num(y)}" x2="{num(left + pw)}" y2="{num(y)}" '
                    f'stroke="#555" stroke-width="1.2" class="threshold"/>')
        body.append(svg_text(left + pw - 4, y - 4, name, "end", 10, "#555"))
    if ratio_line is not None:
        k, name = ratio_line
        # clip y = k x to the plotted ranges
        a = max(10.0 ** xlo, 10.0 ** ylo / k)
        b = min(10.0 ** xhi, 10.0 ** yhi / k)
        if a < b:
            ax, ay, bx, by = sx(a), sy(k * a), sx(b), sy(k * b)
            body.append(f'<line x1="{num(ax)}" y1="{num(ay)}" x2="{num(bx)}" y2="{num(by)}" '
                        'stroke="#555" stroke-dasharray="5 4" class="threshold"/>')
            px, py = ax + (bx - ax) * 0.2, ay + (by - ay) * 0.2
            angle = math.degrees(math.atan2(by - ay, bx - ax))
            body.append(svg_text(px, py - 5, name, "start", 10, "#555",
                              f' transform="rotate({angle:.1f} {num(px)} {num(py)})"'))
    for p in points:
        colour = CLASS_COLOURS.get(p.klass or "", NO_CLASS)
        body.append(f'<circle cx="{num(sx(p.x))}" cy="{num(sy(p.y))}" r="3.2" fill="{colour}" '
                    f'fill-opacity="0.75" class="point"><title>{esc(p.label)}</title></circle>')
    legend_x = left
    for letter, colour in [*CLASS_COLOURS.items(), ("no class", NO_CLASS)]:
        body.append(f'<circle cx="{num(legend_x + 4)}" cy="14" r="4" fill="{colour}"/>')
        body.append(svg_text(legend_x + 12, 18, f"class {letter}" if len(letter) == 1 else letter,
                          "start", 11, INK))
        legend_x += 70
    return svg(width, height, body, label)


# -- bars -------------------------------------------------------------------------------


def hbars(rows: Sequence[tuple[str, float]], label: str, *, fmt: Callable[[float], str] = str,
          top_value: float | None = None, width: float = 520, colour: str = "#2166ac") -> str:
    """One labelled bar per row; bars scale to `top_value` (default: the largest)."""
    bar, gap, left, right = 18, 8, 150, 70
    height = len(rows) * (bar + gap) + gap
    peak = top_value if top_value is not None else max((v for _, v in rows), default=0)
    pw = width - left - right
    body: list[str] = []
    for i, (name, value) in enumerate(rows):
        y = gap + i * (bar + gap)
        w = pw * value / peak if peak > 0 else 0
        body.append(svg_text(left - 8, y + bar - 5, name, "end", 12, INK))
        body.append(f'<rect x="{left}" y="{y}" width="{num(pw)}" height="{bar}" fill="#f0f0f0"/>')
        body.append(f'<rect x="{left}" y="{y}" width="{num(max(w, 0))}" height="{bar}" '
                    f'fill="{colour}" class="bar"><title>{esc(name)}: {esc(fmt(value))}</title>'
                    "</rect>")
        body.append(svg_text(left + pw + 6, y + bar - 5, fmt(value), "start", 12, INK))
    return svg(width, max(height, 30), body, label)




# -- revenue per month against the target and the year before ---------------------------


@dataclass(frozen=True)
class Month:
    key: str  # YYYY-MM
    label: str  # what the axis shows ("Jan")
    revenue: float | None  # None: the month has not begun
    previous: float | None  # the same month a year before
    target: float | None  # None: no plan target


def _nice(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def month_bars(months: Sequence[Month], label: str, *, width: float = 720,
               height: float = 260) -> str:
    """Two bars a month (the year before, grey; this year, blue) and the month's target as
    an orange tick across both; every mark has its figures as a tooltip."""
    left, right, top, bottom = 52, 10, 34, 26
    pw, ph = width - left - right, height - top - bottom
    values = [v for m in months for v in (m.revenue, m.previous, m.target) if v is not None]
    step = _nice(max(values, default=0.0) * 1.05 / 5)  # about five round steps
    ticks = max(1, math.ceil(max(values, default=0.0) * 1.05 / step))
    peak = step * ticks
    body: list[str] = []
    for i in range(ticks + 1):
        y = top + ph - ph * i / ticks
        body.append(f'<line x1="{left}" y1="{num(y)}" x2="{num(left + pw)}" y2="{num(y)}" '
                    f'stroke="{GRID}"/>')
        body.append(svg_text(left - 6, y + 4, money(step * i), "end", 11, MUTED))
    legend = [("#c7ccd4", "the year before", "rect"), ("#2166ac", "this fiscal year", "rect")]
    if any(m.target is not None for m in months):
        legend.append(("#d95f02", "target", "line"))
    x = float(left)
    for colour, name, mark in legend:
        body.append(f'<rect x="{num(x)}" y="8" width="12" height="12" fill="{colour}"/>'
                    if mark == "rect" else
                    f'<line x1="{num(x)}" y1="14" x2="{num(x + 14)}" y2="14" stroke="{colour}" '
                    'stroke-width="3"/>')
        body.append(svg_text(x + 18, 18, name, "start", 11, INK))
        x += 28 + 6.5 * len(name)
    if not values:
        body.append(svg_text(left + pw / 2, top + ph / 2, "no revenue recorded", "middle", 13,
                             MUTED))
        return svg(width, height, body, label)
    slot = pw / max(len(months), 1)

    def y_of(v: float) -> float:
        return top + ph - ph * min(max(v / peak, 0.0), 1.0)

    for i, m in enumerate(months):
        x0 = left + i * slot
        body.append(svg_text(x0 + slot / 2, top + ph + 17, m.label, "middle", 11, MUTED))
        tip = "; ".join([f"{m.key}: revenue " + ("not yet" if m.revenue is None
                                                 else money(m.revenue)),
                         f"the year before {money(m.previous or 0)}"]
                        + ([f"target {money(m.target)}"] if m.target is not None else []))
        for value, offset, colour, kind in ((m.previous, 0.14, "#c7ccd4", "previous"),
                                            (m.revenue, 0.5, "#2166ac", "revenue")):
            if value is None:
                continue
            y = y_of(value)
            body.append(f'<rect x="{num(x0 + slot * offset)}" y="{num(y)}" '
                        f'width="{num(slot * 0.36)}" height="{num(top + ph - y)}" '
                        f'fill="{colour}" class="{kind}"><title>{esc(tip)}</title></rect>')
        if m.target is not None:
            y = y_of(m.target)
            body.append(f'<line x1="{num(x0 + slot * 0.06)}" y1="{num(y)}" '
                        f'x2="{num(x0 + slot * 0.94)}" y2="{num(y)}" stroke="#d95f02" '
                        f'stroke-width="3" class="target"><title>{esc(tip)}</title></line>')
    return svg(width, height, body, label)
