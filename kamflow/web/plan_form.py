"""The account plan as a form: the document's sections as fields and rows, and back.

The form edits the analysis, the SWOT, the customer's priorities, the relationship map, the
opportunities and the revenue target with its months. The other sections (touchpoints,
campaigns, training...) are kept as stored: the YAML edits them. What the form posts becomes
a plan document that kamflow.plans.save validates exactly as it validates the YAML, so the
rules and messages are the same; each problem's path (`relationships[1].influence`) is
mapped back to the field, the row or the section it is about, so the page shows it there.

Field names are the document's paths with the form's row numbers: `swot.strengths` (one
sentence a line), `relationships[0].influence`, `target.by_month.2026-03`. A row left blank,
or ticked "remove", is not in the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kamflow.playbooks.errors import Problem
from kamflow.playbooks.plan import BUYING_ROLES

Fields = tuple[str, ...]
TEXTS: dict[str, Fields] = {"analysis": ("industry", "customer")}
SENTENCES: dict[str, Fields] = {
    "swot": ("strengths", "weaknesses", "opportunities", "threats"),
    "priorities": ("short_term", "mid_term", "long_term")}
ROWS: dict[str, Fields] = {
    "relationships": ("name", "title", "role", "influence", "closeness", "owner"),
    "opportunities": ("key", "title", "status", "expected_value", "contract_value",
                      "payments_received", "expected_close")}
NUMBERS = {"influence", "closeness", "expected_value", "contract_value", "payments_received"}
PRESET = {"status"}  # always sent (a select without a blank): a row with only these is blank
ROLES = BUYING_ROLES
STATUSES = ("expected", "captured", "lost")
EDITED = (*TEXTS, *SENTENCES, *ROWS, "target")
BLANK_ROWS = 2  # empty rows offered after the filled ones
MAX_ROWS = 200  # per section: a post asking for more is refused
_ROW_NAME = re.compile(r"^(relationships|opportunities)\[(\d{1,4})\]\.([a-z_]+)$")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")


@dataclass
class PlanForm:
    """What the form shows: its values as typed, its rows, and the problems beside them."""

    year: int
    base: int  # the revision it was opened at (0: no plan yet)
    months: list[str]  # the fiscal year's months, YYYY-MM
    values: dict[str, str]
    rows: dict[str, int]  # section -> rows shown
    kept: list[str]  # other sections with content, kept as stored
    errors: dict[str, str] = field(default_factory=dict)  # field, row or section -> message
    general: list[str] = field(default_factory=list)  # problems about nothing shown here

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def error(self, name: str) -> str:
        return self.errors.get(name, "")

    @property
    def problems(self) -> int:
        return len(self.errors) + len(self.general)


def _text(value: Any) -> str:
    """A stored value as a field shows it: 120000.0 -> 120000."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _kept(document: Mapping[str, Any]) -> list[str]:
    skip = {*EDITED, "account", "fiscal_year"}
    return [k for k, v in document.items() if k not in skip and v not in (None, [], {}, "")]


def from_document(document: Mapping[str, Any], year: int, base: int, months: list[str]
                  ) -> PlanForm:
    """The form of a stored plan (an empty one for {})."""
    values: dict[str, str] = {}
    for section, names in TEXTS.items():
        for name in names:
            values[f"{section}.{name}"] = _text((document.get(section) or {}).get(name))
    for section, names in SENTENCES.items():
        for name in names:
            values[f"{section}.{name}"] = "\n".join((document.get(section) or {}).get(name) or ())
    rows: dict[str, int] = {}
    for section, names in ROWS.items():
        items = document.get(section) or []
        rows[section] = len(items) + BLANK_ROWS
        for i, item in enumerate(items):
            for name in names:
                values[f"{section}[{i}].{name}"] = _text(item.get(name))
    target = document.get("target") or {}
    values["target.revenue"] = _text(target.get("revenue"))
    for month, amount in (target.get("by_month") or {}).items():
        values[f"target.by_month.{month}"] = _text(amount)
    return PlanForm(year, base, months, values, rows, _kept(document))


