"""Loading playbooks: the bundled set is valid; every kind of mistake is named by file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.loader import bundled_dir, load_dir, load_sources, read_dir


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "pb"
    shutil.copytree(bundled_dir(), target)
    return target


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def line_of(folder: Path, name: str, fragment: str) -> int:
    for i, line in enumerate((folder / name).read_text().splitlines(), start=1):
        if fragment in line:
            return i
    raise AssertionError(f"{fragment!r} not in {name}")


def problems(folder: Path) -> list[str]:
    with pytest.raises(PlaybookError) as info:
        load_dir(folder)
    return [str(p) for p in info.value.problems]


def test_bundled_playbooks_are_valid_and_cover_every_state() -> None:
    book = load_dir(bundled_dir())
    assert set(book.states) == {"prospect", "high_potential", "loyal", "declining", "recovery",
                                "lost", "optimization"}
    assert len(book.version) == 12
    loyal = {s.key for s in book.states["loyal"].steps}
    assert {"annual_account_plan", "quarterly_plan_review", "monthly_target_tracking",
            "feedback_request", "senior_contact_check"} <= loyal
    hp = {s.key for s in book.states["high_potential"].steps}
    assert {"quote_double_check", "delivery_double_check", "quote_presented_in_person"} <= hp
    assert {"loss_cause_analysis", "success_check"} <= {s.key for s in book.states["recovery"].steps}


def test_version_is_the_content_hash(folder: Path) -> None:
    first = load_dir(folder).version
    assert load_dir(folder).version == first
    edit(folder, "loyal.yaml", "deadline_days: 30", "deadline_days: 31")
    assert load_dir(folder).version != first


def test_two_accountable_is_named_with_file_line_and_path(folder: Path) -> None:
    edit(folder, "loyal.yaml", "raci: {owner: R, sponsor: A, finance: I}",
         "raci: {owner: R, sponsor: A, finance: A}")
    line = line_of(folder, "loyal.yaml", "finance: A}")
    assert problems(folder) == [
        f"{folder}/loyal.yaml:{line}: steps[1].raci: two Accountable (sponsor, finance); "
        "exactly one is allowed"
    ]


def test_missing_responsible_and_unknown_department(folder: Path) -> None:
    edit(folder, "lost.yaml", "raci: {owner: R, sales.lead: A, marketing: C}",
         "raci: {owner: C, sales.lead: A, marketing: C}")
    edit(folder, "recovery.yaml", "raci: {owner: R, management: A, finance: I}",
         "raci: {owner: R, management: A, legal: I}")
    line = line_of(folder, "recovery.yaml", "legal: I")
    found = problems(folder)
    assert any("lost.yaml:" in p and "steps[1].raci: no Responsible" in p for p in found)
    assert f"{folder}/recovery.yaml:{line}: steps[2].raci.legal: unknown department 'legal'; " \
        "known: delivery, finance, management, marketing, owner, owner.lead, production, " \
        "project_management, quality, quotes, sales, service, sponsor" in found


def test_unknown_metric_in_a_guard_names_the_transition(folder: Path) -> None:
    edit(folder, "lifecycle.yaml", "when: wallet_share >= 50%", "when: wallet_shares >= 50%")
    line = line_of(folder, "lifecycle.yaml", "wallet_shares")
    [problem] = problems(folder)
    assert problem.startswith(f"{folder}/lifecycle.yaml:{line}: transitions[4].when: ")
    assert "unknown metric 'wallet_shares'" in problem


def test_unknown_state_in_a_transition(folder: Path) -> None:
    edit(folder, "lifecycle.yaml", "    to: lost\n", "    to: gone\n")
    [problem] = problems(folder)
    assert "transitions[0].to: unknown state 'gone'" in problem


def test_typo_in_a_key_and_a_bad_cadence(folder: Path) -> None:
    edit(folder, "optimization.yaml", "deadline_days: 30\n", "deadline_dayz: 30\n")
    edit(folder, "loyal.yaml", "{kind: quarterly, offset_days: 45}", "{kind: fortnightly}")
    found = problems(folder)
    assert any("optimization.yaml" in p and "steps[0].deadline_dayz: unknown key" in p
               for p in found)
    assert any("optimization.yaml" in p and "steps[0].deadline_days: required" in p
               for p in found)
    assert any("loyal.yaml" in p and "steps[1].cadence" in p for p in found)


def test_unknown_event_and_missing_state_file(folder: Path) -> None:
    edit(folder, "high_potential.yaml", "event: order_placed", "event: order_shipped")
    (folder / "recovery.yaml").unlink()
    found = problems(folder)
    assert any("cadence.event: unknown event 'order_shipped'" in p for p in found)
    assert any(p.startswith(f"{folder}/recovery.yaml: missing") for p in found)


def test_not_yaml_names_the_line(folder: Path) -> None:
    (folder / "lost.yaml").write_text("state: lost\npurpose: x\nsteps:\n  - key: [unclosed\n")
    [problem] = problems(folder)
    assert problem.startswith(f"{folder}/lost.yaml:") and "not YAML" in problem


def test_yes_and_no_stay_strings(folder: Path) -> None:
    """YAML 1.1 would turn a department called `no` into False; ours keeps it a key."""
    edit(folder, "organization.yaml", "departments:\n", "departments:\n  no:\n    name: Norway\n")
    book = load_dir(folder)
    assert "no" in book.organization.departments


def test_stored_sources_load_like_the_folder(folder: Path) -> None:
    sources = read_dir(folder)
    assert load_sources(sources).version == load_dir(folder).version


def test_senior_departments_must_be_declared(folder: Path) -> None:
    edit(folder, "organization.yaml", "senior_departments: [management]",
         "senior_departments: [managment]")
    line = line_of(folder, "organization.yaml", "senior_departments:")
    assert f"{folder}/organization.yaml:{line}: senior_departments: unknown department " \
        "'managment' (did you mean management?); known: delivery, finance, management, " \
        "marketing, production, project_management, quality, quotes, sales, service" \
        in problems(folder)


def test_a_once_upon_condition_step_needs_a_when(folder: Path) -> None:
    edit(folder, "loyal.yaml", "    when: revenue_share > 10%\n", "")
    assert any(p.startswith(f"{folder}/loyal.yaml:") and p.endswith(
        "steps[7]: cadence 'upon: condition' needs the step's 'when'") for p in problems(folder))


def test_a_step_is_told_in_the_digest_unless_it_says_immediate(folder: Path) -> None:
    book = load_dir(folder)
    hp = {s.key: s.deliver for s in book.states["high_potential"].steps}
    assert hp["quote_double_check"] == "immediate" and hp["quote_presented_in_person"] == "digest"
    edit(folder, "high_potential.yaml", "deliver: immediate", "deliver: at_once")
    found = problems(folder)
    assert any("high_potential.yaml" in p and "steps[1].deliver" in p for p in found), found
