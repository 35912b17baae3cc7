"""Server-side SVG for the pages: no JavaScript, no chart library, nothing to download.

Every function returns one `<svg>` element as a string, with every piece of text escaped
here, so a template inserts it as it is. Sizes are in user units; the SVG scales to the
width of its container (`viewBox`, `width="100%"`).

- `line_chart`: a rate over time (the weekly on-time rate), gaps where there is no value.
- `scatter`: potential x contribution on log scales with the class boundaries.
- `hbars`: labelled horizontal bars (accounts per state, revenue concentration).
- `state_diagram`: the lifecycle as boxes on a layered layout with labelled arrows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

CLASS_COLOURS = {"A": "#1b7837", "B": "#2166ac", "C": "#d95f02", "D": "#7f7f7f"}
NO_CLASS = "#bdbdbd"
INK, GRID, MUTED = "#222", "#e3e3e3", "#666"
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _n(value: float) -> str:
    """A coordinate with at most one decimal."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" '
            f'width="100%" role="img" aria-label="{_e(label)}" {FONT} font-size="12" '
            f'class="chart">' f"<title>{_e(label)}</title>" + "".join(body) + "</svg>")


def _text(x: float, y: float, text: object, anchor: str = "start", size: int = 12,
          fill: str = INK, extra: str = "") -> str:
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}"{extra}>{_e(text)}</text>')


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
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{_n(left + pw)}" y2="{_n(y)}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, fmt(value), "end", 11, MUTED))
    if not points:
        body.append(_text(left + pw / 2, top + ph / 2, "nothing fell due in this period",
                          "middle", 13, MUTED))
        return _svg(width, height, body, label)
    step = pw / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i * step if len(points) > 1 else pw / 2)
        return x, top + ph - ph * min(max(v / y_max, 0.0), 1.0)

    every = max(1, math.ceil(len(points) / 10))
    for i, (x_label, _) in enumerate(points):
        if i % every == 0 or i == len(points) - 1:
            x, _y = xy(i, 0)
            body.append(_text(x, top + ph + 18, x_label, "middle", 11, MUTED))
    runs: list[list[tuple[float, float]]] = [[]]
    for i, (_, v) in enumerate(points):
        if v is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(xy(i, v))
    for run in runs:
        if len(run) > 1:
            d = " ".join(f"{'M' if k == 0 else 'L'}{_n(x)},{_n(y)}" for k, (x, y) in
                         enumerate(run))
            body.append(f'<path d="{d}" fill="none" stroke="#2166ac" stroke-width="2.5" '
                        f'stroke-linejoin="round" class="line"/>')
    for i, (x_label, v) in enumerate(points):
        if v is None:
            continue
        x, y = xy(i, v)
        tip = hover[i] if hover else f"{x_label}: {fmt(v)}"
        body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="#2166ac" class="point">'
                    f"<title>{_e(tip)}</title></circle>")
    return _svg(width, height, body, label)


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

    body = [f'<rect x="{left}" y="{top}" width="{_n(pw)}" height="{_n(ph)}" fill="#fcfcfc" '
            f'stroke="{GRID}"/>']
    for d in range(xlo, xhi + 1):
        x = sx(10.0 ** d)
        body.append(f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{_n(top + ph)}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(x, top + ph + 16, money(10.0 ** d), "middle", 11, MUTED))
    for d in range(ylo, yhi + 1):
        y = sy(10.0 ** d)
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{_n(left + pw)}" y2="{_n(y)}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, money(10.0 ** d), "end", 11, MUTED))
    body.append(_text(left + pw / 2, height - 8, x_title, "middle", 12, INK))
    body.append(_text(14, top + ph / 2, y_title, "middle", 12, INK,
                      f' transform="rotate(-90 14 {_n(top + ph / 2)})"'))
    for letter, (x0, x1), (y0, y1) in regions:
        cx = left + pw * ((lx(x0) + lx(x1)) / 2 - xlo) / (xhi - xlo)
        cy = top + ph - ph * ((ly(y0) + ly(y1)) / 2 - ylo) / (yhi - ylo)
        body.append(_text(cx, cy + 15, letter, "middle", 44, CLASS_COLOURS.get(letter, MUTED),
                          ' opacity="0.16" font-weight="700" class="region"'))
    for i, (v, name) in enumerate(x_lines):
        x = sx(v)
        body.append(f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{_n(top + ph)}" '
                    f'stroke="#555" stroke-width="1.2" class="threshold"/>')
        ty = top + 12 + 14 * i
        body.append(_text(x + 4, ty, name, "start", 10, "#555"))
    for v, name in y_lines:
        y = sy(v)
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{_n(left + pw)}" y2="{_n(y)}" '
                    f'stroke="#555" stroke-width="1.2" class="threshold"/>')
        body.append(_text(left + pw - 4, y - 4, name, "end", 10, "#555"))
    if ratio_line is not None:
        k, name = ratio_line
        # clip y = k x to the plotted ranges
        a = max(10.0 ** xlo, 10.0 ** ylo / k)
        b = min(10.0 ** xhi, 10.0 ** yhi / k)
        if a < b:
            ax, ay, bx, by = sx(a), sy(k * a), sx(b), sy(k * b)
            body.append(f'<line x1="{_n(ax)}" y1="{_n(ay)}" x2="{_n(bx)}" y2="{_n(by)}" '
                        'stroke="#555" stroke-dasharray="5 4" class="threshold"/>')
            px, py = ax + (bx - ax) * 0.2, ay + (by - ay) * 0.2
            angle = math.degrees(math.atan2(by - ay, bx - ax))
            body.append(_text(px, py - 5, name, "start", 10, "#555",
                              f' transform="rotate({angle:.1f} {_n(px)} {_n(py)})"'))
    for p in points:
        colour = CLASS_COLOURS.get(p.klass or "", NO_CLASS)
        body.append(f'<circle cx="{_n(sx(p.x))}" cy="{_n(sy(p.y))}" r="3.2" fill="{colour}" '
                    f'fill-opacity="0.75" class="point"><title>{_e(p.label)}</title></circle>')
    legend_x = left
    for letter, colour in [*CLASS_COLOURS.items(), ("no class", NO_CLASS)]:
        body.append(f'<circle cx="{_n(legend_x + 4)}" cy="14" r="4" fill="{colour}"/>')
        body.append(_text(legend_x + 12, 18, f"class {letter}" if len(letter) == 1 else letter,
                          "start", 11, INK))
        legend_x += 70
    return _svg(width, height, body, label)


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
        body.append(_text(left - 8, y + bar - 5, name, "end", 12, INK))
        body.append(f'<rect x="{left}" y="{y}" width="{_n(pw)}" height="{bar}" fill="#f0f0f0"/>')
        body.append(f'<rect x="{left}" y="{y}" width="{_n(max(w, 0))}" height="{bar}" '
                    f'fill="{colour}" class="bar"><title>{_e(name)}: {_e(fmt(value))}</title>'
                    "</rect>")
        body.append(_text(left + pw + 6, y + bar - 5, fmt(value), "start", 12, INK))
    return _svg(width, max(height, 30), body, label)


