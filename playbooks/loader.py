"""YAML files -> validated PlaybookSet, with every error located by file and line.

The only module that imports PyYAML. A set of playbooks is a folder holding
`organization.yaml`, `lifecycle.yaml`, `classification.yaml` and one
`<state>.yaml` per lifecycle state. The same loader reads a stored version
(file name -> text), so a version in the database is exactly what was validated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kamflow.playbooks.errors import PlaybookError, Problem
from kamflow.playbooks.expr import Condition, ExpressionError
from kamflow.playbooks.metrics import METRICS, STEP_METRICS, MetricType
from kamflow.playbooks.plan import PlanDocument
from kamflow.playbooks.schema import (
    CLASSES,
    PERSON_ROLES,
    Classification,
    Lifecycle,
    NoContact,
    OnEvent,
    Organization,
    StatePlaybook,
    raci_department,
    unknown_name,
)

CORE_FILES = ("organization.yaml", "lifecycle.yaml", "classification.yaml")
Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class PlaybookSet:
    """Everything the engine needs, plus the exact sources it came from.

    Compared and hashed by identity: one parsed object per version is cached.
    """

    organization: Organization
    lifecycle: Lifecycle
    classification: Classification
    states: Mapping[str, StatePlaybook]
    conditions: Mapping[str, Condition]  # rule -> parsed guard
    sources: Mapping[str, str] = field(repr=False)
    version: str = ""
    step_conditions: Mapping[str, Condition] = field(default_factory=dict)  # state.step -> when

    def playbook(self, state: str) -> StatePlaybook:
        return self.states[state]


class _Loader(yaml.CSafeLoader):
    """SafeLoader that keeps 'on', 'no', 'yes' as strings (YAML 1.1 would make them bools)
    and turns a scalar its constructors choke on (`!!int ''`, 5000 digits, `!!binary` that
    is not base64...) into a located ConstructorError instead of a bare ValueError."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {node.tag.rsplit(':', 1)[-1]} value: {e}",
                node.start_mark) from None


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false|True|False)$"),
    list("tTfF"),
)


def bundled_dir() -> Path:
    """The default playbooks shipped as package data."""
    return Path(str(files("kamflow.playbooks") / "defaults"))


def version_of(sources: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return digest.hexdigest()[:12]


def read_dir(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        raise PlaybookError([Problem(str(directory), None, "", "not a folder of playbooks")])
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))}


def load_dir(directory: Path) -> PlaybookSet:
    return load_sources(read_dir(directory), origin=str(directory))


def load_sources(sources: Mapping[str, str], origin: str = "playbooks") -> PlaybookSet:
    """Validate a whole set; raise PlaybookError listing every problem found."""
    ctx = _Context(origin)
    docs = {name: ctx.parse(name, text) for name, text in sources.items()}
    for name in CORE_FILES:
        if name not in docs:
            ctx.problem(name, (), f"missing (a playbook folder needs {', '.join(CORE_FILES)})")
    org = ctx.model(Organization, "organization.yaml", docs)
    life = ctx.model(Lifecycle, "lifecycle.yaml", docs)
    cls = ctx.model(Classification, "classification.yaml", docs)
    states: dict[str, StatePlaybook] = {}
    conditions: dict[str, Condition] = {}
    if life is not None:
        for state in life.states:
            name = f"{state}.yaml"
            if name not in docs:
                ctx.problem(name, (), f"missing: state '{state}' needs a playbook file")
                continue
            pb = ctx.model(StatePlaybook, name, docs)
            if pb is not None:
                states[state] = pb
        extra = set(docs) - set(CORE_FILES) - {f"{s}.yaml" for s in life.states}
        for name in sorted(extra):
            ctx.problem(name, (), f"'{name[:-5]}' is not a state declared in lifecycle.yaml")
        conditions = _check_lifecycle(ctx, life)
    if cls is not None:
        _check_classification(ctx, cls)
    step_conditions: dict[str, Condition] = {}
    if org is not None:
        for state, pb in states.items():
            step_conditions.update(_check_playbook(ctx, f"{state}.yaml", pb, org))
    if ctx.problems or org is None or life is None or cls is None:
        raise PlaybookError(ctx.problems)
    return PlaybookSet(org, life, cls, states, conditions, dict(sources), version_of(sources),
                       step_conditions)


