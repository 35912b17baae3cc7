"""Malformed CSV never escapes the importer's checks as anything but FILE:LINE problems:
a corpus through `kamflow import` on a real store (nothing written), and hypothesis-made
files through the row checks of every kind."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kamflow.import_checks import KINDS, SPECS, Refs, validate
from kamflow.playbooks.loader import bundled_dir, load_dir
from kamflow.store.tables import ACCOUNT
from support import DB

HEADER = ("account_id,name,industry,owner_email,sponsor_email,potential\n")
CORPUS: dict[str, bytes] = {
    "not UTF-8": HEADER.encode() + b"A1,Caf\xe9,food,ann@x.test,,100\n",
    "NUL in a field": (HEADER + "A1,Ca\x00fe,food,ann@x.test,,100\n").encode(),
    "unclosed quote": (HEADER + 'A1,"Cafe,food,ann@x.test,,100\n').encode(),
    "huge field": (HEADER + "A1," + "x" * 200_000 + ",food,ann@x.test,,100\n").encode(),
    "too few values": (HEADER + "A1,Cafe\n").encode(),
    "only a BOM": "\ufeff".encode(),
    "empty": b"",
    "header only": HEADER.encode(),
    "nan potential": (HEADER + "A1,Cafe,food,ann@x.test,,nan\n").encode(),
    "1e999 potential": (HEADER + "A1,Cafe,food,ann@x.test,,1e999\n").encode(),
    "formula name and bad owner": (HEADER + "A1,=cmd|' /C calc'!A0,food,nobody@x,,1\n").encode(),
    "CR only line ends": (HEADER.replace("\n", "\r") + "A1,Cafe,food,x,,1\r").encode(),
    "duplicate header": b"account_id,account_id,name\nA1,A1,x\n",
    "binary": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("data", CORPUS.values(), ids=CORPUS.keys())
def test_a_malformed_accounts_file_is_one_located_error_and_changes_nothing(
        db: DB, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(data)
    r = db.cli("import", "accounts", str(path), "--at", "2026-01-01")
    assert r.code != 0
    assert "Traceback" not in r.stderr + r.stdout
    first = (r.stderr or r.stdout).strip().splitlines()[0]
    assert first.startswith(f"{path}:"), first
    assert first[len(str(path)) + 1].isdigit(), first  # FILE:LINE
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ACCOUNT)).scalar_one() == 0


REFS = Refs(departments={"sales", "management"}, people={"ann@x.test": True},
            accounts={"A1"}, book=load_dir(bundled_dir()), now=datetime(2026, 6, 1))
CELL = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", "A1", "ann@x.test", "2026-01-31", "2026-13-01", "1e400", "nan", "-1", "0", "5",
     '"', '""', "\r", "\n", "\x00", "=1+1", "sales", "loyal", "call", "é"]))


def csv_text(kind: str) -> st.SearchStrategy[str]:
    spec = SPECS[kind]
    columns = list(spec.required + spec.optional)
    header = st.lists(st.sampled_from([*columns, "bogus", ""]), min_size=0, max_size=9)
    good_header = st.just(columns)
    rows = st.lists(st.lists(CELL, max_size=10), max_size=6)
    return st.tuples(st.one_of(good_header, header), rows, st.sampled_from([",", ";", "\t"])
                     ).map(lambda t: "\n".join(t[2].join(r) for r in [t[0], *t[1]]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), st.data())
def test_fuzz_the_row_checks(kind: str, data: st.DataObject) -> None:
    text = data.draw(st.one_of(csv_text(kind), st.text(max_size=200)))
    rows, problems = validate(kind, SPECS[kind], "in.csv", text, REFS, None)
    for p in problems:
        assert p.startswith("in.csv:") and p.split(":")[1].isdigit(), p
    assert rows or problems
