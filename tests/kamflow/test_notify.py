"""Notifications on a real store, a real SMTP server and a real HTTP receiver: written in
the transaction that causes them, delivered once each, kept through outages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kamflow.engine.clock import FixedClock
from kamflow.importer import import_csv
from kamflow.notifications.channels import EmailChannel, LogChannel, Message, WebhookChannel
from kamflow.notify import deliver, queue_digests, queue_due_soon
from kamflow.store import golive, task_writes
from kamflow.store.tables import ACCOUNT, AUDIT_EVENT, NOTICE, OUTBOX, TASK, TRANSITION
from kamflow.store.versions import active_version
from kamflow.sweep import run_sweep
from support import DB, write_portfolio
from support.mail import Hook, Smtp, free_port
from support.stores import Seed, Stores

AT = datetime(2026, 6, 15)
LEADS = ("lea@x.test,Lea Lead,sales,department_lead\n"
         "fin@x.test,Fin Lead,finance,department_lead\n"
         "mia@x.test,Mia Lead,marketing,department_lead\n"
         "sid@x.test,Sid Lead,service,department_lead\n"
         "quinn@x.test,Quinn Quotes,quotes,department_lead\n")


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    server.start()
    yield server
    server.stop()


# -- the store ---------------------------------------------------------------------------


def load(db: DB, tmp_path: Path) -> None:
    files = write_portfolio(tmp_path)
    files["people"].write_text(files["people"].read_text() + LEADS)
    clock = FixedClock(datetime(2026, 1, 1))
    with db.engine.begin() as conn:  # the process is enforced since the import
        golive.set_go_live(conn, clock.now().date(), clock.now())
    for kind, path in files.items():
        import_csv(db.engine, kind, path, clock)


LOADED = Seed("notify-loaded", load)


@pytest.fixture
def loaded(db: DB, stores: Stores) -> DB:
    """`load`ed: built once per session and kind, a copy for each test."""
    stores.restore(db, LOADED)
    return db


def outbox(db: DB, *where: Any) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(OUTBOX).where(*where).order_by(OUTBOX.c.id))
        ]


def count(db: DB, table: Any, *where: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def prefs(db: DB, who: str, *args: str) -> dict[str, Any]:
    r = db.cli("people", "prefs", who, "--json", *args)
    assert r.code == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


LEAD = {"sales": ["lea@x.test"], "finance": ["fin@x.test"], "marketing": ["mia@x.test"],
        "service": ["sid@x.test"], "quotes": ["quinn@x.test"],
        "management": ["sam@x.test"]}  # no lead there: its members


def expected_task_notices(db: DB) -> set[tuple[str, str]]:
    """(dedupe key, recipient) that the tasks in the store call for."""
    want = set()
    with db.engine.connect() as conn:
        for t in conn.execute(select(TASK.c.id, TASK.c.assignee, TASK.c.queue, TASK.c.informed)):
            to = [t.assignee] if t.assignee else LEAD[t.queue]
            want.update((f"task_assigned:{t.id}:{e}", e) for e in to)
            for party in t.informed.strip(",").split(","):
                e = party if "@" in party else LEAD.get(party, [None])[0]
                if e and e not in to and party != "management":
                    want.add((f"informed:{t.id}:{e}", e))
    return want


def mid(key: str) -> str:
    return Message("", "", "", "", "", key).message_id


def notices(db: DB, *where: Any) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(NOTICE).where(*where))]


def noted(db: DB) -> set[tuple[str, str]]:
    """The notices as (dedupe key the message would have had, recipient)."""
    return {(f"{n['kind']}:{n['task_id']}:{n['recipient']}", n["recipient"]) for n in notices(db)}


def logged(db: DB, tmp_path: Path, at: datetime) -> list[dict[str, Any]]:
    """Deliver what is due at `at` through the log channel; the lines written."""
    path = tmp_path / f"sent-{at.isoformat()}.jsonl"
    deliver(db.engine, FixedClock(at), {"email": LogChannel(path)})
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def filled(db: DB) -> int:
    """A sweep and the due-soon reminders at AT: messages of several kinds, due at AT."""
    run_sweep(db.engine, FixedClock(AT))
    queue_due_soon(db.engine, FixedClock(AT))
    return count(db, OUTBOX)


# -- enqueue in the same transaction -------------------------------------------------------


def test_a_sweep_records_who_to_tell_once_per_task_and_person_and_renders_nothing(
        loaded: DB) -> None:
    run_sweep(loaded.engine, FixedClock(AT))
    made = count(loaded, TASK)
    assert made > 20
    # new tasks: one notice per task and person, for their digest; no message each
    got = notices(loaded)
    assert noted(loaded) == expected_task_notices(loaded)
    assert len(got) == len({(n["task_id"], n["recipient"]) for n in got}) >= made
    assert {n["kind"] for n in got} == {"task_assigned", "informed"}
    assert {n["digest_id"] for n in got} == {None}
    rows = outbox(loaded)
    assert {r["kind"] for r in rows} == {"state_changed"}  # key-account moves: at once
    assert all(r["subject"] is None and r["body_txt"] is None and r["body_html"] is None
               for r in rows)  # rendered when delivered, not when written
    with loaded.engine.connect() as conn:
        keys = conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.key_account.is_(True))).scalars().all()
        moved = conn.execute(select(TRANSITION.c.account_id, TRANSITION.c.to_state).where(
            TRANSITION.c.at == AT, TRANSITION.c.account_id.in_(keys))).all()
    assert moved, "the portfolio has key accounts that move"
    assert {(r["dedupe_key"], r["recipient"]) for r in rows} == {
        (f"state_changed:{a}:{AT.isoformat()}:{who}", who)
        for a, _ in moved for who in ("ann@x.test", "sam@x.test")}
    assert {r["status"] for r in rows} == {"pending"} and {r["channel"] for r in rows} == {"email"}
    run_sweep(loaded.engine, FixedClock(AT))
    assert len(outbox(loaded)) == len(rows) and len(notices(loaded)) == len(got)


def test_a_crash_inside_a_chunk_leaves_neither_tasks_nor_notifications(
        loaded: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    class Crash(Exception):
        pass

    def boom(*_args: Any) -> None:  # runs after the tasks and notifications went in
        raise Crash

    monkeypatch.setattr(task_writes, "link_feedback", boom)
    with pytest.raises(Crash):
        run_sweep(loaded.engine, FixedClock(AT))
    assert (
        count(loaded, TASK) == 0
        and count(loaded, OUTBOX) == 0
        and count(loaded, NOTICE) == 0
        and count(loaded, TRANSITION, TRANSITION.c.at == AT) == 0
    )


def test_a_sweep_stopped_between_chunks_leaves_no_orphan_and_the_rerun_completes(
        loaded: DB) -> None:
    class Crash(Exception):
        pass

    def stop(_n: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        run_sweep(loaded.engine, FixedClock(AT), progress=stop, chunk=2)
    assert count(loaded, TASK) > 0 and notices(loaded)
    assert noted(loaded) == expected_task_notices(loaded)  # exactly the tasks that exist
    run_sweep(loaded.engine, FixedClock(AT), chunk=2)
    assert noted(loaded) == expected_task_notices(loaded)
    rows = outbox(loaded)
    assert len({r["dedupe_key"] for r in rows}) == len(rows)


def test_escalations_are_sent_at_once_each_level_once(loaded: DB, smtp: Smtp) -> None:
    run_sweep(loaded.engine, FixedClock(AT))
    later = FixedClock(AT + timedelta(days=30))
    run_sweep(loaded.engine, later)
    with loaded.engine.connect() as conn:
        events = conn.execute(select(AUDIT_EVENT.c.entity_id, AUDIT_EVENT.c.after).where(
            AUDIT_EVENT.c.action == "escalated")).all()
    assert events
    rows = outbox(loaded, OUTBOX.c.kind == "escalated")
    want = {(f"escalated:{e.entity_id}:{e.after['level']}:{who}", who) for e in events
            for who in (LEAD[e.after["to"][6:]] if e.after["to"].startswith("queue:")
                        else [e.after["to"]])}
    assert ("queue:management" in {e.after["to"] for e in events}
            and any(who == "sam@x.test" for _, who in want))
    assert {(r["dedupe_key"], r["recipient"]) for r in rows} == want
    assert {r["subject"] for r in rows} == {None}
    # no digest job runs: the deliverer renders and sends them as they are
    deliver(loaded.engine, later, smtp.channels())
    rows = outbox(loaded, OUTBOX.c.kind == "escalated")
    assert {r["status"] for r in rows} == {"sent"}
    sent = [m for m in smtp.received() if "days late" in m[1]]
    assert sorted(sent) == sorted((r["recipient"], r["subject"], mid(r["dedupe_key"]))
                                  for r in rows)
    late = rows[0]
    assert "days late" in late["subject"] and late["payload"]["reason"].startswith("due on")
    assert late["payload"]["level"] in (1, 2) and late["payload"]["rule"]
    run_sweep(loaded.engine, later)
    assert len(outbox(loaded, OUTBOX.c.kind == "escalated")) == len(rows)


def test_a_manual_move_of_a_key_account_tells_owner_and_sponsor_but_not_the_mover(
        loaded: DB, tmp_path: Path) -> None:
    run_sweep(loaded.engine, FixedClock(AT))
    with loaded.engine.connect() as conn:
        key = conn.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.key_account.is_(True),
                                                ACCOUNT.c.state == "declining")).scalars().first()
    assert key is not None
    r = loaded.cli("account", "move", key, "recovery", "--reason", "framework tender lost",
                   "--by", "sam@x.test", "--at", "2026-06-20")
    assert r.code == 0, r.stderr
    rows = outbox(
        loaded, OUTBOX.c.kind == "state_changed", OUTBOX.c.dedupe_key.like(f"%{key}:2026-06-20%")
    )
    assert [r["recipient"] for r in rows] == ["ann@x.test"]
    logged(loaded, tmp_path, datetime(2026, 6, 20, 1))
    (row,) = outbox(loaded, OUTBOX.c.id == rows[0]["id"])
    assert "sam@x.test: framework tender lost" in row["body_txt"]


def test_queue_tasks_go_to_the_queue_lead_and_a_reassigned_task_to_its_new_assignee(
        loaded: DB, tmp_path: Path) -> None:
    run_sweep(loaded.engine, FixedClock(AT))
    r = loaded.cli("event", "NEWBIG", "quote_created", "--ref", "Q-17", "--at", "2026-06-16")
    assert r.code == 0, r.stderr
    with loaded.engine.connect() as conn:
        check = conn.execute(select(TASK.c.id, TASK.c.queue).where(
            TASK.c.step == "high_potential.quote_double_check")).one()
    assert check.queue == "quotes"
    # the step says `deliver: immediate`: a message now, not a line in tomorrow's digest
    assert notices(loaded, NOTICE.c.task_id == check.id) == []
    (row,) = outbox(loaded, OUTBOX.c.dedupe_key.like(f"task_assigned:{check.id}:%"))
    assert row["recipient"] == "quinn@x.test" and row["subject"] is None
    logged(loaded, tmp_path, datetime(2026, 6, 16, 1))
    (row,) = outbox(loaded, OUTBOX.c.dedupe_key.like(f"task_assigned:{check.id}:%"))
    assert "quotes queue" in row["subject"] and row["status"] == "sent"
    r = loaded.cli("task", "reassign", str(check.id), "--to", "lea@x.test", "--by", "quinn@x.test",
                   "--at", "2026-06-16T10:00")
    assert r.code == 0, r.stderr
    assert [x["recipient"] for x in outbox(loaded, OUTBOX.c.dedupe_key.like(
        f"task_assigned:{check.id}:%"))] == ["quinn@x.test", "lea@x.test"]


# -- delivery ---------------------------------------------------------------------------


def test_every_message_arrives_once_with_its_subject_and_recipient(
        loaded: DB, smtp: Smtp) -> None:
    n = filled(loaded)
    assert {r["kind"] for r in outbox(loaded)} == {"state_changed", "due_soon"}
    result = deliver(loaded.engine, FixedClock(AT), smtp.channels(), batch=7)
    assert (result.claimed, result.sent, result.retried) == (n, n, 0)
    rows = outbox(loaded)  # rendered by the deliverer
    assert all(r["subject"] and r["body_txt"] and r["body_html"] for r in rows)
    assert sorted(smtp.received()) == sorted((r["recipient"], r["subject"], mid(r["dedupe_key"]))
                                             for r in rows)
    assert {r["status"] for r in rows} == {"sent"} and {r["sent_at"] for r in rows} == {AT}
    again = deliver(loaded.engine, FixedClock(AT + timedelta(hours=1)), smtp.channels())
    assert again.claimed == 0 and len(smtp.received()) == n


def test_an_smtp_outage_loses_nothing_and_the_retry_sends_each_message_once(
        loaded: DB, smtp: Smtp) -> None:
    n = filled(loaded)
    smtp.stop()
    down = deliver(loaded.engine, FixedClock(AT), smtp.channels())
    assert (down.sent, down.retried, down.failed) == (0, n, 0)
    rows = outbox(loaded)
    assert {(r["status"], r["attempts"], r["next_attempt_at"]) for r in rows} == {
        ("pending", 1, AT + timedelta(minutes=1))}
    assert all("Connection refused" in r["last_error"] for r in rows)
    # the server is down: after the first refusal the others are not even tried this time
    assert sum(r["last_error"].startswith("not tried: ") for r in rows) == n - 1
    assert deliver(loaded.engine, FixedClock(AT + timedelta(seconds=59)), smtp.channels()
                   ).claimed == 0  # backing off
    still = deliver(loaded.engine, FixedClock(AT + timedelta(minutes=1)), smtp.channels())
    assert still.retried == n
    assert {(r["attempts"], r["next_attempt_at"]) for r in outbox(loaded)} == {
        (2, AT + timedelta(minutes=3))}  # 1 min, then 2 min
    smtp.start()
    assert deliver(loaded.engine, FixedClock(AT + timedelta(minutes=2)), smtp.channels()
                   ).claimed == 0
    back = deliver(loaded.engine, FixedClock(AT + timedelta(minutes=3)), smtp.channels())
    assert (back.sent, back.retried) == (n, 0)
    rows = outbox(loaded)
    assert sorted(smtp.received()) == sorted((r["recipient"], r["subject"], mid(r["dedupe_key"]))
                                             for r in rows)
    assert {(r["status"], r["attempts"]) for r in outbox(loaded)} == {("sent", 3)}
    after = deliver(loaded.engine, FixedClock(AT + timedelta(days=1)), smtp.channels())
    assert after.claimed == 0 and len(smtp.received()) == n


def test_a_message_is_given_up_after_max_attempts_and_backoff_is_capped(loaded: DB) -> None:
    from kamflow.notify import backoff

    assert [backoff(k) for k in (1, 2, 3, 9, 10, 40)] == [
        timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
        timedelta(minutes=256), timedelta(hours=6), timedelta(hours=6)]
    filled(loaded)
    dead = {"email": EmailChannel("127.0.0.1", free_port(), timeout=2)}
    at = AT
    for _ in range(3):
        deliver(loaded.engine, FixedClock(at), dead, max_attempts=3)
        at += timedelta(hours=6)
    assert {(r["status"], r["attempts"]) for r in outbox(loaded)} == {("failed", 3)}
    assert deliver(loaded.engine, FixedClock(at), dead, max_attempts=3).claimed == 0


def test_two_deliverers_in_parallel_never_send_the_same_row(loaded: DB, smtp: Smtp) -> None:
    n = filled(loaded)
    start = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            results.append(deliver(loaded.engine, FixedClock(AT), smtp.channels(), batch=3))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = smtp.received()
    assert len(got) == n and len({m for _, _, m in got}) == n
    assert sum(r.sent for r in results) == n
    assert {r["status"] for r in outbox(loaded)} == {"sent"}


def test_a_webhook_outage_then_each_post_arrives_once(loaded: DB) -> None:
    hook = Hook([503] * 1000)
    try:
        prefs(loaded, "ann@x.test", "--channel", "webhook", "--webhook-url", f"{hook.url}/ann")
        filled(loaded)
        mine = outbox(loaded, OUTBOX.c.channel == "webhook")
        assert mine and {r["recipient"] for r in mine} == {"ann@x.test"}
        chans = {"webhook": WebhookChannel(timeout=5), "email": EmailChannel(
            "127.0.0.1", free_port(), timeout=2)}
        down = deliver(loaded.engine, FixedClock(AT), chans)
        assert down.sent == 0 and hook.calls == len(mine)
        assert all("HTTP 503" in r["last_error"] for r in outbox(loaded, OUTBOX.c.channel == "webhook"))
        hook.statuses.clear()
        hook.statuses.extend([503, 503])  # still flaky for two more posts
        deliver(loaded.engine, FixedClock(AT + timedelta(minutes=1)), chans)
        deliver(loaded.engine, FixedClock(AT + timedelta(minutes=3)), chans)
        assert sorted(b["key"] for b in hook.bodies) == sorted(r["dedupe_key"] for r in mine)
        assert {b["path"] for b in hook.bodies} == {"/ann"}
        first = next(b for b in hook.bodies if b["kind"] == "due_soon")
        assert first["text"].startswith(f"*{first['subject']}*\n") and first["why"]["rule"]
        assert {r["status"] for r in outbox(loaded, OUTBOX.c.channel == "webhook")} == {"sent"}
        calls = hook.calls
        deliver(loaded.engine, FixedClock(AT + timedelta(days=1)), chans)
        assert hook.calls == calls
    finally:
        hook.close()


# -- digests, reminders, preferences ---------------------------------------------------


def test_a_berlin_digest_goes_out_once_per_local_day_after_its_hour(loaded: DB,
                                                                   tmp_path: Path) -> None:
    prefs(loaded, "ann@x.test", "--timezone", "Europe/Berlin", "--digest-hour", "8")
    run_sweep(loaded.engine, FixedClock(AT))
    ann = OUTBOX.c.dedupe_key.like("digest:ann@x.test:%")
    # 2026-06-16: CEST is UTC+2, so 08:00 in Berlin is 06:00 UTC
    for hour, minute, total in [(5, 59, 0), (6, 0, 1), (6, 15, 1), (12, 0, 1), (21, 59, 1),
                                (22, 30, 1),  # 00:30 on the 17th in Berlin: before 08:00
                                (30, 0, 2), (31, 0, 2)]:  # the 17th, 08:00 and 09:00 local
        queue_digests(loaded.engine, FixedClock(datetime(2026, 6, 16) + timedelta(
            hours=hour, minutes=minute)))
        assert count(loaded, OUTBOX, ann) == total, (hour, minute)
    keys = [r["dedupe_key"] for r in outbox(loaded, ann)]
    assert keys == ["digest:ann@x.test:2026-06-16", "digest:ann@x.test:2026-06-17"]
    logged(loaded, tmp_path, datetime(2026, 6, 17, 9))
    first = outbox(loaded, ann)[0]
    assert "overdue" in first["subject"] and "Europe/Berlin" in first["body_txt"]
    assert first["payload"]["reason"] == "your daily digest, after 08:00 Europe/Berlin"


def test_opt_outs_are_respected_when_notifications_are_written(loaded: DB) -> None:
    got = prefs(loaded, "ann@x.test", "--opt-out", "task_assigned", "--opt-out", "digest")
    assert got["opted_out"] == ["task_assigned", "digest"]
    run_sweep(loaded.engine, FixedClock(AT))
    assert (
        count(loaded, OUTBOX, OUTBOX.c.recipient == "ann@x.test", OUTBOX.c.kind == "task_assigned") == 0
    )
    # no digest for ann: nothing waits for one (what she still wants would come at once)
    assert count(loaded, NOTICE, NOTICE.c.recipient == "ann@x.test") == 0
    assert (
        count(loaded, NOTICE, NOTICE.c.recipient == "sam@x.test", NOTICE.c.kind == "task_assigned") > 0
    )
    assert (
        count(loaded, OUTBOX, OUTBOX.c.recipient == "ann@x.test", OUTBOX.c.kind == "state_changed") > 0
    )
    late_june = datetime(2026, 6, 30, 12)  # sam's visits are due within the week
    queue_digests(loaded.engine, FixedClock(late_june))
    assert count(loaded, OUTBOX, OUTBOX.c.kind == "digest", OUTBOX.c.recipient == "ann@x.test") == 0
    assert count(loaded, OUTBOX, OUTBOX.c.kind == "digest", OUTBOX.c.recipient == "sam@x.test") == 1
    back = prefs(loaded, "ann@x.test", "--opt-in", "digest")
    assert back["opted_out"] == ["task_assigned"]
    queue_digests(loaded.engine, FixedClock(late_june + timedelta(hours=1)))
    assert count(loaded, OUTBOX, OUTBOX.c.kind == "digest", OUTBOX.c.recipient == "ann@x.test") == 1


def test_due_soon_reminders_once_per_task(loaded: DB) -> None:
    run_sweep(loaded.engine, FixedClock(AT))
    today = AT.date()
    with loaded.engine.connect() as conn:
        soon = conn.execute(select(TASK.c.id).where(
            TASK.c.status == "open", TASK.c.due.between(today, today + timedelta(days=2)))
        ).scalars().all()
    assert soon
    assert queue_due_soon(loaded.engine, FixedClock(AT)) == len(soon)
    assert queue_due_soon(loaded.engine, FixedClock(AT + timedelta(hours=3))) == 0
    keys = {r["dedupe_key"] for r in outbox(loaded, OUTBOX.c.kind == "due_soon")}
    assert {k.rsplit(":", 1)[0] for k in keys} == {f"due_soon:{i}" for i in soon}


def test_the_template_folder_setting_is_used_when_delivering(
        loaded: DB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "due_soon.txt").write_text("SOON {{ task.title }} ({{ why.rule }})\n")
    filled(loaded)  # written before the setting: the text is made at delivery
    monkeypatch.setenv("KAMFLOW_TEMPLATE_DIR", str(folder))
    logged(loaded, tmp_path, AT)
    soon = outbox(loaded, OUTBOX.c.kind == "due_soon")
    assert soon and all(r["body_txt"].startswith("SOON ") for r in soon)
    others = outbox(loaded, OUTBOX.c.kind != "due_soon")
    assert others and all(not r["body_txt"].startswith("SOON") for r in others)


# -- digests carry the new tasks; rendering at delivery is once and crash-safe -------------


def test_the_digest_tells_each_person_of_their_new_tasks_once(loaded: DB, smtp: Smtp) -> None:
    run_sweep(loaded.engine, FixedClock(AT))
    waiting = notices(loaded)
    people = {n["recipient"] for n in waiting}
    morning = FixedClock(AT + timedelta(hours=8))  # 08:00 UTC: everyone's default hour
    assert queue_digests(loaded.engine, FixedClock(AT + timedelta(hours=7))) == 0
    assert queue_digests(loaded.engine, morning) >= len(people)
    digests = {r["recipient"]: r for r in outbox(loaded, OUTBOX.c.kind == "digest")}
    assert set(digests) >= people
    assert {n["digest_id"] for n in notices(loaded)} <= {r["id"] for r in digests.values()}
    assert all(n["digest_id"] == digests[n["recipient"]]["id"] for n in notices(loaded))
    with loaded.engine.begin() as conn:  # a task renamed before delivery shows its name now
        first = waiting[0]["task_id"]
        conn.execute(TASK.update().where(TASK.c.id == first).values(title="Renamed at noon"))
    result = deliver(loaded.engine, morning, smtp.channels())
    assert result.failed == result.retried == 0
    mails = {str(m["To"]): m for m in smtp.mails() if m["X-Kamflow-Kind"] == "digest"}
    assert set(mails) == set(digests)
    for n in waiting:
        text = mails[n["recipient"]].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"[task {n['task_id']}" in text.split("Your open tasks")[0], n
    assert "Renamed at noon" in mails[waiting[0]["recipient"]].get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    mine = sum(1 for n in waiting if n["recipient"] == "ann@x.test")
    ann = mails["ann@x.test"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"New for you ({mine})" in ann and "Steady GmbH" in ann
    with loaded.engine.connect() as conn:
        version = active_version(conn)
    (row,) = outbox(loaded, OUTBOX.c.dedupe_key == digests["ann@x.test"]["dedupe_key"])
    assert row["status"] == "sent" and row["payload"]["playbook_version"] == version
    assert row["payload"]["reason"] == "your daily digest, after 08:00 UTC"
    # the next day: nothing new to tell, the notices are not told again
    next_day = FixedClock(AT + timedelta(days=1, hours=8))
    queue_digests(loaded.engine, next_day)
    deliver(loaded.engine, next_day, smtp.channels())
    later = [m for m in smtp.mails() if m["X-Kamflow-Kind"] == "digest"][len(mails):]
    assert all("New for you" not in str(m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
               for m in later)


def test_a_crash_between_render_and_send_neither_loses_nor_doubles(
        loaded: DB, smtp: Smtp) -> None:
    class Crash(BaseException):  # not an Exception: the deliverer does not catch it
        pass

    class Dies:
        def send(self, message: Message) -> None:
            raise Crash

        def close(self) -> None:
            return None

    run_sweep(loaded.engine, FixedClock(AT))
    morning = FixedClock(AT + timedelta(hours=8))
    queue_digests(loaded.engine, morning)
    n = count(loaded, OUTBOX)
    with pytest.raises(Crash):
        deliver(loaded.engine, morning, {"email": Dies()}, batch=n)
    claimed = outbox(loaded)
    assert {r["status"] for r in claimed} == {"sending"}  # the claim and the text committed
    assert all(r["subject"] and r["body_txt"] for r in claimed)
    with loaded.engine.begin() as conn:  # changes after the render do not change the text
        conn.execute(TASK.update().values(title="Changed after the render"))
    assert deliver(loaded.engine, morning, smtp.channels()).claimed == 0  # leased
    after = FixedClock(AT + timedelta(hours=8, minutes=11))
    assert deliver(loaded.engine, after, smtp.channels()).sent == n
    got = smtp.received()
    assert sorted(got) == sorted((r["recipient"], r["subject"], mid(r["dedupe_key"]))
                                 for r in claimed)
    assert all("Changed after the render" not in str(m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
               for m in smtp.mails())
    assert {(r["status"], r["body_txt"]) for r in outbox(loaded)} == {
        ("sent", r["body_txt"]) for r in claimed}
    assert deliver(loaded.engine, FixedClock(AT + timedelta(days=1)), smtp.channels()).claimed == 0
    assert len(smtp.received()) == n


def test_a_crash_while_rendering_leaves_the_rows_waiting(
        loaded: DB, smtp: Smtp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = filled(loaded)
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "due_soon.txt").write_text("{{ no_such_variable }}\n")
    monkeypatch.setenv("KAMFLOW_TEMPLATE_DIR", str(folder))
    result = deliver(loaded.engine, FixedClock(AT), smtp.channels())
    soon = outbox(loaded, OUTBOX.c.kind == "due_soon")
    assert result.retried == len(soon) and result.sent == n - len(soon)
    assert all(r["status"] == "pending" and r["subject"] is None
               and "template due_soon.txt" in r["last_error"] for r in soon)
    monkeypatch.delenv("KAMFLOW_TEMPLATE_DIR")
    back = deliver(loaded.engine, FixedClock(AT + timedelta(minutes=1)), smtp.channels())
    assert back.sent == len(soon) and len(smtp.received()) == n


# -- the command line -----------------------------------------------------------------


def test_cli_deliver_outbox_and_log_channel(loaded: DB, smtp: Smtp, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "notifications.jsonl"
    monkeypatch.setenv("KAMFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KAMFLOW_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("KAMFLOW_LOG_CHANNEL_PATH", str(log))
    prefs(loaded, "sam@x.test", "--channel", "log")
    assert loaded.cli("sweep", "--at", "2026-06-15").code == 0
    r = loaded.cli("notify", "outbox", "--status", "pending", "--limit", "1000", "--json")
    assert r.code == 0, r.stderr
    pending = json.loads(r.stdout)
    assert len(pending) == count(loaded, OUTBOX)
    r = loaded.cli("notify", "deliver", "--at", "2026-06-15T00:05", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["sent"] == len(pending)
    to_sam = [p for p in pending if p["recipient"] == "sam@x.test"]
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(p["dedupe_key"] for p in to_sam)
    assert len(smtp.received()) == len(pending) - len(to_sam)
    r = loaded.cli("notify", "outbox", "--status", "sent")
    assert r.code == 0 and "notification(s)" in r.stdout
    r = loaded.cli("notify", "digests", "--at", "2026-06-15T12:00", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["digests"] >= 1


BAD_PREFS = [
    (["--timezone", "Mars/Olympus"], "--timezone: 'Mars/Olympus' is not an IANA time zone"),
    (["--digest-hour", "24"], "--digest-hour: 24 is not an hour from 0 to 23"),
    (["--channel", "pigeon"], "--channel: 'pigeon' is not one of email, webhook, log"),
    (["--channel", "webhook"], "--channel: webhook needs a --webhook-url"),
    (["--webhook-url", "ftp://x"], "--webhook-url: 'ftp://x' is not an http:// or https:// URL"),
    (["--opt-out", "spam"], "--opt-out: 'spam' is not one of task_assigned"),
    (["--timezone", "Europe/Berlin", "--digest-hour", "-1"], "--digest-hour: -1 is not an hour"),
]


def test_bad_preferences_are_refused_with_the_option_named(loaded: DB) -> None:
    before = prefs(loaded, "ann@x.test")
    for args, message in BAD_PREFS:
        r = loaded.cli("people", "prefs", "ann@x.test", *args)
        assert r.code == 2 and message in r.stderr and "nothing was changed" in r.stderr, args
    assert prefs(loaded, "ann@x.test") == {**before, "changed": False}
    with loaded.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AUDIT_EVENT).where(
            AUDIT_EVENT.c.action == "notification_prefs")).scalar_one() == 0
    unknown = loaded.cli("people", "prefs", "who@x.test")
    assert unknown.code == 2 and "unknown person 'who@x.test'" in unknown.stderr
    bad = loaded.cli("notify", "outbox", "--status", "lost")
    assert bad.code == 2 and "--status: 'lost' is not one of" in bad.stderr
    ok = prefs(loaded, "ann@x.test", "--timezone", "Europe/Berlin", "--digest-hour", "7",
               "--by", "sam@x.test")
    assert (ok["timezone"], ok["digest_hour"], ok["changed"]) == ("Europe/Berlin", 7, True)
    with loaded.engine.connect() as conn:
        (event,) = conn.execute(
            select(AUDIT_EVENT.c.actor, AUDIT_EVENT.c.before, AUDIT_EVENT.c.after).where(
                AUDIT_EVENT.c.action == "notification_prefs"
            )
        ).all()
    assert event.actor == "sam@x.test" and event.before["timezone"] == "UTC"
    assert event.after["digest_hour"] == 7
