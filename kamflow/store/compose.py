"""Rendering at delivery: an outbox row holds the facts of a notification (a task id, an
escalation level, a move; a digest's date, its notices), and the deliverer turns them into
a subject and bodies when it first claims the row, with the tasks as they are then.

The text is stored on the row in the claim's transaction, so it is rendered once: a retry,
or a re-claim after a crash between render and send, sends the same text under the same
Message-ID. A row that cannot be rendered (a broken template) is not lost: it fails like a
send and is retried with backoff.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from kamflow.notifications import messages
from kamflow.notifications.messages import Draft, StateChange, TaskInfo
from kamflow.notifications.render import Renderer, TemplateError
from kamflow.store import notices, outbox
from kamflow.store.tables import ACCOUNT, OUTBOX, TASK


@dataclass(frozen=True)
class Text:
    subject: str
    txt: str
    html: str
    payload: dict[str, Any]


class RenderError(Exception):
    """The facts of a row cannot be turned into a message (e.g. its task is gone)."""


@lru_cache(maxsize=8)
def _renderer_for(folder: str) -> Renderer:
    return Renderer(Path(folder) if folder else None)


def renderer() -> Renderer:
    """The renderer for the configured KAMFLOW_TEMPLATE_DIR (searched before the bundled)."""
    from kamflow.settings import Settings

    folder = Settings().template_dir
    return _renderer_for(str(folder) if folder else "")


def unrendered(row: Any) -> bool:
    return row.subject is None or row.body_txt is None or row.body_html is None


def render(conn: Connection, rows: Sequence[Any]) -> tuple[dict[int, Text], dict[int, str]]:
    """Render the claimed rows that have no text yet and store their text; returns the
    texts and, for rows that could not be rendered, the error (by row id)."""
    todo = [r for r in rows if unrendered(r)]
    if not todo:
        return {}, {}
    digests = [r for r in todo if r.kind == "digest"]
    carried = notices.carried(conn, [r.id for r in digests])
    ids = {int(r.payload["task_id"]) for r in todo if "task_id" in (r.payload or {})}
    ids.update(t for tasks in carried.values() for t in tasks)
    found = Found(outbox.tasks_by_id(conn, ids), carried, _open_tasks(conn, digests),
                  outbox.account_names(conn, {r.payload["account_id"] for r in todo
                                               if r.kind == "state_changed"}))
    people = outbox.recipients(conn, {r.recipient for r in todo})
    tpl = renderer()
    texts: dict[int, Text] = {}
    errors: dict[int, str] = {}
    for r in todo:
        try:
            draft = found.draft(r)
            name = draft.template_name if tpl.has(draft.template_name) else draft.kind
            who = people.get(r.recipient)
            body = tpl.render(name, draft.render_context(who.name if who else ""))
        except (RenderError, TemplateError, KeyError, ValueError, TypeError) as e:
            errors[r.id] = f"not rendered: {type(e).__name__}: {e}"
            continue
        texts[r.id] = Text(draft.subject, body.txt, body.html, {**(r.payload or {}), **draft.why})
    if texts:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"),
                                          OUTBOX.c.subject.is_(None))
                     .values(subject=bindparam("b_subject"), body_txt=bindparam("b_txt"),
                             body_html=bindparam("b_html"), payload=bindparam("b_payload")),
                     [{"b_id": i, "b_subject": t.subject, "b_txt": t.txt, "b_html": t.html,
                       "b_payload": t.payload} for i, t in texts.items()])
    return texts, errors


def _open_tasks(conn: Connection, digests: Sequence[Any]) -> dict[str, list[TaskInfo]]:
    """The open tasks of each digest's person due by the end of its week."""
    out: dict[str, list[TaskInfo]] = defaultdict(list)
    if not digests:
        return out
    until = max(date.fromisoformat(r.payload["date"]) for r in digests) + timedelta(
        days=messages.WEEK_DAYS)
    people = sorted({r.recipient for r in digests})
    for start in range(0, len(people), outbox.IN_CHUNK):
        q = (select(*outbox.TASK_COLUMNS)
             .select_from(TASK.join(ACCOUNT, ACCOUNT.c.id == TASK.c.account_id))
             .where(TASK.c.assignee.in_(people[start:start + outbox.IN_CHUNK]),
                    TASK.c.status == "open", TASK.c.due <= until))
        for r in conn.execute(q):
            out[r.assignee].append(outbox.task_info(r))
    return out


@dataclass(frozen=True)
class Found:
    """What the rows of one claim refer to, read once for all of them."""

    tasks: Mapping[int, TaskInfo]
    carried: Mapping[int, list[int]]  # digest row id -> task ids of its notices
    open_tasks: Mapping[str, list[TaskInfo]]  # person -> open tasks
    accounts: Mapping[str, str]  # account id -> name

    def task(self, facts: Mapping[str, Any]) -> TaskInfo:
        task = self.tasks.get(int(facts["task_id"]))
        if task is None:
            raise RenderError(f"task {facts['task_id']} not found")
        return task

    def draft(self, row: Any) -> Draft:
        f, to = dict(row.payload or {}), row.recipient
        if row.kind == "task_assigned":
            return messages.task_assigned(self.task(f), to, f.get("template", ""))
        if row.kind == "informed":
            return messages.informed(self.task(f), to)
        if row.kind == "escalated":
            return messages.escalated(self.task(f), to, int(f["level"]), int(f["days_late"]))
        if row.kind == "due_soon":
            return messages.due_soon(self.task(f), to, date.fromisoformat(f["today"]))
        if row.kind == "state_changed":
            change = StateChange(f["account_id"], self.accounts.get(f["account_id"],
                                                                    f["account_id"]),
                                 f["source"], f["dest"], f["rule"], f["playbook_version"],
                                 datetime.fromisoformat(f["at"]), f.get("metrics") or {},
                                 f.get("actor", "system"), f.get("reason", ""))
            return messages.state_changed(change, to)
        if row.kind == "digest":
            new = [self.tasks[i] for i in self.carried.get(row.id, ()) if i in self.tasks]
            got = messages.digest(to, date.fromisoformat(f["date"]), f["timezone"],
                                  int(f["hour"]), self.open_tasks.get(to, []), new, always=True)
            assert got is not None  # always=True
            return got
        raise RenderError(f"unknown kind '{row.kind}'")
