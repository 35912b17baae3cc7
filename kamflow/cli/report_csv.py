"""A report as one spreadsheet table (`kamflow report NAME --csv`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kamflow.security import csv_cell

PORTFOLIO_CSV = ("id", "name", "class", "state", "key_account", "revenue_t12", "revenue_share",
                 "potential", "gap", "gap_rank", "above_threshold")


def csv_table(data: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """One table per report, for a spreadsheet: portfolio: one row per account named in a
    list (top gaps, above the threshold, key accounts); losses: one row per year with a
    column per cause; investment: one row per class, then the total, with a due and a done
    column per department. None is an empty cell; every cell goes through csv_cell."""
    kind = data["report"]
    if kind == "portfolio":
        gap_rank = {a["id"]: i for i, a in enumerate(data["top_gaps"], 1)}
        above = {a["id"] for a in data["above_threshold"]}
        seen: dict[str, dict[str, Any]] = {}
        for a in (*data["top_gaps"], *data["above_threshold"], *data["key_accounts"]["list"]):
            seen.setdefault(a["id"], a)
        ordered = sorted(seen.values(), key=lambda a: (gap_rank.get(a["id"], len(seen) + 1),
                                                      -a["revenue_t12"], a["id"]))
        rows = [[*(a[c] for c in PORTFOLIO_CSV[:9]), gap_rank.get(a["id"]), a["id"] in above]
                for a in ordered]
        return list(PORTFOLIO_CSV), [_cells(r) for r in rows]
    if kind == "losses":
        names = sorted({c for y in data["years"] for c in y["causes"]})
        head = ["year", "customers_at_start", "lost", "loss_rate", "lost_revenue",
                "lost_potential", "won_back"]
        return (_cells([*head, *(f"cause:{c}" for c in names)]),
                [_cells([*(y[h] for h in head), *(y["causes"].get(c, 0) for c in names)])
                 for y in data["years"]])
    if kind == "investment":
        depts = sorted(data["total"]["departments"])
        head = ["accounts", "revenue_t12", "potential", "wallet_gap", "tasks_due", "tasks_done",
                "on_time_share"]
        shares = ["effort_share", "revenue_share", "gap_share", "effort_minus_gap_share",
                  "verdict"]
        rows = []
        for name, f in [*data["classes"].items(), ("total", data["total"])]:
            per = [n for d in depts for n in (f["departments"].get(d, {}).get("due", 0),
                                              f["departments"].get(d, {}).get("done", 0))]
            rows.append(_cells([name, *(f[h] for h in head), *(f.get(s) for s in shares), *per]))
        return (_cells(["class", *head, *shares,
                        *(f"{k}:{d}" for d in depts for k in ("due", "done"))]), rows)
    raise ValueError(f"unknown report '{kind}'")


def _cells(values: Iterable[Any]) -> list[Any]:
    """None as an empty cell; text a spreadsheet would run as a formula neutralised."""
    return ["" if v is None else csv_cell(v) for v in values]
