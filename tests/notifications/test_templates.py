"""Every bundled template rendered with a realistic context; missing variables fail loudly;
a user's template folder wins; html bodies escape what they show."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from kamflow.notifications import messages
from kamflow.notifications.messages import KINDS, Draft, StateChange, TaskInfo
from kamflow.notifications.render import BUNDLED, Renderer, TemplateError, bundled_names

TASK = TaskInfo(
    id=41, account_id="ACC-000004", account_name="Müller & Söhne <GmbH>",
    step="loyal.quarterly_plan_review",
    title="Quarterly review of the account plan with the customer", due=date(2026, 8, 5),
    state="loyal", playbook_version="3f2a9c1b7d0e",
    why={"rule": "loyal.quarterly_plan_review", "occurrence": "quarter 2026Q3 (starts "
         "2026-07-01) + 45 days", "state": "loyal", "state_since": "2026-01-01T00:00:00",
         "class": "A"},
    assignee="ann@x.test")
QUEUED = replace(TASK, id=42, assignee=None, queue="finance")


def samples() -> dict[str, Draft]:
    """One realistic draft per kind, built the way the store builds them."""
    digest = messages.digest("ann@x.test", date(2026, 8, 5), "Europe/Berlin", 8,
                             [TASK, replace(TASK, id=7, due=date(2026, 8, 1))])
    assert digest is not None
    return {
        "task_assigned": messages.task_assigned(QUEUED, "lea@x.test"),
        "due_soon": messages.due_soon(TASK, "ann@x.test", date(2026, 8, 4)),
        "escalated": messages.escalated(TASK, "sam@x.test", 1, 6),
        "informed": messages.informed(TASK, "fin@x.test"),
        "digest": digest,
        "state_changed": messages.state_changed(StateChange(
            "ACC-000004", "Müller & Söhne <GmbH>", "loyal", "declining", "drifting_away",
            "3f2a9c1b7d0e", datetime(2026, 8, 5, 5), {"revenue_trend": -0.31,
                                                      "days_since_contact": 23}), "ann@x.test"),
    }


def test_the_bundled_templates_are_exactly_one_txt_and_one_html_per_kind() -> None:
    assert bundled_names() == sorted(KINDS)
    files = sorted(p.name for p in BUNDLED.iterdir())
    assert files == sorted(f"{k}.{s}" for k in KINDS for s in ("txt", "html"))


@pytest.mark.parametrize("suffix", ["txt", "html"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_a_realistic_message(kind: str, suffix: str) -> None:
    draft = samples()[kind]
    body = getattr(Renderer().render(draft.template_name, draft.render_context("Ann Am")), suffix)
    assert "Ann Am" in body
    assert draft.why["reason"][:30] in body
    assert str(draft.why["rule"]) in body or kind == "digest"
    if kind != "digest":
        assert draft.why["playbook_version"] in body
    assert "{{" not in body and "{%" not in body


def test_the_bodies_say_what_each_kind_is_about() -> None:
    r = Renderer()
    text = {k: r.render(d.template_name, d.render_context("Ann Am")).txt
            for k, d in samples().items()}
    assert "waiting in the finance queue" in text["task_assigned"]
    assert "due tomorrow (2026-08-05)" in text["due_soon"]
    assert "6 days late" in text["escalated"] and "level 1" in text["escalated"]
    assert "you are Informed" in text["informed"]
    overdue, _, rest = text["digest"].partition("Due today")
    assert "Overdue (1)" in overdue and "2026-08-01" in overdue
    assert "Due today (1)" in text["digest"] and "(none)" in rest  # nothing this week
    assert "revenue_trend = -0.31" in text["state_changed"]
    assert "moved from loyal to declining" in text["state_changed"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_variable_fails_instead_of_rendering_blank(kind: str) -> None:
    draft = samples()[kind]
    context = draft.render_context("Ann Am")
    del context["recipient_name"]
    with pytest.raises(TemplateError, match=rf"template {kind}\.txt: UndefinedError"):
        Renderer().render(draft.template_name, context)


def test_a_missing_nested_field_fails_too() -> None:
    draft = samples()["escalated"]
    context = draft.render_context("Ann Am")
    context["task"] = {k: v for k, v in context["task"].items() if k != "title"}
    with pytest.raises(TemplateError, match="escalated.txt.*title"):
        Renderer().render("escalated", context)


def test_the_users_template_folder_wins_and_the_rest_falls_back(tmp_path: Path) -> None:
    (tmp_path / "escalated.txt").write_text("LATE {{ task.title }} -> {{ recipient_name }}\n")
    draft = samples()["escalated"]
    body = Renderer(tmp_path).render("escalated", draft.render_context("Ann Am"))
    assert body.txt == f"LATE {TASK.title} -> Ann Am\n"
    assert "escalated to you" in body.html  # the html still comes from the bundled folder
    assert Renderer(tmp_path).has("escalated")
    assert not Renderer(tmp_path).has("no_such_template")
    with pytest.raises(TemplateError, match="no_such_template.txt: not found"):
        Renderer(tmp_path).render("no_such_template", {})


def test_html_escapes_what_it_shows_and_text_does_not() -> None:
    draft = samples()["state_changed"]
    body = Renderer().render("state_changed", draft.render_context("<b>Ann</b>"))
    assert "Müller &amp; Söhne &lt;GmbH&gt;" in body.html
    assert "&lt;b&gt;Ann&lt;/b&gt;" in body.html and "<b>Ann</b>" not in body.html
    assert "Müller & Söhne <GmbH>" in body.txt


def test_a_user_html_template_is_escaped_as_well(tmp_path: Path) -> None:
    (tmp_path / "informed.html").write_text("<p>{{ task.account_name }}</p>")
    body = Renderer(tmp_path).render("informed", samples()["informed"].render_context("x"))
    assert body.html == "<p>Müller &amp; Söhne &lt;GmbH&gt;</p>"