def _number(text: str) -> Any:
    """What the YAML would hold for this field: a number when it reads as one; otherwise
    the text, which the model then refuses with the message the YAML would get."""
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Posted:
    form: PlanForm  # as typed, to show again
    document: dict[str, Any]  # to validate and save
    rows: dict[str, list[int]]  # section -> the form row of each item in the document


def read(posted: Mapping[str, str], stored: Mapping[str, Any], year: int, base: int,
         months: list[str]) -> Posted:
    """The posted form as a plan document: the stored one with the form's sections replaced.
    ValueError (naming the field) for a post no form of ours sends."""
    values = {k: v.replace("\r\n", "\n").strip() for k, v in posted.items()}
    document: dict[str, Any] = {k: v for k, v in stored.items() if k not in ("account",)}
    document["fiscal_year"] = year
    for section, names in TEXTS.items():
        document[section] = {n: values[f"{section}.{n}"] for n in names
                             if values.get(f"{section}.{n}")}
    for section, names in SENTENCES.items():
        document[section] = {n: [line.strip() for line in values[f"{section}.{n}"].split("\n")
                                 if line.strip()]
                             for n in names if values.get(f"{section}.{n}")}
    shown: dict[str, int] = dict.fromkeys(ROWS, 0)
    for name in posted:
        m = _ROW_NAME.match(name)
        if m:
            shown[m.group(1)] = max(shown[m.group(1)], int(m.group(2)) + 1)
    where: dict[str, list[int]] = {}
    for section, names in ROWS.items():
        if shown[section] > MAX_ROWS:
            raise ValueError(f"{section}: at most {MAX_ROWS} rows")
        items, where[section] = [], []
        for i in range(shown[section]):
            row = {n: values.get(f"{section}[{i}].{n}", "") for n in names}
            if values.get(f"{section}[{i}].remove") or not any(
                    v for n, v in row.items() if n not in PRESET):
                continue
            items.append({n: _number(v) if n in NUMBERS else v for n, v in row.items() if v})
            where[section].append(i)
        document[section] = items
    target: dict[str, Any] = {}
    if values.get("target.revenue"):
        target["revenue"] = _number(values["target.revenue"])
    by_month = {m: _number(values[f"target.by_month.{m}"]) for m in months
                if values.get(f"target.by_month.{m}")}
    if by_month:
        target["by_month"] = by_month
    lines = (stored.get("target") or {}).get("by_product_line")
    if lines:
        target["by_product_line"] = lines
    document["target"] = target or None
    rows = {s: max(shown[s], 1) for s in ROWS}
    return Posted(PlanForm(year, base, months, values, rows, _kept(stored)), document, where)


def place(posted: Posted, problems: Iterable[Problem]) -> PlanForm:
    """The form with each problem beside the field, row or section it names."""
    form = posted.form
    known = set(form.values) | {f"{s}[{i}]" for s, n in form.rows.items() for i in range(n)}
    known |= {*ROWS, "target", "target.by_month", *TEXTS, *SENTENCES}
    for p in problems:
        parts: list[str | int] = [int(i) if i else str(n) for n, i in _PART.findall(p.path)]
        if len(parts) > 1 and parts[0] in ROWS and isinstance(parts[1], int):
            rows = posted.rows[str(parts[0])]
            parts[1] = rows[parts[1]] if parts[1] < len(rows) else parts[1]
        names = [_name(parts[:k]) for k in range(len(parts), 0, -1)]
        name = next((n for n in names if n in known), None)
        if name is None:
            form.general.append(f"{p.path}: {p.message}" if p.path else p.message)
        else:
            before = form.errors.get(name)
            form.errors[name] = f"{before}; {p.message}" if before else p.message
    return form


def _name(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def field_id(name: str) -> str:
    """An element id for a field name (`relationships[0].role` -> `f-relationships-0-role`)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