def _check_lifecycle(ctx: _Context, life: Lifecycle) -> dict[str, Condition]:
    f = "lifecycle.yaml"
    known = set(life.states)
    if life.initial not in known:
        ctx.problem(f, ("initial",), f"unknown state '{life.initial}'")
    conditions: dict[str, Condition] = {}
    for i, t in enumerate(life.transitions):
        path: Path_ = ("transitions", i)
        for j, s in enumerate(t.source):
            if s not in known:
                ctx.problem(f, (*path, "from", j), f"unknown state '{s}'{_known(known)}")
        if t.dest not in known:
            ctx.problem(f, (*path, "to"), f"unknown state '{t.dest}'{_known(known)}")
        if t.when is not None:
            try:
                conditions[t.rule] = Condition.parse(t.when)
            except ExpressionError as e:
                ctx.problem(f, (*path, "when"), str(e))
    return conditions


def _check_classification(ctx: _Context, cls: Classification) -> None:
    # A score cannot read itself; retention comes after portrait_fit, so it may read that.
    for group, factors, barred in (("portrait", cls.portrait, {"portrait_fit", "retention_score"}),
                                   ("retention", cls.retention, {"retention_score"})):
        for i, c in enumerate(factors):
            if c.metric is None:
                continue
            spec = METRICS.get(c.metric)
            if spec is None or spec.type is not MetricType.NUMBER or c.metric in barred:
                ctx.problem("classification.yaml", (group, i, "metric"),
                            f"'{c.metric}' is not a numeric metric a {group} factor can use")


def _check_playbook(ctx: _Context, name: str, pb: StatePlaybook, org: Organization
                    ) -> dict[str, Condition]:
    conditions: dict[str, Condition] = {}
    if pb.state != name[:-5]:
        ctx.problem(name, ("state",), f"says '{pb.state}' but the file is for '{name[:-5]}'")
    for i, step in enumerate(pb.steps):
        path: Path_ = ("steps", i)
        for party in step.raci:
            dept = raci_department(party)
            if dept is not None and dept not in org.departments:
                ctx.problem(name, (*path, "raci", party), f"unknown department '{dept}'"
                            f"{_known(set(org.departments) | set(PERSON_ROLES))}")
        cad = step.cadence
        if isinstance(cad, OnEvent) and cad.event not in org.events:
            ctx.problem(name, (*path, "cadence", "event"),
                        f"unknown event '{cad.event}'{_known(set(org.events))}")
        if isinstance(cad, NoContact):
            for j, ch in enumerate(cad.channels):
                if ch not in org.contact_channels:
                    ctx.problem(name, (*path, "cadence", "channels", j),
                                unknown_name("channel", ch, org.contact_channels,
                                             org.channel_synonyms))
        if not step.classes:
            ctx.problem(name, (*path, "classes"), f"empty; use some of {', '.join(CLASSES)}")
        if step.when is not None:
            try:
                conditions[f"{pb.state}.{step.key}"] = Condition.parse(step.when, STEP_METRICS)
            except ExpressionError as e:
                ctx.problem(name, (*path, "when"), f"{e} (a step's condition reads the stored "
                            "classification only)")
    return conditions


PlanCheck = Callable[[PlanDocument], Iterable[tuple[Path_, str]]]


def load_plan(text: str, source: str, check: PlanCheck | None = None) -> PlanDocument:
    """Parse and validate an account plan; `check` adds the store's cross-checks (known
    people, months of the fiscal year). Raises PlaybookError naming file, line and field."""
    ctx = _Context("")
    name = source
    data = ctx.parse(name, text)
    if data is None and not ctx.problems:
        ctx.problem(name, (), "empty document")
    doc = ctx.model(PlanDocument, name, {name: data}) if data is not None else None
    if doc is not None and check is not None:
        for path, message in check(doc):
            ctx.problem(name, path, message)
    if ctx.problems or doc is None:
        raise PlaybookError(ctx.problems)
    return doc


def dump_plan(data: Mapping[str, Any]) -> str:
    """A stored plan as the YAML a person edits (keys in the model's order)."""
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)


def _known(names: set[str]) -> str:
    return f"; known: {', '.join(sorted(names))}" if names else ""


