"""Guard conditions of playbooks: a tiny, typed boolean language over metric values.

Conditions are written by people in YAML, so they are parsed by hand (never eval)
and type-checked against the metric vocabulary when the playbook loads; evaluation
then runs once per account in a sweep, so each node precompiles a closure.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, NamedTuple, TypeAlias, cast

from kamflow.playbooks.metrics import METRICS, MetricSpec, MetricType

Scalar: TypeAlias = bool | int | float | str

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_ORDERING = frozenset({"<", "<=", ">", ">="})
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "none", "true", "false"})
_MAX_DEPTH = 64  # nesting of '(' and 'not'; keeps hostile input away from RecursionError
_MAX_DIGITS = 100  # longer literals are typos, and int() refuses very long ones anyway
_MAX_KNOWN = 20  # how many known metric names an error message lists


class ExpressionError(ValueError):
    """A condition that cannot be used; the column lets the loader point at the spot."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, int]]:
        return (ExpressionError, (self.message, self.column))  # survives pickling


_Fn: TypeAlias = Callable[[Mapping[str, object]], object]


class _Node:
    """Each node builds its evaluation closure once, so a sweep pays one call per node."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Closures do not pickle; rebuild the node (and its closure) from its fields.
        return (type(self), tuple(getattr(self, f.name) for f in fields(cast(Any, self))
                                  if f.init))

    def _set(self, fn: _Fn) -> None:
        object.__setattr__(self, "_fn", fn)


def _no_fn() -> Any:
    return field(init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Const(_Node):
    value: Scalar
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        value = self.value
        self._set(lambda values: value)

    def __str__(self) -> str:
        return _literal(self.value)


@dataclass(frozen=True, slots=True)
class Metric(_Node):
    """As a condition (bool metrics only) its value counts by truth, so None is false."""

    name: str
    type: MetricType
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        self._set(operator.itemgetter(self.name))

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Compare(_Node):
    op: str
    left: Expr
    right: Expr
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        cmp = _CMP[self.op]
        if isinstance(self.left, Metric) and isinstance(self.right, Const):
            key, const = self.left.name, self.right.value  # the common case, one call

            def run(values: Mapping[str, object]) -> bool:
                a = values[key]
                return a is not None and cmp(a, const)
        else:
            left, right = self.left._fn, self.right._fn

            def run(values: Mapping[str, object]) -> bool:
                a = left(values)
                if a is None:
                    return False
                b = right(values)
                return b is not None and cmp(a, b)
        self._set(run)

    def __str__(self) -> str:
        return f"{_operand(self.left)} {self.op} {_operand(self.right)}"


@dataclass(frozen=True, slots=True)
class Membership(_Node):
    metric: Metric
    options: tuple[Scalar, ...]
    negated: bool = False
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        key, options, negated = self.metric.name, frozenset(self.options), self.negated

        def run(values: Mapping[str, object]) -> bool:
            v = values[key]
            return v is not None and (v in options) != negated
        self._set(run)

    def __str__(self) -> str:
        items = ", ".join(_literal(o) for o in self.options)
        return f"{self.metric} {'not in' if self.negated else 'in'} [{items}]"


@dataclass(frozen=True, slots=True)
class IsNone(_Node):
    metric: Metric
    negated: bool = False
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        key, negated = self.metric.name, self.negated
        self._set(lambda values: (values[key] is None) != negated)

    def __str__(self) -> str:
        return f"{self.metric} is {'not ' if self.negated else ''}none"


@dataclass(frozen=True, slots=True)
class Not(_Node):
    operand: Expr
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        inner = self.operand._fn
        self._set(lambda values: not inner(values))

    def __str__(self) -> str:
        inner = self.operand
        return f"not ({inner})" if isinstance(inner, And | Or) else f"not {inner}"


@dataclass(frozen=True, slots=True)
class And(_Node):
    operands: tuple[Expr, ...]
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        fns = tuple(o._fn for o in self.operands)

        def run(values: Mapping[str, object]) -> bool:
            for fn in fns:  # noqa: SIM110 - a loop allocates no generator
                if not fn(values):
                    return False
            return True
        self._set(run)

    def __str__(self) -> str:
        return " and ".join(f"({o})" if isinstance(o, Or) else str(o) for o in self.operands)


@dataclass(frozen=True, slots=True)
class Or(_Node):
    operands: tuple[Expr, ...]
    _fn: _Fn = _no_fn()

    def __post_init__(self) -> None:
        fns = tuple(o._fn for o in self.operands)

        def run(values: Mapping[str, object]) -> bool:
            for fn in fns:  # noqa: SIM110 - a loop allocates no generator
                if fn(values):
                    return True
            return False
        self._set(run)

    def __str__(self) -> str:
        return " or ".join(str(o) for o in self.operands)


Expr: TypeAlias = Const | Metric | Compare | Membership | IsNone | Not | And | Or


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'" if '"' in value else f'"{value}"'
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")  # no exponent: the grammar has none
    return text if "." in text else f"{text}.0"


def _operand(node: Expr) -> str:
    return str(node) if isinstance(node, Const | Metric) else f"({node})"


def _type_of(node: Expr) -> MetricType:
    if isinstance(node, Metric):
        return node.type
    if isinstance(node, Const) and not isinstance(node.value, bool):
        return MetricType.TEXT if isinstance(node.value, str) else MetricType.NUMBER
    return MetricType.BOOL


def _describe(node: Expr) -> str:
    if isinstance(node, Metric | Const):
        return f"{node} ({_type_of(node)})"
    return "a condition"


class _Token(NamedTuple):
    kind: str  # num, str, name, op, end
    text: str
    col: int

    def __str__(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        return self.text if self.kind == "str" else f"'{self.text}'"


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<num>[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<op><=|>=|==|!=|[<>()\[\],%-])""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            char = text[pos]
            if char in "\"'":
                raise ExpressionError(f"unterminated string starting with {char}", pos + 1)
            hint = {"=": "; did you mean '=='?", "!": "; did you mean '!='?"}.get(char, "")
            raise ExpressionError(f"unexpected character {char!r}{hint}", pos + 1)
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup or "", m.group(), pos + 1))
        pos = m.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent, one method per grammar rule; errors carry the token column."""

    def __init__(self, text: str, names: Mapping[str, MetricSpec]) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.names = names
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.peek()
        self.pos += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.peek().kind in ("name", "op") and self.peek().text == text:
            self.pos += 1
            return True
        return False

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ExpressionError(f"nested more than {_MAX_DEPTH} levels deep", tok.col)

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression", 1)
        expr = self.or_expr()
        tok = self.peek()
        if tok.text == ")":
            raise ExpressionError("')' without a matching '('", tok.col)
        if tok.kind != "end":
            raise ExpressionError(f"unexpected {tok} after a complete condition", tok.col)
        return expr

    def or_expr(self) -> Expr:
        parts = [self.and_expr()]
        while self.accept("or"):
            parts.append(self.and_expr())
        flat = [p for part in parts for p in (part.operands if isinstance(part, Or) else [part])]
        return parts[0] if len(parts) == 1 else Or(tuple(flat))

    def and_expr(self) -> Expr:
        parts = [self.not_expr()]
        while self.accept("and"):
            parts.append(self.not_expr())
        flat = [p for part in parts for p in (part.operands if isinstance(part, And) else [part])]
        return parts[0] if len(parts) == 1 else And(tuple(flat))

    def not_expr(self) -> Expr:
        tok = self.peek()
        if tok.kind == "name" and tok.text == "not":
            self.pos += 1
            self.enter(tok)
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        return self.comparison()

    def comparison(self) -> Expr:
        start = self.peek()
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _CMP:
            self.pos += 1
            return self.check_compare(tok, left, self.operand())
        if tok.text == "in" or (tok.text == "not" and self.peek(1).text == "in"):
            self.pos += 2 if tok.text == "not" else 1
            metric = self.require_metric(left, start, "in")
            return Membership(metric, self.literal_list(metric), negated=tok.text == "not")
        if tok.text == "is":
            self.pos += 1
            negated = self.accept("not")
            if not self.accept("none"):
                raise ExpressionError(f"expected 'none' after 'is', found {self.peek()}",
                                      self.peek().col)
            return IsNone(self.require_metric(left, start, "is none"), negated)
        if _type_of(left) is not MetricType.BOOL:
            raise ExpressionError(f"{_describe(left)} is not a condition; compare it", start.col)
        return left

    def check_compare(self, op: _Token, left: Expr, right: Expr) -> Compare:
        if isinstance(left, Const) and isinstance(right, Const):
            raise ExpressionError("comparison of two constants; compare a metric", op.col)
        if _type_of(left) is not _type_of(right):
            raise ExpressionError(
                f"cannot compare {_describe(left)} with {_describe(right)}", op.col)
        if op.text in _ORDERING and _type_of(left) is not MetricType.NUMBER:
            raise ExpressionError(f"'{op.text}' needs numbers, not {_describe(left)}", op.col)
        return Compare(op.text, left, right)

    def require_metric(self, node: Expr, start: _Token, what: str) -> Metric:
        if not isinstance(node, Metric):
            raise ExpressionError(f"'{what}' needs a metric on its left", start.col)
        return node

    def literal_list(self, metric: Metric) -> tuple[Scalar, ...]:
        tok = self.next()
        if tok.text != "[":
            raise ExpressionError(f"expected '[' to start a list, found {tok}", tok.col)
        options: list[Scalar] = []
        while True:
            tok = self.peek()
            if tok.kind not in ("num", "str") and tok.text not in ("-", "true", "false"):
                raise ExpressionError(f"expected a number, string, true or false, found {tok}",
                                      tok.col)
            item = self.operand()
            assert isinstance(item, Const)
            if _type_of(item) is not metric.type:
                raise ExpressionError(f"list item {_describe(item)} does not match "
                                      f"{_describe(metric)}", tok.col)
            options.append(item.value)
            tok = self.next()
            if tok.text == "]":
                return tuple(options)
            if tok.text != ",":
                raise ExpressionError(f"expected ',' or ']' in the list, found {tok}", tok.col)

    def operand(self) -> Expr:
        tok = self.next()
        if tok.kind == "num":
            return Const(self.number(tok))
        if tok.text == "-" and tok.kind == "op":
            num = self.next()
            if num.kind != "num":
                raise ExpressionError(f"expected a number after '-', found {num}", num.col)
            return Const(-self.number(num))
        if tok.kind == "str":
            return Const(tok.text[1:-1])
        if tok.text in ("true", "false"):
            return Const(tok.text == "true")
        if tok.text == "(" and tok.kind == "op":
            self.enter(tok)
            inner = self.or_expr()
            close = self.next()
            if close.text != ")":
                raise ExpressionError(
                    f"expected ')' to close the '(' at column {tok.col}, found {close}", close.col)
            self.depth -= 1
            return inner
        if tok.kind == "name" and tok.text not in _KEYWORDS:
            spec = self.names.get(tok.text)
            if spec is None:
                raise ExpressionError(_unknown(tok.text, self.names), tok.col)
            return Metric(tok.text, spec.type)
        if tok.text == "none":
            raise ExpressionError("'none' only goes in 'is none' or 'is not none'", tok.col)
        raise ExpressionError(f"expected a metric, number, string or '(', found {tok}", tok.col)

    def number(self, tok: _Token) -> int | float:
        digits = tok.text.replace("_", "")
        if len(digits) > _MAX_DIGITS:
            raise ExpressionError(f"number longer than {_MAX_DIGITS} digits", tok.col)
        if self.accept("%"):
            return float(f"{digits}e-2")  # exact: 15% is the same float as 0.15
        return float(digits) if "." in digits else int(digits)


