"""The lifecycle as SVG: states as boxes on a layered layout, transitions as labelled
arrows (the playbooks page). Server-side like the charts: nothing to download."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from kamflow.web.svg import GRID, INK, MUTED, esc, num, svg, svg_text


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
        d = f"M{num(pts[0][0])},{num(pts[0][1])} C" + " ".join(
            f"{num(x)},{num(y)}" for x, y in pts[1:])
        body.append(f'<path d="{d}" fill="none" stroke="{INK}" stroke-width="1.4"{dash} '
                    f'marker-end="url(#arrow)" class="transition" data-from="{esc(src)}" '
                    f'data-to="{esc(dst)}"><title>{esc(src)} → {esc(dst)}: {esc(names)}</title>'
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
        labels.append(f'<rect x="{num(rect[0])}" y="{num(rect[1])}" width="{num(lw)}" '
                      f'height="{num(lh)}" rx="3" fill="#fff" fill-opacity="0.92" '
                      f'stroke="{GRID}"/>')
        for k, t_ in enumerate(lines):
            labels.append(svg_text(mx, rect[1] + 13 * (k + 1) - 1, t_, "middle", 10, "#333",
                                ' class="rule"'))
    for key, (x, y) in centre.items():
        fill = "#e8f1fb" if key == initial else "#f6f6f6"
        body.append(f'<g class="state" data-state="{esc(key)}">'
                    f'<rect x="{num(x - box_w / 2)}" y="{num(y - box_h / 2)}" width="{num(box_w)}" '
                    f'height="{num(box_h)}" rx="8" fill="{fill}" stroke="#4a6a8a" '
                    'stroke-width="1.5"/>'
                    + svg_text(x, y - 3, titles[key], "middle", 13, INK, ' font-weight="600"')
                    + svg_text(x, y + 14, key, "middle", 10, MUTED,
                            ' font-family="ui-monospace, monospace"') + "</g>")
    body.extend(labels)
    if initial in centre:
        x, y = centre[initial]
        sx_ = x - box_w / 2 - 34
        body.append(f'<circle cx="{num(sx_)}" cy="{num(y)}" r="6" fill="{INK}"/>'
                    f'<line x1="{num(sx_ + 6)}" y1="{num(y)}" x2="{num(x - box_w / 2 - 3)}" '
                    f'y2="{num(y)}" stroke="{INK}" stroke-width="1.4" marker-end="url(#arrow)"/>')
    return svg(width, height, body, label)
