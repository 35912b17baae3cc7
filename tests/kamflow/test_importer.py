"""CSV import on a real store (SQLite and PostgreSQL): typed rows land, every bad row is
reported as `FILE:LINE: column: problem` and nothing is written, re-imports change nothing."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from kamflow.engine.clock import FixedClock
from kamflow.importer import ImportRejected, ImportResult, import_csv
from kamflow.store.models import Account, Contact, Feedback, Person, Revenue, Transition
from kamflow.store.versions import active_version
from support import DB

P: Table = Person.__table__  # type: ignore[attr-defined]
A: Table = Account.__table__  # type: ignore[attr-defined]
R: Table = Revenue.__table__  # type: ignore[attr-defined]
C: Table = Contact.__table__  # type: ignore[attr-defined]
F: Table = Feedback.__table__  # type: ignore[attr-defined]
T: Table = Transition.__table__  # type: ignore[attr-defined]
TABLES = {"person": P, "account": A, "revenue": R, "contact": C, "feedback": F, "transition": T}
# natural key of each table, to compare contents row by row
KEYS = {"person": ("email",), "account": ("id",), "revenue": ("account_id", "month"),
        "contact": ("account_id", "date", "channel", "person_email"),
        "feedback": ("account_id", "date"), "transition": ("account_id", "at")}

PEOPLE_CSV = """\
email,name,department,role
ann@x.test,Ann Am,sales,account_manager
sam@x.test,Sam Sponsor,management,manager
lee@x.test,Lee Lead,service,department_lead
"""
ACCOUNTS_CSV = """\
account_id,name,industry,owner_email,sponsor_email,potential,state,created_at,size,growth
ACME,Acme GmbH,machinery,ann@x.test,sam@x.test,900000,loyal,2020-01-01,7,4.5
BETA,Beta AG,,ann@x.test,,150000,,,,
"""
REVENUE_CSV = """\
account_id,month,amount
ACME,2025-11,40000
ACME,2025-12,42000.5
BETA,2025-12,0
"""
CONTACTS_CSV = """\
account_id,date,channel,person_email,note
ACME,2025-12-01,visit,ann@x.test,"visit, with notes"
ACME,2025-12-02,call,sam@x.test,
BETA,2025-12-03,email,ann@x.test,offer sent
"""
FEEDBACK_CSV = """\
account_id,date,score,comment
ACME,2025-10-01,9,very happy
BETA,2025-10-01,4,
"""
ALL_CSV = {"people": PEOPLE_CSV, "accounts": ACCOUNTS_CSV, "revenue": REVENUE_CSV,
           "contacts": CONTACTS_CSV, "feedback": FEEDBACK_CSV}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


def load(db: DB, folder: Path, clock: FixedClock, *kinds: str) -> dict[str, ImportResult]:
    """Import the standard fixtures of `kinds` (people and accounts by default)."""
    results = {}
    for kind in kinds or ("people", "accounts"):
        results[kind] = import_csv(db.engine, kind, write(folder, f"{kind}.csv", ALL_CSV[kind]),
                                   clock)
    return results


def rows(db: DB, name: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """A table's full contents keyed by its natural key."""
    with db.engine.connect() as conn:
        found = conn.execute(select(TABLES[name])).mappings().all()
    return {tuple(r[k] for k in KEYS[name]): dict(r) for r in found}


def everything(db: DB) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    return {name: rows(db, name) for name in TABLES}


def counts(db: DB) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for name, t in TABLES.items()}


def rejected(db: DB, kind: str, path: Path, clock: FixedClock) -> list[str]:
    with pytest.raises(ImportRejected) as info:
        import_csv(db.engine, kind, path, clock)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def parse(problem: str, path: Path) -> tuple[int, str, str]:
    """Split `FILE:LINE: column: problem`; fail unless the line has exactly that shape."""
    m = re.fullmatch(re.escape(str(path)) + r":(\d+): ([a-z_]+): (\S.*)", problem)
    assert m, f"not FILE:LINE: column: problem: {problem!r}"
    return int(m[1]), m[2], m[3]


# -- happy paths ------------------------------------------------------------------------