# -- the lifecycle ----------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    source: str
    dest: str
    label: str
    manual: bool = False


def layers(states: Sequence[str], initial: str, edges: Sequence[Edge]) -> dict[str, int]:
    """Breadth-first distance from the initial state (states it cannot reach go last)."""
    out: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        out[e.source].append(e.dest)
    layer = {initial: 0} if initial in states else {}
    frontier = list(layer)
    while frontier:
        nxt = []
        for s in frontier:
            for d in out[s]:
                if d not in layer:
                    layer[d] = layer[s] + 1
                    nxt.append(d)
        frontier = nxt
    last = max(layer.values(), default=-1) + 1
    for s in states:
        layer.setdefault(s, last)
    return layer


def _order(states: Sequence[str], layer: dict[str, int], edges: Sequence[Edge]
           ) -> list[list[str]]:
    """States per layer, ordered to keep edges short (two barycentre passes). A state that
    a long move back arrives at goes to the top of its column: that move arcs above."""
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for s in states:
        columns[layer[s]].append(s)
    arcs_to = {e.dest for e in edges if layer[e.dest] - layer[e.source] <= -2}
    for _ in range(2):
        for c in range(1, len(columns)):
            pos = {s: i for i, s in enumerate(columns[c - 1])}

            def key(s: str, pos: dict[str, int] = pos, c: int = c) -> tuple[int, float]:
                near = [pos[e.source] for e in edges if e.dest == s and e.source in pos]
                near += [pos[e.dest] for e in edges if e.source == s and e.dest in pos]
                return (s not in arcs_to,
                        sum(near) / len(near) if near else columns[c].index(s))

            columns[c].sort(key=key)
    return columns


