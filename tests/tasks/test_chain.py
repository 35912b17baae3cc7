"""The audit hash chain, pure: an intact chain verifies; an edited, deleted, inserted or
reordered event is named; the canonical form ignores what a JSON store changes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from kamflow.tasks.chain import GENESIS, ChainBreak, canonical, chain_hash, link, verify

T0 = datetime(2026, 3, 1, 9, 30)


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {"at": T0 + timedelta(minutes=i), "actor": "system", "entity": "task",
            "entity_id": str(100 + i), "action": "created" if i % 2 else "done",
            "before": None if i % 2 else {"status": "open", "due": date(2026, 3, 10)},
            "after": {"status": "open" if i % 2 else "done", "n": i, "score": i / 3}, **extra}


def chain(n: int = 6) -> list[dict[str, Any]]:
    """Stored rows: ids 1..n, linked from GENESIS."""
    return [{"id": i + 1, **row} for i, row in enumerate(link(event(i) for i in range(n)))]


def test_an_untouched_chain_verifies() -> None:
    rows = chain()
    assert verify(rows) is None
    assert rows[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:], strict=False))
    assert verify([]) is None


def test_link_continues_from_a_previous_hash() -> None:
    first = link([event(0), event(1)])
    more = link([event(2)], first[-1]["hash"])
    rows = [{"id": i, **r} for i, r in enumerate(first + more, start=1)]
    assert verify(rows) is None
    assert more[0]["hash"] == chain_hash(first[-1]["hash"], event(2))


@pytest.mark.parametrize(("column", "value"), [
    ("actor", "mallory@x.test"),
    ("action", "skipped"),
    ("entity_id", "999"),
    ("at", T0 - timedelta(days=1)),
    ("after", {"status": "done", "n": 3, "score": 1.0}),
    ("before", {"status": "open"}),
])
def test_an_edited_event_is_named(column: str, value: Any) -> None:
    rows = chain()
    rows[3][column] = value
    assert verify(rows) == ChainBreak(4, "edited: content does not match its hash")


def test_an_edited_hash_breaks_the_next_link() -> None:
    rows = chain()
    rows[2]["hash"] = "0" * 64
    found = verify(rows)
    assert found is not None and found.id == 3 and found.reason.startswith("edited")


def test_a_deleted_event_names_the_next_one_and_the_one_before() -> None:
    rows = chain()
    del rows[2]  # id 3
    found = verify(rows)
    assert found is not None and found.id == 4
    assert found.reason == ("previous event missing or inserted: prev_hash does not match "
                            "event 2")


def test_deleting_the_first_event_is_named() -> None:
    found = verify(chain()[1:])
    assert found is not None and found.id == 2 and "start of the chain" in found.reason


def test_deleting_the_last_event_is_not_detectable() -> None:
    # The chain proves nothing about events it never saw: counting them is the operator's job.
    assert verify(chain()[:-1]) is None


def test_an_inserted_event_with_a_well_formed_hash_is_named_by_its_successor() -> None:
    rows = chain()
    forged = {"id": 35, **event(9, actor="mallory@x.test")}
    forged["prev_hash"] = rows[2]["hash"]
    forged["hash"] = chain_hash(forged["prev_hash"], forged)
    rows.insert(3, forged)
    found = verify(rows)
    assert found is not None and found.id == 4
    assert found.reason.endswith("does not match event 35")


def test_an_inserted_event_with_a_made_up_hash_is_named() -> None:
    rows = chain()
    forged = {"id": 35, **event(9), "prev_hash": rows[2]["hash"], "hash": "ab" * 32}
    rows.insert(3, forged)
    assert verify(rows) == ChainBreak(35, "edited: content does not match its hash")


def test_two_swapped_events_are_named() -> None:
    rows = chain()
    rows[2], rows[3] = {**rows[3], "id": 3}, {**rows[2], "id": 4}
    found = verify(rows)
    assert found is not None and found.id == 3 and "does not match event 2" in found.reason


def test_verify_streams_and_stops_at_the_first_break() -> None:
    rows = chain(10)
    rows[4]["actor"] = "mallory@x.test"
    seen: list[int] = []

    def stream() -> Iterator[Mapping[str, Any]]:
        for r in rows:
            seen.append(r["id"])
            yield r

    assert verify(stream()) == ChainBreak(5, "edited: content does not match its hash")
    assert seen == [1, 2, 3, 4, 5]


def test_canonical_is_what_a_json_store_gives_back() -> None:
    e = event(2, after={"b": 1, "a": {"z": date(2026, 1, 2), "y": [1.0, 2.5, 1e16, 1.5e-10, -0.0]}})
    stored = link([e])[0]
    assert stored["after"]["a"]["y"] == [1.0, 2.5, 10**16, 1.5e-10, 0.0]
    assert type(stored["after"]["a"]["y"][2]) is int
    # A JSON column returns strings for dates; JSONB reorders keys and keeps numbers as
    # numeric: 1e16 comes back as 10000000000000000 (an int), -0.0 as 0.0, 1.0 as 1.0.
    back = {**stored, "after": {"a": {"y": [1.0, 2.5, 10**16, 1.5e-10, 0.0], "z": "2026-01-02"},
                                "b": 1}}
    assert canonical(back) == canonical(stored) == canonical(e)
    assert chain_hash(GENESIS, back) == stored["hash"]
    body = json.loads(canonical(e))
    assert list(body) == sorted(body)
    assert body["at"] == "2026-03-01T09:32:00" and body["after"]["a"]["z"] == "2026-01-02"


def test_link_stores_json_safe_values_and_naive_utc() -> None:
    cet = timezone(timedelta(hours=1))
    e = event(0, at=datetime(2026, 3, 1, 10, 30, tzinfo=cet), entity_id=42,
              after={"due": date(2026, 3, 5), "tags": ("a", "b"), 3: float("nan")})
    row = link([e])[0]
    assert row["at"] == datetime(2026, 3, 1, 9, 30) and row["at"].tzinfo is None
    assert row["entity_id"] == "42"
    assert row["after"] == {"due": "2026-03-05", "tags": ["a", "b"], "3": "nan"}
    assert json.loads(json.dumps(row["after"])) == row["after"]
    assert row["hash"] == chain_hash(GENESIS, {**e, "at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
                                               .replace(tzinfo=None), "entity_id": "42"})
