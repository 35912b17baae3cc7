"""Malformed YAML never escapes the loader as anything but a located PlaybookError: a
corpus of known attacks (unknown and unsafe tags, merges onto lists, aliases inside
themselves, alias bombs, deep nesting, bad bytes) and hypothesis-made documents, over the
playbook loader and the plan parser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamflow.playbooks.errors import PlaybookError
from kamflow.playbooks.loader import bundled_dir, load_plan, load_sources, read_dir

BOMB = ("a: &a ['x','x','x','x','x','x','x','x','x']\n"
        + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
                  for p, n in zip("abcdefg", "bcdefgh", strict=True)))
CORPUS = {
    "python tag": "fiscal_year: !!python/object/apply:os.system ['echo hi']\n",
    "python name": "fiscal_year: !!python/name:os.system\n",
    "custom tag": "fiscal_year: !custom 2026\n",
    "custom tag on a mapping": "fiscal_year: 2026\ntarget: !thing {revenue: 1}\n",
    "merge onto a list": "base: &b [1, 2]\nfiscal_year:\n  <<: *b\n",
    "merge of a scalar": "fiscal_year: 2026\ntarget:\n  <<: 5\n",
    "alias inside itself": "fiscal_year: 2026\nloop: &l [*l]\n",
    "mapping inside itself": "&m {fiscal_year: 2026, me: *m}\n",
    "alias bomb": BOMB,
    "deep flow nesting": "fiscal_year: " + "[" * 3000 + "]" * 3000 + "\n",
    "deep block nesting": "".join("  " * i + f"k{i}:\n" for i in range(400)),
    "unhashable key": "? [1, 2]\n: 3\n",
    "alias as a key": "x: &a [1]\ny: {*a : 2}\n",
    "two documents": "fiscal_year: 2026\n---\nfiscal_year: 2027\n",
    "NUL": "fiscal_year: 2026\x00\n",
    "undefined alias": "fiscal_year: *nope\n",
    "tab indentation": "fiscal_year:\n\t2026\n",
    "binary": "fiscal_year: !!binary AAAA\n",
    "set": "fiscal_year: !!set {a, b}\n",
    "timestamp key": "2026-01-01: x\n",
    "a list": "- 1\n- 2\n",
    "a scalar": "just text\n",
    "empty": "",
    "only a comment": "# nothing\n",
    "huge int": "fiscal_year: " + "9" * 5000 + "\n",
    "float year": "fiscal_year: .nan\n",
}


def assert_located(problems: list[Any], name: str) -> None:
    assert problems, "a PlaybookError with no problem"
    for p in problems:
        assert str(p).startswith(name), p


@pytest.mark.parametrize("text", CORPUS.values(), ids=CORPUS.keys())
def test_the_plan_parser_locates_every_malformed_document(text: str) -> None:
    with pytest.raises(PlaybookError) as info:
        load_plan(text, "plan.yaml")
    assert_located(info.value.problems, "plan.yaml")
    parse_problems = [p for p in info.value.problems if "YAML" in p.message]
    assert all(p.line is not None for p in parse_problems), parse_problems


@pytest.mark.parametrize("text", CORPUS.values(), ids=CORPUS.keys())
def test_the_playbook_loader_locates_every_malformed_file(text: str) -> None:
    sources = read_dir(bundled_dir())
    sources["loyal.yaml"] = text
    with pytest.raises(PlaybookError) as info:
        load_sources(sources, origin="pb")
    assert any(str(p).startswith("pb/loyal.yaml") for p in info.value.problems)


YAMLISH = st.sampled_from([
    "fiscal_year", "target", "revenue", "steps", "key", "title", "cadence", ":", ": ", "- ",
    "\n", "  ", "[", "]", "{", "}", ",", "&a ", "*a", "&b ", "*b", "<<: ", "!!python/object:x ",
    "!custom ", "!!str ", "!!int ", "!!map ", "!!seq ", "? ", "'", '"', "|", ">", "#", "---",
    "...", "2026", "-1", "1e400", ".inf", "null", "~", "true", "on", "\t", "\x00", "\ufeff",
    "%YAML 1.1\n", "%TAG ! tag:x,2026:\n", "é",
])
DOCS = st.one_of(st.text(max_size=300), st.lists(YAMLISH, max_size=60).map("".join))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_fuzz_the_plan_parser(text: str) -> None:
    try:
        load_plan(text, "plan.yaml")
    except PlaybookError as e:
        assert_located(e.problems, "plan.yaml")


SOURCES = read_dir(bundled_dir())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SOURCES)), st.data())
def test_fuzz_the_playbook_loader_by_splicing_bundled_files(name: str, data: Any) -> None:
    """Cut a bundled file at a random place and splice in YAML-ish garbage."""
    text = SOURCES[name]
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 80))
    insert = data.draw(DOCS)
    sources = {**SOURCES, name: text[:at] + insert + text[at + cut:]}
    try:
        load_sources(sources, origin="pb")
    except PlaybookError as e:
        assert_located(e.problems, "pb/")