class _Context:
    """Collects problems and maps YAML paths back to line numbers."""

    def __init__(self, origin: str) -> None:
        self.origin = origin.rstrip("/")
        self.problems: list[Problem] = []
        self.lines: dict[str, dict[Path_, int]] = {}

    def file(self, name: str) -> str:
        return f"{self.origin}/{name}" if self.origin else name

    def problem(self, name: str, path: Path_, message: str) -> None:
        lines = self.lines.get(name, {})
        line = None
        for cut in range(len(path), -1, -1):
            line = lines.get(path[:cut])
            if line is not None:
                break
        self.problems.append(Problem(self.file(name), line, _render(path), message))

    def parse(self, name: str, text: str) -> Any:
        """The document in `text`, or None after recording a located problem: any malformed
        input (bad syntax, unknown or unsafe tags, merges onto lists, aliases that refer to
        themselves or expand too far, nesting too deep) is a FILE:LINE problem, never an
        exception."""
        try:
            node = yaml.compose(text, Loader=_Loader)
            if node is None:
                self.problem(name, (), "empty file")
                return None
            walker = _Walker()
            lines = walker.walk(node)
            if walker.trouble is not None:
                line, reason = walker.trouble
                self.problems.append(Problem(self.file(name), line, "", reason))
                return None
            self.lines[name] = lines
            return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
            at: int | None = mark.line + 1 if mark is not None else None
            if isinstance(e, yaml.reader.ReaderError):  # a bad character: only its position
                at = text[:e.position].count("\n") + 1
            reason = getattr(e, "problem", None) or getattr(e, "reason", None) or str(e)
            self.problems.append(Problem(self.file(name), at, "", f"not YAML: {reason}"))
            return None
        except RecursionError:
            self.problems.append(Problem(self.file(name), _too_deep(text), "",
                                         f"not YAML we accept: nested more than {MAX_DEPTH} "
                                         "levels"))
            return None

    def model(self, cls: type[M], name: str, docs: Mapping[str, Any]) -> M | None:
        data = docs.get(name)
        if data is None:
            return None
        if not isinstance(data, dict):
            self.problem(name, (), "expected a mapping at the top level")
            return None
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            for err in e.errors():
                loc = _clean_loc(err["loc"])
                self.problem(name, loc, _message(err))
            return None


MAX_DEPTH = 100  # nesting levels a playbook or plan may use
MAX_NODES = 200_000  # nodes after expanding aliases: a "billion laughs" stops here


def _too_deep(text: str) -> int | None:
    """The line where `text` first nests deeper than MAX_DEPTH (the scanner does not
    recurse, unlike the composer)."""
    depth = 0
    opening = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken,
               yaml.BlockSequenceStartToken, yaml.BlockMappingStartToken)
    closing = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)
    try:
        for token in yaml.scan(text, Loader=_Loader):
            depth += isinstance(token, opening) - isinstance(token, closing)
            if depth > MAX_DEPTH:
                return int(token.start_mark.line) + 1
    except yaml.YAMLError:
        return None
    return None


class _Walker:
    """Maps YAML paths to line numbers, refusing what would make later steps loop or
    explode: an alias inside itself, a tree deeper than MAX_DEPTH, or more than MAX_NODES
    nodes once aliases are expanded. `trouble` is (line, reason) for the first such."""

    def __init__(self) -> None:
        self.nodes = 0
        self.trouble: tuple[int, str] | None = None
        self.lines: dict[Path_, int] = {}

    def walk(self, root: yaml.Node) -> dict[Path_, int]:
        self._visit(root, (), set())
        return self.lines

    def _visit(self, node: yaml.Node, path: Path_, above: set[int]) -> None:
        line = node.start_mark.line + 1
        if self.trouble is not None:
            return
        self.nodes += 1
        if id(node) in above:
            self.trouble = (line, "not YAML we accept: an alias refers to itself")
            return
        if len(above) > MAX_DEPTH:
            self.trouble = (line, f"not YAML we accept: nested more than {MAX_DEPTH} levels")
            return
        if self.nodes > MAX_NODES:
            self.trouble = (line, f"not YAML we accept: more than {MAX_NODES} values once "
                                  "aliases are expanded")
            return
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            inner = above | {id(node)}
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    part = key.value if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
                    self.lines.setdefault((*path, part), key.start_mark.line + 1)
                    self._visit(key, (*path, "<key>"), inner)
                    self._visit(value, (*path, part), inner)
            else:
                for i, item in enumerate(node.value):
                    self._visit(item, (*path, i), inner)


def _clean_loc(loc: tuple[int | str, ...]) -> Path_:
    """Drop pydantic's union-branch tags (e.g. 'yearly') from an error location."""
    kinds = {"once", "every", "monthly", "quarterly", "yearly", "event", "no_contact"}
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "cadence" and part in kinds:
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        out.append(part)
    return tuple(out)


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (a typo?)"
    if err["type"] == "missing":
        msg = "required"
    return msg


def _render(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