def _box_anchor(cx: float, cy: float, w: float, h: float, tx: float, ty: float
                ) -> tuple[float, float]:
    """Where the segment from the box centre towards (tx, ty) leaves the box."""
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(w / 2 / abs(dx) if dx else math.inf, h / 2 / abs(dy) if dy else math.inf)
    return cx + dx * scale, cy + dy * scale


Pt = tuple[float, float]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def _cubic(p: Sequence[Pt], t: float) -> Pt:
    u = 1 - t
    return (u ** 3 * p[0][0] + 3 * u * u * t * p[1][0] + 3 * u * t * t * p[2][0] + t ** 3 * p[3][0],
            u ** 3 * p[0][1] + 3 * u * u * t * p[1][1] + 3 * u * t * t * p[2][1] + t ** 3 * p[3][1])


def _overlap(a: Rect, b: Rect) -> float:
    """The area two rectangles share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


LABEL_TS = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82)


def state_diagram(states: Sequence[tuple[str, str]], initial: str, edges: Sequence[Edge],
                  label: str = "lifecycle") -> str:
    """States (key, title) as boxes in columns by distance from `initial`; one arrow per
    (source, dest) pair, labelled with its rules; manual-only moves dashed. Moves back over
    more than one column arc above the diagram; a label slides along its arrow
    until it covers no box and no other label."""
    keys = [k for k, _ in states]
    titles = dict(states)
    layer = layers(keys, initial, edges)
    columns = _order(keys, layer, edges)
    box_w = max(150.0, max((len(t) for t in titles.values()), default=10) * 7.6 + 24)
    box_h, col_gap, row_gap, margin, side = 50.0, 190.0, 90.0, 30.0, 50.0
    lane = 70.0 if any(layer[e.dest] - layer[e.source] <= -2 for e in edges) else 0.0
    tallest = max(len(c) for c in columns)
    inner = tallest * box_h + (tallest - 1) * row_gap
    height = inner + 2 * margin + lane
    width = side * 2 + len(columns) * box_w + (len(columns) - 1) * col_gap
    centre: dict[str, Pt] = {}
    for c, column in enumerate(columns):
        span = len(column) * box_h + (len(column) - 1) * row_gap
        y0 = margin + lane + (inner - span) / 2
        for i, s in enumerate(column):
            centre[s] = (side + c * (box_w + col_gap) + box_w / 2,
                         y0 + i * (box_h + row_gap) + box_h / 2)
    merged: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for e in edges:
        if e.source in centre and e.dest in centre:
            merged[(e.source, e.dest)].append(e)
    boxes: list[Rect] = [(x - box_w / 2 - 4, y - box_h / 2 - 4, x + box_w / 2 + 4,
                          y + box_h / 2 + 4) for x, y in centre.values()]
    placed: list[Rect] = []
    body = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{INK}"/></marker></defs>']
    labels: list[str] = []
    paths: list[tuple[list[Pt], list[str]]] = []
    for (src, dst), group in merged.items():
        (x1, y1), (x2, y2) = centre[src], centre[dst]
        span = layer[dst] - layer[src]
        if span <= -2:  # a long way back: arc above everything
            edge_y = margin + lane * 0.3
            sy_, dy_ = y1 - box_h / 2, y2 - box_h / 2
            pull = (edge_y - (sy_ + dy_) / 2) * 4 / 3
            pts: list[Pt] = [(x1 - box_w / 4, sy_), (x1 - box_w / 4, sy_ + pull),
                             (x2 + box_w / 4, dy_ + pull), (x2 + box_w / 4, dy_)]
        else:
            dx, dy = x2 - x1, y2 - y1
            length = math.hypot(dx, dy) or 1.0
            nx, ny = -dy / length, dx / length  # to the left of the direction of travel
            bow = 30.0 if (dst, src) in merged else 0.0  # the two directions bow apart
            if span == 0:
                gap = abs(columns[layer[src]].index(src) - columns[layer[dst]].index(dst))
                if gap > 1:
                    bow += box_w / 2 + 30
            mx, my = (x1 + x2) / 2 + nx * bow, (y1 + y2) / 2 + ny * bow
            qx, qy = 2 * mx - (x1 + x2) / 2, 2 * my - (y1 + y2) / 2
            ax, ay = _box_anchor(x1, y1, box_w + 6, box_h + 6, qx, qy)
            bx, by = _box_anchor(x2, y2, box_w + 6, box_h + 6, qx, qy)
            qx, qy = 2 * mx - (ax + bx) / 2, 2 * my - (ay + by) / 2
            pts = [(ax, ay), (ax + (qx - ax) * 2 / 3, ay + (qy - ay) * 2 / 3),
                   (bx + (qx - bx) * 2 / 3, by + (qy - by) * 2 / 3), (bx, by)]
        manual = all(e.manual for e in group)
        dash = ' stroke-dasharray="6 4"' if manual else ""
        names = ", ".join(e.label for e in group)
        d = f"M{_n(pts[0][0])},{_n(pts[0][1])} C" + " ".join(
            f"{_n(x)},{_n(y)}" for x, y in pts[1:])
        body.append(f'<path d="{d}" fill="none" stroke="{INK}" stroke-width="1.4"{dash} '
                    f'marker-end="url(#arrow)" class="transition" data-from="{_e(src)}" '
                    f'data-to="{_e(dst)}"><title>{_e(src)} → {_e(dst)}: {_e(names)}</title>'
                    "</path>")
        paths.append((pts, [e.label + (" (manual)" if e.manual else "") for e in group]))
    # labels: the shortest arrows first, they have the fewest places to go
    paths.sort(key=lambda p: math.dist(p[0][0], p[0][3]))
    for pts, lines in paths:
        lw = max(len(t) for t in lines) * 5.8 + 10
        lh = 13 * len(lines) + 4
        best: tuple[float, float, float, Rect] | None = None
        for t in LABEL_TS:  # the first spot that covers nothing, else the one covering least
            mx, my = _cubic(pts, t)
            rect = (mx - lw / 2, my - lh / 2, mx + lw / 2, my + lh / 2)
            cost = (sum(3 * _overlap(rect, r) for r in boxes)
                    + sum(_overlap(rect, r) for r in placed))
            if best is None or cost < best[0]:
                best = (cost, mx, my, rect)
            if cost == 0:
                break
        assert best is not None
        _, mx, my, rect = best
        placed.append(rect)
        labels.append(f'<rect x="{_n(rect[0])}" y="{_n(rect[1])}" width="{_n(lw)}" '
                      f'height="{_n(lh)}" rx="3" fill="#fff" fill-opacity="0.92" '
                      f'stroke="{GRID}"/>')
        for k, t_ in enumerate(lines):
            labels.append(_text(mx, rect[1] + 13 * (k + 1) - 1, t_, "middle", 10, "#333",
                                ' class="rule"'))
    for key, (x, y) in centre.items():
        fill = "#e8f1fb" if key == initial else "#f6f6f6"
        body.append(f'<g class="state" data-state="{_e(key)}">'
                    f'<rect x="{_n(x - box_w / 2)}" y="{_n(y - box_h / 2)}" width="{_n(box_w)}" '
                    f'height="{_n(box_h)}" rx="8" fill="{fill}" stroke="#4a6a8a" '
                    'stroke-width="1.5"/>'
                    + _text(x, y - 3, titles[key], "middle", 13, INK, ' font-weight="600"')
                    + _text(x, y + 14, key, "middle", 10, MUTED,
                            ' font-family="ui-monospace, monospace"') + "</g>")
    body.extend(labels)
    if initial in centre:
        x, y = centre[initial]
        sx_ = x - box_w / 2 - 34
        body.append(f'<circle cx="{_n(sx_)}" cy="{_n(y)}" r="6" fill="{INK}"/>'
                    f'<line x1="{_n(sx_ + 6)}" y1="{_n(y)}" x2="{_n(x - box_w / 2 - 3)}" '
                    f'y2="{_n(y)}" stroke="{INK}" stroke-width="1.4" marker-end="url(#arrow)"/>')
    return _svg(width, height, body, label)