def _unknown(name: str, names: Mapping[str, MetricSpec]) -> str:
    known = sorted(names)
    listed = ", ".join(known[:_MAX_KNOWN]) + (", ..." if len(known) > _MAX_KNOWN else "")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown metric '{name}'; known: {listed or '(none)'}{hint}"


def parse(text: str, names: Mapping[str, MetricSpec] | None = None) -> Expr:
    """Parse and type-check a guard, so mistakes surface when the playbook loads."""
    return _Parser(text, METRICS if names is None else names).parse()


def evaluate(expr: Expr, values: Mapping[str, object]) -> bool:
    """True or False for one account; a None metric value makes its comparisons false.

    Every metric the expression reads must be a key of `values` (KeyError otherwise):
    an absent value is a bug in the caller, a None value is a legitimate unknown.
    """
    return bool(expr._fn(values))


def metric_names(expr: Expr) -> frozenset[str]:
    """The metrics a guard reads, so a decision can record exactly what it saw."""
    found: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Metric):
            found.add(node.name)
        elif isinstance(node, Membership | IsNone):
            found.add(node.metric.name)
        elif isinstance(node, Compare):
            stack += (node.left, node.right)
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, And | Or):
            stack.extend(node.operands)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Condition:
    """A guard as written (for messages and audit) together with its parsed form."""

    text: str
    expr: Expr
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", metric_names(self.expr))

    @classmethod
    def parse(cls, text: str, names: Mapping[str, MetricSpec] | None = None) -> Condition:
        return cls(text, parse(text, names))

    @property
    def names(self) -> frozenset[str]:
        return self._names

    def evaluate(self, values: Mapping[str, object]) -> bool:
        return bool(self.expr._fn(values))

    def __str__(self) -> str:
        return self.text