def test_people_land_with_lowercased_email(db: DB, tmp_path: Path, clock: FixedClock) -> None:
    path = write(tmp_path, "people.csv", "email,name,department,role\n"
                 " Ann@X.test ,Ann Am,sales,account_manager\n"
                 "sam@x.test,Sam Sponsor,management,admin\n")
    result = import_csv(db.engine, "people", path, clock)
    assert (result.kind, result.file, result.rows, result.new, result.existing) == (
        "people", str(path), 2, 2, 0)
    people = rows(db, "person")
    assert people[("ann@x.test",)] == {"email": "ann@x.test", "name": "Ann Am",
                                       "department": "sales", "role": "account_manager",
                                       "active": True, "password_hash": None,
                                       "calendar_token": None}
    assert people[("sam@x.test",)]["role"] == "admin"
    assert len(people) == 2


def test_accounts_land_typed_with_criteria_and_an_imported_transition(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    result = load(db, tmp_path, clock)["accounts"]
    assert (result.rows, result.new, result.existing) == (2, 2, 0)
    accounts = rows(db, "account")
    acme, beta = accounts[("ACME",)], accounts[("BETA",)]
    assert acme["name"] == "Acme GmbH" and acme["industry"] == "machinery"
    assert acme["owner_email"] == "ann@x.test" and acme["sponsor_email"] == "sam@x.test"
    assert acme["potential"] == 900000.0 and isinstance(acme["potential"], float)
    assert acme["criteria"] == {"size": 7.0, "growth": 4.5}
    assert acme["state"] == "loyal"
    # without a state_since column the state is known since the import, not entered then
    assert acme["created_at"] == datetime(2020, 1, 1)
    assert acme["state_since"] == clock.now() and acme["state_imported"] is True
    assert acme["key_account"] is False and acme["klass"] is None
    # blank optional values: no sponsor, no industry, no criteria, initial state, now
    assert beta["sponsor_email"] is None and beta["industry"] == ""
    assert beta["criteria"] == {}
    assert beta["state"] == "prospect"
    assert beta["created_at"] == beta["state_since"] == clock.now()

    with db.engine.connect() as conn:
        version = active_version(conn)
    moves = rows(db, "transition")
    assert set(moves) == {("ACME", clock.now()), ("BETA", clock.now())}
    for (account_id, _at), move in moves.items():
        assert move["rule"] == "imported" and move["actor"] == "import"
        assert move["from_state"] == ""
        assert move["to_state"] == accounts[(account_id,)]["state"]
        assert move["metrics"] == {}
        assert move["playbook_version"] == version and version


def test_accounts_accept_only_the_optional_columns_they_know(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock, "people")
    path = write(tmp_path, "a.csv", "account_id,name,industry,owner_email,sponsor_email,potential\n"
                 "GAMMA,Gamma SA,retail,ann@x.test,,1_000\n")
    import_csv(db.engine, "accounts", path, clock)
    gamma = rows(db, "account")[("GAMMA",)]
    assert gamma["state"] == "prospect" and gamma["potential"] == 1000.0
    assert gamma["created_at"] == clock.now()


def test_created_at_with_an_offset_is_stored_as_utc(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock, "people")
    path = write(tmp_path, "a.csv", "account_id,name,industry,owner_email,sponsor_email,potential,"
                 "created_at\n"
                 "EAST,East,x,ann@x.test,,1,2024-03-01T10:00:00+02:00\n"
                 "ZULU,Zulu,x,ann@x.test,,1,2024-03-01T10:00:00Z\n"
                 "PLAIN,Plain,x,ann@x.test,,1,2024-03-01T10:00\n")
    import_csv(db.engine, "accounts", path, clock)
    accounts = rows(db, "account")
    assert accounts[("EAST",)]["created_at"] == datetime(2024, 3, 1, 8, 0)
    assert accounts[("ZULU",)]["created_at"] == datetime(2024, 3, 1, 10, 0)
    assert accounts[("PLAIN",)]["created_at"] == datetime(2024, 3, 1, 10, 0)
    assert ("EAST", clock.now()) in rows(db, "transition")  # the state is known since now


def test_revenue_lands_as_month_dates_and_floats(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    seen: list[tuple[int, int]] = []
    path = write(tmp_path, "revenue.csv", REVENUE_CSV)
    result = import_csv(db.engine, "revenue", path, clock, lambda d, t: seen.append((d, t)))
    assert (result.rows, result.new, result.existing) == (3, 3, 0)
    assert {k: r["amount"] for k, r in rows(db, "revenue").items()} == {
        ("ACME", date(2025, 11, 1)): 40000.0,
        ("ACME", date(2025, 12, 1)): 42000.5,
        ("BETA", date(2025, 12, 1)): 0.0,
    }
    assert seen and seen[-1] == (3, 3)


def test_contacts_land_with_channel_note_and_nature(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    path = write(tmp_path, "contacts.csv", "account_id,date,channel,person_email,note,nature\n"
                 "ACME,2025-12-01,visit,SAM@x.test,\"visit, with notes\",review\n"
                 "BETA,2025-12-03,email,ann@x.test,,\n")
    result = import_csv(db.engine, "contacts", path, clock)
    assert (result.rows, result.new, result.existing) == (2, 2, 0)
    contacts = rows(db, "contact")
    acme = contacts[("ACME", date(2025, 12, 1), "visit", "sam@x.test")]
    assert (acme["note"], acme["nature"]) == ("visit, with notes", "review")
    beta = contacts[("BETA", date(2025, 12, 3), "email", "ann@x.test")]
    assert (beta["note"], beta["nature"]) == ("", "")


def test_feedback_lands_with_whole_scores(db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    path = write(tmp_path, "feedback.csv", "account_id,date,score,comment\n"
                 "ACME,2025-10-01,9,very happy\n"
                 "BETA,2025-10-01,7.0,\n"
                 "BETA,2025-11-01,0,\"silent, \"\"busy\"\"\"\n")
    result = import_csv(db.engine, "feedback", path, clock)
    assert (result.rows, result.new) == (3, 3)
    fb = rows(db, "feedback")
    assert fb[("ACME", date(2025, 10, 1))]["score"] == 9
    assert fb[("ACME", date(2025, 10, 1))]["comment"] == "very happy"
    assert fb[("BETA", date(2025, 10, 1))]["score"] == 7
    assert isinstance(fb[("BETA", date(2025, 10, 1))]["score"], int)
    assert fb[("BETA", date(2025, 11, 1))] | {"id": None} == {
        "id": None, "account_id": "BETA", "date": date(2025, 11, 1), "score": 0,
        "comment": 'silent, "busy"', "task_id": None}


def test_quoted_newlines_bom_crlf_and_blank_lines(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    text = ("\ufeffaccount_id,date,channel,person_email,note\r\n"
            'ACME,2025-12-01,visit,ann@x.test,"first line, with a comma\r\nsecond ""line"""\r\n'
            "\r\n"
            "BETA,2025-12-02,call,ann@x.test,short\r\n"
            "\r\n\r\n")
    path = write(tmp_path, "contacts.csv", text)
    assert import_csv(db.engine, "contacts", path, clock).rows == 2
    notes = {k[0]: r["note"] for k, r in rows(db, "contact").items()}
    assert notes == {"ACME": 'first line, with a comma\nsecond "line"', "BETA": "short"}

    # line numbers count physical lines: a quoted newline and blank lines included
    bad = write(tmp_path, "bad.csv", text.replace("BETA,2025-12-02,call", "BETA,2025-12-02,fax"))
    problems = rejected(db, "contacts", bad, clock)
    assert [parse(p, bad)[:2] for p in problems] == [(5, "channel")]


def test_cli_import_prints_a_summary(db: DB, tmp_path: Path) -> None:
    people = write(tmp_path, "people.csv", PEOPLE_CSV)
    r = db.cli("import", "people", str(people), "--at", "2026-02-01")
    assert r.code == 0, r.stderr
    assert f"{people}: 3 people rows: 3 new, 0 already known" in r.stdout
    accounts = write(tmp_path, "accounts.csv", ACCOUNTS_CSV)
    r = db.cli("import", "accounts", str(accounts), "--at", "2026-02-01", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"kind": "accounts", "file": str(accounts), "rows": 2,
                                    "new": 2, "existing": 0}
    assert rows(db, "account")[("BETA",)]["created_at"] == datetime(2026, 2, 1)


# -- bad rows: every one reported, nothing written -----------------------------------------

# kind -> (file body, [(line, column, a fragment of the problem)]); line 2 is always good
BAD_ROWS: dict[str, tuple[str, list[tuple[int, str, str]]]] = {
    "people": (
        "email,name,department,role\n"
        "ok@x.test,Ok,sales,account_manager\n"
        "not-an-email,Bad,sales,account_manager\n"
        "new@x.test,New,legal,account_manager\n"
        "new2@x.test,New,sales,boss\n"
        "new3@x.test,,sales,admin\n",
        [(3, "email", "'not-an-email' is not an email address"),
         (4, "department", "unknown department 'legal'"),
         (5, "role", "'boss' is not one of account_manager, department_lead, manager, admin"),
         (6, "name", "required")],
    ),
    "accounts": (
        "account_id,name,industry,owner_email,sponsor_email,potential,state,created_at,size\n"
        "NEW1,New,x,ann@x.test,,1000,,,5\n"
        "NEW2,New,x,nobody@x.test,,1000,,,\n"
        "NEW3,New,x,ann@x.test,ghost@x.test,1000,,,\n"
        "NEW4,New,x,ann@x.test,,-5,,,\n"
        "NEW5,New,x,ann@x.test,,1000,asleep,,\n"
        "NEW6,New,x,ann@x.test,,1000,,yesterday,\n"
        "NEW7,New,x,ann@x.test,,1000,,,11\n"
        "NEW 8,New,x,ann@x.test,,1000,,,\n"
        "NEW9,New,x,ann@x.test,,lots,,,\n"
        "NEW10,New,x,,,1000,,,\n",
        [(3, "owner_email", "unknown person 'nobody@x.test'"),
         (4, "sponsor_email", "unknown person 'ghost@x.test'"),
         (5, "potential", "-5 is below 0"),
         (6, "state", "unknown state 'asleep'"),
         (7, "created_at", "'yesterday' is not an ISO date"),
         (8, "size", "11 is above 10"),
         (9, "account_id", "white space"),
         (10, "potential", "'lots' is not a number"),
         (11, "owner_email", "required")],
    ),
    "revenue": (
        "account_id,month,amount\n"
        "ACME,2025-01,100\n"
        "NOPE,2025-01,100\n"
        "ACME,2025-13,100\n"
        "ACME,2025-1,100\n"
        "BETA,2025-02,-1\n"
        "BETA,2025-03,\n"
        "BETA,2025-04,nan\n",
        [(3, "account_id", "unknown account 'NOPE'"),
         (4, "month", "'2025-13' is not a month (YYYY-MM)"),
         (5, "month", "'2025-1' is not a month (YYYY-MM)"),
         (6, "amount", "-1 is below 0"),
         (7, "amount", "required"),
         (8, "amount", "not a finite number")],
    ),
    "contacts": (
        "account_id,date,channel,person_email,note\n"
        'ACME,2025-05-01,visit,ann@x.test,"long\nnote"\n'
        "ACME,2025-05-02,fax,ann@x.test,x\n"
        "ACME,2025-05-32,call,ann@x.test,x\n"
        "ACME,2025-05-03,call,who@x.test,x\n"
        "GONE,2025-05-03,call,ann@x.test,x\n",
        [(4, "channel", "unknown channel 'fax'; known: call, email, event, video, visit"),
         (5, "date", "'2025-05-32' is not a date"),
         (6, "person_email", "unknown person 'who@x.test'"),
         (7, "account_id", "unknown account 'GONE'")],
    ),
    "feedback": (
        "account_id,date,score,comment\n"
        "ACME,2025-06-01,9,great\n"
        "ACME,2025-06-02,11,hm\n"
        "ACME,2025-06-03,7.5,hm\n"
        "ACME,2025-06-04,-1,\n"
        "ACME,,5,\n"
        "ACME,2025-06-05,5\n",
        [(3, "score", "11 is above 10"),
         (4, "score", "7.5 is not a whole number"),
         (5, "score", "-1 is below 0"),
         (6, "date", "required"),
         (7, "row", "3 values for 4 columns")],
    ),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_every_bad_row_is_reported_and_nothing_is_written(
        db: DB, tmp_path: Path, clock: FixedClock, kind: str) -> None:
    load(db, tmp_path, clock)
    before = everything(db)
    body, expected = BAD_ROWS[kind]
    path = write(tmp_path, f"bad-{kind}.csv", body)
    problems = rejected(db, kind, path, clock)
    assert len(problems) == len(expected), problems
    for problem, (line, column, fragment) in zip(problems, expected, strict=True):
        assert parse(problem, path)[:2] == (line, column), problem
        assert fragment in problem
    assert everything(db) == before


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_the_cli_prints_every_bad_row_and_exits_2(db: DB, tmp_path: Path, clock: FixedClock,
                                                  kind: str) -> None:
    load(db, tmp_path, clock)
    before = counts(db)
    body, expected = BAD_ROWS[kind]
    path = write(tmp_path, f"bad-{kind}.csv", body)
    r = db.cli("import", kind, str(path))
    assert r.code == 2, r.stderr
    lines = r.stderr.splitlines()
    reported = [parse(line, path)[:2] for line in lines if line.startswith(f"{path}:")]
    assert reported == [(line, column) for line, column, _ in expected]
    assert f"{len(expected)} problems; nothing was changed" in lines[-1]
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    assert counts(db) == before


def test_one_bad_account_keeps_the_good_ones_and_their_transitions_out(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock, "people")
    path = write(tmp_path, "accounts.csv", ACCOUNTS_CSV + "BAD,Bad,x,ann@x.test,,1,lost,soon,,\n")
    problems = rejected(db, "accounts", path, clock)
    assert [parse(p, path)[:2] for p in problems] == [(4, "created_at")]
    assert counts(db)["account"] == counts(db)["transition"] == 0


# -- header problems -------------------------------------------------------------------

CRITERIA = ("effort_to_serve, growth, market_fit, products, profitability, size, structure, "
            "supply_agreement")


@pytest.mark.parametrize(
    ("kind", "text", "problems"),
    [
        ("people", "email,name,department\nann@x.test,Ann,sales\n",
         [":1: header: missing column(s) role"]),
        ("people", "email,name,department,role,phone\nann@x.test,Ann,sales,admin,123\n",
         [":1: header: unknown column(s) phone"]),
        ("revenue", "account_id,month,amount,size\nACME,2025-01,1,5\n",
         [":1: header: unknown column(s) size"]),
        ("accounts", "account_id,name,industry,owner_email,sponsor_email,potential,colour,size\n"
         "X,X,x,ann@x.test,,1,red,5\n",
         [":1: header: unknown column(s) colour; extra columns must be portrait or retention "
          f"criteria: {CRITERIA}"]),
        ("feedback", "account_id,date,comment,note\nACME,2025-01-01,x,y\n",
         [":1: header: missing column(s) score", ":1: header: unknown column(s) note"]),
        ("people", "email,name,department,role,role\nann@x.test,Ann,sales,admin,admin\n",
         [":1: header: column(s) given twice: role"]),
        ("contacts", "", [":1: the file is empty; it needs a header row"]),
        ("revenue", "\ufeff", [":1: the file is empty; it needs a header row"]),
        ("feedback", "account_id,date,score,comment\n\n\n",
         [":2: no data rows after the header"]),
    ],
    ids=["missing", "unknown", "criteria-only-on-accounts", "unknown-non-criteria",
         "missing-and-unknown", "twice", "empty", "bom-only", "header-only"],
)
def test_header_problems_reject_the_file(db: DB, tmp_path: Path, clock: FixedClock, kind: str,
                                         text: str, problems: list[str]) -> None:
    load(db, tmp_path, clock)
    before = everything(db)
    path = write(tmp_path, "in.csv", text)
    assert rejected(db, kind, path, clock) == [f"{path}{p}" for p in problems]
    r = db.cli("import", kind, str(path))
    assert r.code == 2 and f"{path}{problems[0]}" in r.stderr.splitlines()
    assert everything(db) == before


def test_a_bom_and_padded_header_are_accepted(db: DB, tmp_path: Path, clock: FixedClock) -> None:
    path = write(tmp_path, "people.csv", "\ufeff email , name,department ,role\n"
                 "ann@x.test,Ann,sales,admin\n")
    assert import_csv(db.engine, "people", path, clock).rows == 1
    assert rows(db, "person")[("ann@x.test",)]["role"] == "admin"


# -- duplicates, unreadable files, unknown kinds ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "line", "column", "first"),
    [
        ("people", PEOPLE_CSV + "ANN@x.test,Ann Again,sales,admin\n", 5, "email", 2),
        ("accounts", ACCOUNTS_CSV + "ACME,Acme Again,x,ann@x.test,,1,,,,\n", 4, "account_id", 2),
        ("revenue", REVENUE_CSV + "ACME,2025-12,1\n", 5, "account_id", 3),
        ("contacts", CONTACTS_CSV + "ACME,2025-12-02,call,Sam@x.test,again\n", 5, "account_id",
         3),
        ("feedback", FEEDBACK_CSV + "BETA,2025-10-01,5,again\n", 4, "account_id", 3),
    ],
)
def test_a_duplicate_key_in_one_file_names_the_first_line(
        db: DB, tmp_path: Path, clock: FixedClock, kind: str, text: str, line: int, column: str,
        first: int) -> None:
    load(db, tmp_path, clock)
    before = everything(db)
    path = write(tmp_path, f"dupe-{kind}.csv", text)
    problems = rejected(db, kind, path, clock)
    assert len(problems) == 1, problems
    got_line, got_column, message = parse(problems[0], path)
    assert (got_line, got_column) == (line, column)
    assert message.startswith("same ") and message.endswith(f"as line {first}")
    assert everything(db) == before


def test_unreadable_files_and_unknown_kinds_are_rejected(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    missing = tmp_path / "missing.csv"
    assert rejected(db, "people", missing, clock)[0].startswith(f"{missing}: cannot read")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name,department,role\nj@x.test,J\xfcrgen,sales,admin\n"
                      .encode("latin-1"))
    assert rejected(db, "people", latin, clock)[0].startswith(f"{latin}:2: cannot read")
    people = write(tmp_path, "people.csv", PEOPLE_CSV)
    assert rejected(db, "persons", people, clock) == [
        f"{people}: unknown kind 'persons'; use one of people, accounts, revenue, contacts, "
        "feedback, margin, events"]
    r = db.cli("import", "persons", str(people))
    assert r.code == 2 and "unknown kind 'persons'" in r.stderr
    r = db.cli("import", "people", str(missing))
    assert r.code == 2 and f"{missing}: cannot read" in r.stderr
    assert counts(db)["person"] == 0


def test_an_oversized_field_is_a_problem_not_a_crash(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    path = write(tmp_path, "contacts.csv", "account_id,date,channel,person_email,note\n"
                 "ACME,2025-12-01,visit,ann@x.test,ok\n"
                 f"ACME,2025-12-02,visit,ann@x.test,\"{'x' * 200_000}\"\n")
    problems = rejected(db, "contacts", path, clock)
    assert [parse(p, path)[:2] for p in problems] == [(3, "row")]
    r = db.cli("import", "contacts", str(path))
    assert r.code == 2 and "Traceback" not in r.stderr
    assert counts(db)["contact"] == 0


def test_a_long_note_is_reported_on_its_column(db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    path = write(tmp_path, "contacts.csv", "account_id,date,channel,person_email,note\n"
                 f"ACME,2025-12-01,visit,ann@x.test,{'x' * 5001}\n")
    problems = rejected(db, "contacts", path, clock)
    assert [parse(p, path) for p in problems] == [(2, "note", "longer than 5000 characters")]


def test_a_nul_character_is_a_problem_not_a_crash(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    path = write(tmp_path, "feedback.csv", "account_id,date,score,comment\n"
                 "ACME,2025-10-01,9,bad\x00byte\n")
    problems = rejected(db, "feedback", path, clock)
    assert [parse(p, path)[:2] for p in problems] == [(2, "comment")]
    assert counts(db)["feedback"] == 0


# -- re-imports ------------------------------------------------------------------------


def test_reimporting_the_same_files_changes_nothing(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    first = load(db, tmp_path, clock, *ALL_CSV)
    assert all(r.new == r.rows and r.existing == 0 for r in first.values())
    before = everything(db)
    later = FixedClock(datetime(2026, 3, 1, 12, 0))  # BETA's created_at came from the clock
    again = load(db, tmp_path, later, *ALL_CSV)
    for kind, result in again.items():
        assert (result.new, result.existing) == (0, first[kind].rows), kind
    assert everything(db) == before
    beta = before["account"][("BETA",)]
    assert beta["state_since"] == beta["created_at"] == clock.now()
    assert len(before["transition"]) == 2


def test_reimporting_through_the_cli_reports_everything_as_known(
        db: DB, tmp_path: Path) -> None:
    for kind in ALL_CSV:
        path = write(tmp_path, f"{kind}.csv", ALL_CSV[kind])
        assert db.cli("import", kind, str(path), "--at", "2026-01-01").code == 0
    before = everything(db)
    for kind in ALL_CSV:
        r = db.cli("import", kind, str(tmp_path / f"{kind}.csv"), "--at", "2026-04-01", "--json")
        assert r.code == 0, r.stderr
        assert json.loads(r.stdout)["new"] == 0
    assert everything(db) == before


def test_a_changed_value_on_reimport_updates_just_that_row(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock, *ALL_CSV)
    before = everything(db)
    changed = {
        "people": PEOPLE_CSV.replace("Lee Lead,service,department_lead",
                                     "Lee Lead,finance,manager"),
        # a new potential and size for BETA; ACME's state column is only the *initial* state
        "accounts": ACCOUNTS_CSV.replace("150000,,,,", "175000,,,3,")
                                .replace("900000,loyal", "900000,declining"),
        "revenue": REVENUE_CSV.replace("ACME,2025-11,40000", "ACME,2025-11,41000"),
        "contacts": CONTACTS_CSV.replace("offer sent", '"offer sent, and a reminder"'),
        "feedback": FEEDBACK_CSV.replace("BETA,2025-10-01,4,", "BETA,2025-10-01,6,better"),
    }
    later = FixedClock(datetime(2026, 5, 1))
    for kind, text in changed.items():
        result = import_csv(db.engine, kind, write(tmp_path, f"{kind}.csv", text), later)
        assert result.new == 0, kind
    after = everything(db)
    expected = {
        "person": {("lee@x.test",): {"department": "finance", "role": "manager"}},
        "account": {("BETA",): {"potential": 175000.0, "criteria": {"size": 3.0}}},
        "revenue": {("ACME", date(2025, 11, 1)): {"amount": 41000.0}},
        "contact": {("BETA", date(2025, 12, 3), "email", "ann@x.test"):
                    {"note": "offer sent, and a reminder"}},
        "feedback": {("BETA", date(2025, 10, 1)): {"score": 6, "comment": "better"}},
        "transition": {},
    }
    for name, updates in expected.items():
        assert set(after[name]) == set(before[name]), name
        for key, row in before[name].items():
            assert after[name][key] == row | updates.get(key, {}), (name, key)
    assert after["account"][("ACME",)]["state"] == "loyal"


def test_a_new_account_on_reimport_gets_the_only_new_transition(
        db: DB, tmp_path: Path, clock: FixedClock) -> None:
    load(db, tmp_path, clock)
    before = rows(db, "transition")
    path = write(tmp_path, "accounts.csv",
                 ACCOUNTS_CSV + "GAMMA,Gamma SA,retail,sam@x.test,,50000,high_potential,"
                 "2025-06-30T09:30,,\n")
    result = import_csv(db.engine, "accounts", path, FixedClock(datetime(2026, 2, 1)))
    assert (result.rows, result.new, result.existing) == (3, 1, 2)
    after = rows(db, "transition")
    new = {k: v for k, v in after.items() if k not in before}
    assert {k: after[k] for k in before} == before
    assert list(new) == [("GAMMA", datetime(2026, 2, 1))]  # known since this import
    move = new[("GAMMA", datetime(2026, 2, 1))]
    assert (move["from_state"], move["to_state"], move["rule"]) == ("", "high_potential",
                                                                    "imported")
    gamma = rows(db, "account")[("GAMMA",)]
    assert gamma["state"] == "high_potential"
    assert gamma["state_since"] == datetime(2026, 2, 1)
