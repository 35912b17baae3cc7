"""The validated, format-neutral model of a set of playbooks.

Every model is frozen and forbids unknown keys, so a typo in a YAML file is an
error at load time rather than a silently ignored setting. Checks that need
more than one file (known departments, states, metrics) live in the loader.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from kamflow.playbooks.keyrule import KeyAccountRule as KeyAccountRule
from kamflow.playbooks.keyrule import KeyTest as KeyTest
from kamflow.playbooks.model import KEY as KEY
from kamflow.playbooks.model import Model as Model
from kamflow.playbooks.model import no_twins as _no_twins

ClassName = Literal["A", "B", "C", "D"]
CLASSES: tuple[ClassName, ...] = ("A", "B", "C", "D")
RACI_LETTERS = ("R", "A", "C", "I")
PERSON_ROLES = ("owner", "sponsor", "owner.lead")  # owner.lead: the lead of the owner's department
PORTRAIT_GROUPS = ("profile", "history", "potential")
_LEAD = re.compile(r"^([a-z][a-z0-9_]*)\.lead$")


# -- organization.yaml -------------------------------------------------------


class Department(Model):
    name: str
    description: str = ""


class Organization(Model):
    fiscal_year_start_month: int = Field(1, ge=1, le=12)
    departments: dict[Annotated[str, Field(pattern=KEY)], Department]
    events: tuple[Annotated[str, Field(pattern=KEY)], ...] = ()
    contact_channels: tuple[Annotated[str, Field(pattern=KEY)], ...] = (
        "visit", "call", "video", "email", "event",
    )
    # Other words for a channel, as a CRM export may spell it (phone -> call); lower case.
    # In YAML, `contact_channels` may map each channel to its synonyms instead of listing it.
    channel_synonyms: dict[str, str] = Field(default_factory=dict)
    # The day kamflow started enforcing the process: no occurrence whose period began
    # earlier is generated. Unset: `kamflow init --go-live`, else the first sweep, stores it.
    go_live: date | None = None
    # Who may be a key account's senior sponsor: an active person of one of these
    # departments, other than the account's owner.
    senior_departments: tuple[Annotated[str, Field(pattern=KEY)], ...] = ("management",)

    @model_validator(mode="before")
    @classmethod
    def _channels_with_synonyms(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("contact_channels"), dict):
            data = dict(data)
            channels: dict[str, Any] = data["contact_channels"]
            synonyms: dict[str, str] = {}
            for name, words in channels.items():
                for word in words or ():
                    key = str(word).strip().lower()
                    if key in synonyms or key in channels:
                        raise ValueError(f"contact_channels: '{word}' names two channels")
                    synonyms[key] = name
            data["contact_channels"] = tuple(channels)
            data["channel_synonyms"] = synonyms
        return data

    def channel(self, word: str) -> str:
        """The declared channel a word names (itself or a synonym), or ValueError naming the
        known channels and the nearest one."""
        key = word.strip().lower()
        if key in self.contact_channels:
            return key
        if key in self.channel_synonyms:
            return self.channel_synonyms[key]
        raise ValueError(unknown_name("channel", word, self.contact_channels,
                                      self.channel_synonyms))

    @field_validator("departments")
    @classmethod
    def _some_departments(cls, v: dict[str, Department]) -> dict[str, Department]:
        if not v:
            raise ValueError("at least one department is required")
        return v

    @field_validator("senior_departments")
    @classmethod
    def _senior_known(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = info.data.get("departments") or {}
        for name in v:
            if name not in known:
                raise ValueError(unknown_name("department", name, known))
        return v


# -- lifecycle.yaml ----------------------------------------------------------


class StateDef(Model):
    title: str
    description: str = ""
    # What entering the state does to the revenue baseline that "recovered" is
    # measured against (metric baseline_ratio): record it if none is recorded
    # yet, keep whatever is recorded, or clear it.
    baseline: Literal["record", "keep", "clear"] = "clear"


class TransitionDef(Model):
    rule: Annotated[str, Field(pattern=KEY)]
    source: tuple[Annotated[str, Field(pattern=KEY)], ...] = Field(alias="from", min_length=1)
    dest: Annotated[str, Field(pattern=KEY)] = Field(alias="to")
    priority: int = 100
    when: str | None = None
    manual: bool = False
    description: str = ""

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _fires_somehow(self) -> TransitionDef:
        if self.when is None and not self.manual:
            raise ValueError("needs a 'when' condition, or 'manual: true' for a person-only move")
        if self.dest in self.source:
            raise ValueError(f"goes from {self.dest} to itself")
        return self


class Lifecycle(Model):
    initial: Annotated[str, Field(pattern=KEY)]
    states: dict[Annotated[str, Field(pattern=KEY)], StateDef]
    transitions: tuple[TransitionDef, ...]

    @model_validator(mode="after")
    def _unique_rules(self) -> Lifecycle:
        seen: set[str] = set()
        for t in self.transitions:
            if t.rule in seen:
                raise ValueError(f"rule '{t.rule}' is declared twice")
            seen.add(t.rule)
        return self


# -- classification.yaml -----------------------------------------------------


class Levels(Model):
    high: float = Field(gt=0)
    medium: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if self.medium >= self.high:
            raise ValueError(f"medium ({self.medium:g}) must be below high ({self.high:g})")
        return self


class ContributionLevels(Levels):
    # What contribution is measured in: trailing-12-month revenue, or its margin (margin.csv)
    # for an organization that knows its cost to serve; then `high` and `medium` are margin
    # amounts. An account without margin rows in those months counts on its revenue.
    basis: Literal["revenue", "margin"] = "revenue"


class Factor(Model):
    """One weighted, scored input (0-10) of a composite score: portrait fit or retention."""

    key: Annotated[str, Field(pattern=KEY)]
    weight: float = Field(gt=0)
    title: str = ""
    # Either a score 0-10 imported as an extra column of accounts.csv ...
    column: Annotated[str, Field(pattern=KEY)] | None = None
    # ... or a metric mapped linearly from scale[0] (score 0) to scale[1] (score 10).
    metric: str | None = None
    scale: tuple[float, float] | None = None
    # The score when the value is unknown (no feedback yet, no plan, no score imported).
    missing: float = Field(0.0, ge=0, le=10)

    @model_validator(mode="after")
    def _one_source(self) -> Factor:
        if (self.column is None) == (self.metric is None):
            raise ValueError("give exactly one of 'column' or 'metric'")
        if self.metric is not None and self.scale is None:
            raise ValueError("a metric criterion needs 'scale: [value for 0, value for 10]'")
        if self.scale is not None and self.scale[0] == self.scale[1]:
            raise ValueError("scale needs two different values")
        return self


class Criterion(Factor):
    group: Literal["profile", "history", "potential"]


class Classification(Model):
    potential: Levels
    contribution: ContributionLevels
    # Relative check: a high absolute contribution counts as high only when it
    # is at least this share of the potential (otherwise there is room to grow).
    min_share_for_high_contribution: float = Field(0.4, ge=0, le=1)
    key_account: KeyAccountRule = KeyAccountRule()
    portrait: tuple[Criterion, ...] = ()
    # Stability factors of a customer relationship, weighted into retention_score (0-100).
    retention: tuple[Factor, ...] = ()

    @field_validator("contribution", mode="before")
    @classmethod
    def _plain_levels(cls, v: Any) -> Any:
        """Plain Levels (revenue basis) are accepted where contribution levels are asked."""
        return v.model_dump() if isinstance(v, Levels) else v

    @field_validator("portrait", "retention")
    @classmethod
    def _unique_criteria(cls, v: tuple[Factor, ...]) -> tuple[Factor, ...]:
        _no_twins([c.key for c in v], "declared twice")
        return v

    @property
    def criteria_columns(self) -> frozenset[str]:
        return frozenset(c.column for c in (*self.portrait, *self.retention) if c.column)


# -- <state>.yaml: the steps of one state's playbook --------------------------


class Once(Model):
    kind: Literal["once"]
    offset_days: int = Field(0, ge=0)
    # entry: on entering the state (+ offset). condition: at the first sweep of the state
    # spell at which the step's `when` holds (at least offset days after entry), once a spell.
    upon: Literal["entry", "condition"] = "entry"


class Every(Model):
    kind: Literal["every"]
    days: int = Field(gt=0)
    counted_from: Literal["entry", "completion"]


class Monthly(Model):
    kind: Literal["monthly"]
    day: int = Field(1, ge=1, le=28)


class Quarterly(Model):
    kind: Literal["quarterly"]
    offset_days: int = Field(0, ge=0, le=80)


class Yearly(Model):
    kind: Literal["yearly"]
    offset_days: int = Field(0, ge=0, le=360)


class OnEvent(Model):
    kind: Literal["event"]
    event: Annotated[str, Field(pattern=KEY)]


class NoContact(Model):
    """A contact-frequency check: due only when no qualifying contact in the window."""

    kind: Literal["no_contact"]
    days: int = Field(gt=0)
    channels: tuple[Annotated[str, Field(pattern=KEY)], ...] = ()


Cadence = Annotated[
    Once | Every | Monthly | Quarterly | Yearly | OnEvent | NoContact, Field(discriminator="kind")
]


class Escalation(Model):
    after_days: int = Field(ge=0)  # overdue this long: escalate to the Accountable
    then_days: int = Field(ge=0)  # this much later again: to the lead or manager


class Requires(Model):
    outcome: bool = True
    note: bool = False
    fields: tuple[Annotated[str, Field(pattern=KEY)], ...] = ()


class Step(Model):
    key: Annotated[str, Field(pattern=KEY)]
    title: str
    description: str = ""
    cadence: Cadence
    deadline_days: int = Field(ge=0)
    classes: tuple[ClassName, ...] = CLASSES
    raci: dict[str, str]
    escalation: Escalation
    max_snooze_days: int = Field(14, ge=0)
    # Hours of work one occurrence takes, all parties together: the investment report
    # weighs effort in hours (a step without it counts one hour per task).
    effort_hours: float | None = Field(None, gt=0, le=1000)
    notify: Annotated[str, Field(pattern=KEY)] = "task_assigned"
    # How its new tasks are told: in each person's daily digest, or one message each at once.
    deliver: Literal["digest", "immediate"] = "digest"
    requires: Requires = Requires()
    # When a new playbook version changes this step: keep open tasks (carry_over)
    # or cancel them (cancel). Open tasks of a dropped step are always cancelled.
    on_change: Literal["carry_over", "cancel"] = "carry_over"
    # Only for accounts whose stored classification meets this condition (a guard over
    # class, segment, key_account, portrait_fit and potential), e.g. the important C accounts.
    when: str | None = None
    # What completing it does to the account plan of its fiscal year (kamflow.plans):
    # draft needs the plan written, evaluation and tracking record the attainment on it.
    plan: Literal["draft", "evaluation", "tracking"] | None = None
    # Owed at go-live even though its period began earlier (e.g. this year's account plan).
    at_go_live: bool = False
    # A recurring step's occurrence still open when the next one opens is closed as missed;
    # false: every occurrence must be done on its own.
    supersede: bool = True

    @field_validator("raci")
    @classmethod
    def _raci(cls, v: dict[str, str]) -> dict[str, str]:
        for party, letter in v.items():
            if letter not in RACI_LETTERS:
                raise ValueError(f"{party}: '{letter}' is not one of R, A, C, I")
        accountable = [p for p, letter in v.items() if letter == "A"]
        if len(accountable) != 1:
            count = "no" if not accountable else "two" if len(accountable) == 2 else "several"
            named = f" ({', '.join(accountable)})" if accountable else ""
            raise ValueError(f"{count} Accountable{named}; exactly one is allowed")
        if "R" not in v.values():
            raise ValueError("no Responsible; at least one is required")
        return v

    @model_validator(mode="after")
    def _condition_for_upon(self) -> Step:
        if isinstance(self.cadence, Once) and self.cadence.upon == "condition" and not self.when:
            raise ValueError("cadence 'upon: condition' needs the step's 'when'")
        return self

    def parties(self, letter: str) -> tuple[str, ...]:
        return tuple(p for p, x in self.raci.items() if x == letter)


class StatePlaybook(Model):
    state: Annotated[str, Field(pattern=KEY)]
    purpose: str
    steps: tuple[Step, ...]

    @field_validator("steps")
    @classmethod
    def _unique_steps(cls, v: tuple[Step, ...]) -> tuple[Step, ...]:
        _no_twins([s.key for s in v], "step keys used twice")
        return v


def unknown_name(what: str, word: str, known: Any, aliases: Any = ()) -> str:
    """"unknown state 'declned' (did you mean declining?); known: ..." for any named thing."""
    names = sorted(str(k) for k in known)
    lower = {n.lower(): n for n in names}
    if isinstance(aliases, dict):
        lower.update({str(a).lower(): str(n) for a, n in aliases.items() if a not in lower})
    else:
        lower.update({str(a).lower(): str(a) for a in aliases if a not in lower})
    near = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    guess = f" (did you mean {lower[near[0]]}?)" if near else ""
    return f"unknown {what} '{word}'{guess}; known: {', '.join(names) or 'none'}"


def raci_department(party: str) -> str | None:
    """The department a RACI party names, or None for a person role."""
    if party in PERSON_ROLES:
        return None
    match = _LEAD.match(party)
    return match.group(1) if match else party
