"""The lifecycle state machine: the only module that imports `transitions`.

One `transitions.Machine` per playbook set, built once with `model=None`; each
account is a throwaway token passed to `Event.trigger` (one Machine per account costs
memory and build time in proportion to the portfolio), so memory does not grow with the
portfolio and no account ever gets a Machine of its own.

`decide` first evaluates the candidate guards itself, in priority order, and hands
only the first rule that holds to the machine: the library still performs and
validates every transition that happens, while the accounts that stay put (most of
them, in a steady sweep) never pay for its event machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine, MachineError

from kamflow.engine.errors import IllegalTransition
from kamflow.engine.metrics import Values
from kamflow.playbooks.expr import Condition
from kamflow.playbooks.loader import PlaybookSet
from kamflow.playbooks.schema import TransitionDef

MANUAL_PREFIX = "move_to_"


@dataclass(frozen=True, slots=True)
class Decision:
    """A transition that fired, with what it saw: the answer to "why"."""

    rule: str
    source: str
    dest: str
    seen: Mapping[str, object]


class _Token:
    """The smallest model `transitions` accepts: it only reads and writes `.state`."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _guard(condition: Condition) -> Any:
    def check(event: EventData) -> bool:
        values: Values = event.kwargs["values"]
        return condition.evaluate(values)

    return check


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A guarded rule as `decide` tries it: the guard, the machine's event, what it shows."""

    rule: str
    holds: Callable[[Values], bool]
    event: Any  # transitions.Event
    names: tuple[str, ...]  # metric names the guard reads, sorted: the Decision's `seen`


class LifecycleEngine:
    """Decides guarded transitions and validates manual moves for one playbook set."""

    def __init__(self, book: PlaybookSet) -> None:
        self.book = book
        life = book.lifecycle
        ordered = sorted(enumerate(life.transitions), key=lambda it: (it[1].priority, it[0]))
        self.rules: dict[str, TransitionDef] = {t.rule: t for t in life.transitions}
        self._candidates: dict[str, list[str]] = {s: [] for s in life.states}
        specs: list[dict[str, Any]] = []
        for _, t in ordered:
            if t.when is None:
                continue
            guard = _guard(book.conditions[t.rule])
            for source in t.source:
                self._candidates[source].append(t.rule)
            specs.append({"trigger": t.rule, "source": list(t.source), "dest": t.dest,
                          "conditions": [guard]})
        for dest in life.states:
            sources = sorted({s for t in life.transitions if t.dest == dest for s in t.source})
            if sources:
                specs.append({"trigger": MANUAL_PREFIX + dest, "source": sources, "dest": dest})
        self.machine = Machine(
            model=None,
            states=list(life.states),
            transitions=specs,
            initial=life.initial,
            auto_transitions=False,
            send_event=True,
        )
        self._tries: dict[str, tuple[_Candidate, ...]] = {
            state: tuple(self._candidate(rule) for rule in rules)
            for state, rules in self._candidates.items()
        }

    def _candidate(self, rule: str) -> _Candidate:
        condition = self.book.conditions[rule]
        return _Candidate(rule, condition.evaluate, self.machine.events[rule],
                          tuple(sorted(condition.names)))

    def decide(self, state: str, values: Values) -> Decision | None:
        """Fire the first guarded transition (by priority) whose condition holds.

        The guards are pure, so checking them here first and triggering only the rule
        that holds decides exactly what triggering every candidate in turn would.
        """
        for c in self._tries.get(state, ()):
            if not c.holds(values):
                continue
            token = _Token(state)
            if c.event.trigger(token, values=values):  # the machine re-checks the guard
                return Decision(c.rule, state, token.state, {n: values.get(n) for n in c.names})
        return None

    def destinations(self, state: str) -> list[str]:
        return sorted({t.dest for t in self.book.lifecycle.transitions if state in t.source})

    def move(self, state: str, dest: str) -> str:
        """Validate a person's move; return the declared rule it follows."""
        token = _Token(state)
        event = self.machine.events.get(MANUAL_PREFIX + dest)
        try:
            if event is None or not event.trigger(token):
                raise IllegalTransition(state, dest, self.destinations(state))
        except MachineError as e:
            raise IllegalTransition(state, dest, self.destinations(state)) from e
        rules = [t for t in self.book.lifecycle.transitions if t.dest == dest and state in t.source]
        rules.sort(key=lambda t: (not t.manual, t.priority))
        return rules[0].rule

    def diagram(self) -> str:
        """Mermaid state diagram generated from the same definitions the machine runs."""
        life = self.book.lifecycle
        lines = ["stateDiagram-v2", f"    [*] --> {life.initial}"]
        for name, state in life.states.items():
            lines.append(f"    {name} : {state.title}")
        for t in life.transitions:
            label = t.rule + (" (manual)" if t.when is None else "")
            for source in t.source:
                lines.append(f"    {source} --> {t.dest} : {label}")
        return "\n".join(lines)
