"""What an import says about time and channels: a state is entered on its state_since, or
only known since the import; a CRM's channel words are the organization's synonyms."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from kamflow.store.tables import ACCOUNT, CONTACT, TRANSITION
from support import DB

PEOPLE = "email,name,department,role\nann@x.test,Ann Am,sales,account_manager\n"


def imp(db: DB, tmp_path: Path, kind: str, text: str, at: str = "2026-03-31") -> str:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    r = db.cli("import", kind, str(path), "--at", at)
    return f"{r.code}|{r.stderr}"


def test_state_since_says_when_the_state_was_entered(db: DB, tmp_path: Path) -> None:
    assert imp(db, tmp_path, "people", PEOPLE).startswith("0|")
    assert imp(db, tmp_path, "accounts",
               "account_id,name,industry,owner_email,sponsor_email,potential,state,state_since,"
               "created_at\n"
               "OLD,Old AG,x,ann@x.test,,1,declining,2026-02-01,2019-01-01\n"
               "NEW,New AG,x,ann@x.test,,1,loyal,,2019-01-01\n").startswith("0|")
    with db.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(ACCOUNT))}
        moves = {r.account_id: r for r in conn.execute(select(TRANSITION))}
    assert (rows["OLD"].state_since, rows["OLD"].state_imported) == (datetime(2026, 2, 1), False)
    assert (rows["NEW"].state_since, rows["NEW"].state_imported) == (datetime(2026, 3, 31), True)
    assert moves["NEW"].reason.endswith("known since the import (no state_since given)")
    assert moves["OLD"].at == datetime(2026, 2, 1)
    # a state entered after go-live fires its entry steps
    assert db.cli("init", "--go-live", "2026-01-01").code == 0
    assert db.cli("sweep", "--at", "2026-03-31T12:00").code == 0
    tasks = json.loads(db.cli("tasks", "--account", "OLD", "--status", "all", "--json").stdout)
    assert ("declining.new_supporters", "once@2026-02-01") in {
        (t["step"], t["period"]) for t in tasks}


def test_a_state_since_after_the_import_is_refused(db: DB, tmp_path: Path) -> None:
    assert imp(db, tmp_path, "people", PEOPLE).startswith("0|")
    out = imp(db, tmp_path, "accounts",
              "account_id,name,industry,owner_email,sponsor_email,potential,state,state_since\n"
              "A,A AG,x,ann@x.test,,1,loyal,2026-05-01\n")
    assert out.startswith("2|") and "accounts.csv:2: state_since: 2026-05-01T00:00:00 is after" \
        in out


def test_channel_synonyms_from_a_crm_export(db: DB, tmp_path: Path) -> None:
    assert imp(db, tmp_path, "people", PEOPLE).startswith("0|")
    assert imp(db, tmp_path, "accounts", "account_id,name,industry,owner_email,sponsor_email,"
               "potential\nA,A AG,x,ann@x.test,,1\n").startswith("0|")
    assert imp(db, tmp_path, "contacts", "account_id,date,channel,person_email\n"
               "A,2026-01-02,phone,ann@x.test\nA,2026-01-03,Teams,ann@x.test\n"
               "A,2026-01-04,On-site,ann@x.test\n").startswith("0|")
    with db.engine.connect() as conn:
        assert [r.channel for r in conn.execute(select(CONTACT).order_by(CONTACT.c.date))] == [
            "call", "video", "visit"]
    out = imp(db, tmp_path, "contacts", "account_id,date,channel,person_email\n"
              "A,2026-01-05,vist,ann@x.test\n")
    assert out.startswith("2|")
    assert "contacts.csv:2: channel: unknown channel 'vist' (did you mean visit?); known: call" \
        in out
    r = db.cli("contact", "log", "A", "--channel", "telephone", "--by", "ann@x.test",
               "--at", "2026-01-06")
    assert r.code == 0, r.stderr


def test_a_contact_check_naming_an_unknown_channel_fails_to_load(tmp_path: Path) -> None:
    from kamflow.playbooks.errors import PlaybookError
    from kamflow.playbooks.loader import bundled_dir, load_dir

    for f in bundled_dir().glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    loyal = tmp_path / "loyal.yaml"
    loyal.write_text(loyal.read_text().replace("channels: [visit, call, video]",
                                               "channels: [visit, phone, vidio]"))
    try:
        load_dir(tmp_path)
    except PlaybookError as e:
        text = str(e)
    else:
        raise AssertionError("loaded")
    assert "loyal.yaml:" in text and "unknown channel 'phone' (did you mean call?)" in text
    assert "unknown channel 'vidio' (did you mean video?)" in text
