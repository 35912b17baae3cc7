"""Guard conditions: parsing, type checks, None semantics, and a reference model."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamflow.playbooks.expr import Condition, Expr, ExpressionError, evaluate, metric_names, parse
from kamflow.playbooks.metrics import METRICS, MetricSpec, MetricType

DECLINING = "revenue_trend <= -15% or days_since_contact > 120 or feedback_score <= 6"
STABILISED = "not (feedback_score <= 6) and days_since_contact <= 60"
ALL_NONE: dict[str, object] = dict.fromkeys(METRICS)


def run(text: str, **known: object) -> bool:
    """Evaluate with every metric unknown except the ones given."""
    return evaluate(parse(text), {**ALL_NONE, **known})


@pytest.mark.parametrize(
    ("text", "known", "expected"),
    [
        # percent literals are fractions, and exactly the same float as the decimal
        ("revenue_trend <= -15%", {"revenue_trend": -0.15}, True),
        ("revenue_trend <= -15%", {"revenue_trend": -0.149}, False),
        ("revenue_trend == -0.15", {"revenue_trend": -15 / 100}, True),
        ("wallet_share >= 50%", {"wallet_share": 0.5}, True),
        ("wallet_share >= 0.5", {"wallet_share": 0.49}, False),
        ("days_since_contact > 1_000", {"days_since_contact": 1001}, True),
        ("feedback_score == 7.0", {"feedback_score": 7}, True),
        ("- 3 < revenue_t12", {"revenue_t12": 0}, True),
        # the shipped example conditions
        (DECLINING, {}, False),
        (DECLINING, {"feedback_score": 6}, True),
        (DECLINING, {"days_since_contact": 121}, True),
        (DECLINING, {"revenue_trend": -0.2}, True),
        (DECLINING, {"revenue_trend": -0.1, "days_since_contact": 120, "feedback_score": 7},
         False),
        ('has_revenue and class in ["A", "C"]', {"has_revenue": True, "class": "C"}, True),
        ('has_revenue and class in ["A", "C"]', {"has_revenue": True, "class": "B"}, False),
        ('has_revenue and class in ["A", "C"]', {"has_revenue": None, "class": "A"}, False),
        ('has_revenue and class in ["A", "C"]', {"has_revenue": True}, False),
        (STABILISED, {"days_since_contact": 30}, True),  # no feedback is not low feedback
        (STABILISED, {"days_since_contact": 30, "feedback_score": 5}, False),
        (STABILISED, {"days_since_contact": 61, "feedback_score": 9}, False),
        # None: comparisons and `in` are false, `is none` sees it, `not` flips the result
        ("feedback_score is none", {}, True),
        ("feedback_score is none", {"feedback_score": 0}, False),
        ("feedback_score is not none", {"feedback_score": 0}, True),
        ("feedback_score is not none", {}, False),
        ("class != 'A'", {}, False),
        ("class != 'A'", {"class": "B"}, True),
        ("class not in ['A', 'B']", {"class": "C"}, True),
        ("class not in ['A', 'B']", {"class": "A"}, False),
        ("class not in ['A', 'B']", {}, False),
        ("not class in ['A']", {}, True),
        ("key_account", {}, False),
        ("not key_account", {}, True),
        ("key_account", {"key_account": True}, True),
        ("key_account == false", {"key_account": False}, True),
        ("key_account == false", {}, False),
        ("feedback_score in [1, 2.5, 50%]", {"feedback_score": 0.5}, True),
        ("revenue_t12 > revenue_prev12", {"revenue_t12": 2, "revenue_prev12": 1}, True),
        ("revenue_t12 > revenue_prev12", {"revenue_prev12": 1}, False),
        ("(days_since_contact > 120) == key_account", {"days_since_contact": 5}, False),
        ("(days_since_contact > 120) != key_account",
         {"days_since_contact": 5, "key_account": True}, True),
        # parentheses only group: a parenthesised metric is still a metric that may be None
        ("(key_account) != has_revenue", {"has_revenue": True}, False),
        ("(not not key_account) != has_revenue", {"has_revenue": True}, True),
        ("true", {}, True),
        ("false or key_account", {}, False),
        # precedence: not > and > or, parentheses override
        ("key_account or has_revenue and class == 'A'", {"key_account": True}, True),
        ("key_account and has_revenue or class == 'A'", {"class": "A"}, True),
        ("not key_account and has_revenue", {"key_account": True}, False),
        ("not (key_account and has_revenue)", {"key_account": True}, True),
        ("(key_account or has_revenue) and class == 'A'", {"key_account": True, "class": "B"},
         False),
        ("((key_account))", {"key_account": True}, True),
    ],
)
def test_evaluates(text: str, known: dict[str, object], expected: bool) -> None:
    assert run(text, **known) is expected


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "empty expression"),
        ("   ", 1, "empty expression"),
        ("key_account and revenue_trnd < 0", 17,
         "unknown metric 'revenue_trnd'; known: baseline_ratio, class, complaint_rate"),
        ("key_account @ has_revenue", 13, "unexpected character '@'"),
        ("feedback_score ** 2", 16, "unexpected character '*'"),
        ("__import__('os')", 1, "unknown metric '__import__'"),
        ("True", 1, "unknown metric 'True'"),
        ("(key_account", 13, "expected ')' to close the '(' at column 1"),
        ("key_account)", 12, "')' without a matching '('"),
        ("key_account has_revenue", 13, "unexpected 'has_revenue' after a complete condition"),
        ("key_account AND has_revenue", 13, "unexpected 'AND'"),
        ("1 < days_since_contact < 5", 24, "unexpected '<'"),
        ("class == 5", 7, "cannot compare class (text) with 5 (number)"),
        ("feedback_score == 'A'", 16, "cannot compare feedback_score (number) with \"A\" (text)"),
        ("key_account == 1", 13, "cannot compare key_account (bool)"),
        ("class < 'A'", 7, "'<' needs numbers, not class (text)"),
        ("key_account > false", 13, "'>' needs numbers"),
        ("revenue_t12 and key_account", 1, "revenue_t12 (number) is not a condition"),
        ("key_account and class", 17, "class (text) is not a condition"),
        ("(revenue_t12) > 5", 2, "is not a condition"),
        ("5", 1, "5 (number) is not a condition"),
        ("1 < 2", 3, "comparison of two constants"),
        ("class in ['A', 1]", 16, "list item 1 (number) does not match class (text)"),
        ("feedback_score in [1, 'x']", 23, "list item \"x\" (text)"),
        ("feedback_score in []", 20, "expected a number, string, true or false, found ']'"),
        ("feedback_score in [key_account]", 20, "expected a number, string"),
        ("feedback_score in [1, 2", 24, "expected ',' or ']' in the list"),
        ("feedback_score in 1", 19, "expected '[' to start a list"),
        ("5 in [5]", 1, "'in' needs a metric on its left"),
        ("feedback_score is 5", 19, "expected 'none' after 'is'"),
        ("feedback_score == none", 19, "'none' only goes in 'is none'"),
        ("feedback_score = 5", 16, "did you mean '=='"),
        ("feedback_score ! 5", 16, "did you mean '!='"),
        ("class == 'A", 10, "unterminated string"),
        ("feedback_score < -", 19, "expected a number after '-', found the end"),
        ("feedback_score <", 17, "found the end of the expression"),
        ("not", 4, "expected a metric, number, string or '('"),
        ("key_account and", 16, "expected a metric"),
        ("key_account == (feedback_score > 1.5e3)", 37, "expected ')'"),
        ("days_since_contact > 1" + "0" * 100, 22, "longer than 100 digits"),
        ("(" * 70 + "key_account" + ")" * 70, 65, "nested more than 64 levels"),
        ("not " * 70 + "key_account", 4 * 64 + 1, "nested more than 64 levels"),
    ],
)
def test_rejects(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert fragment in info.value.message
    assert info.value.column == column
    assert str(info.value) == f"column {column}: {info.value.message}"


def test_error_is_a_value_error_that_pickles() -> None:
    with pytest.raises(ValueError, match=r"^column 1: unknown metric 'revenue_trnd'") as info:
        parse("revenue_trnd < 0")
    assert "did you mean 'revenue_trend'?" in str(info.value)
    assert isinstance(info.value, ExpressionError)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.message, copy.column, str(copy)) == (
        info.value.message, info.value.column, str(info.value))


def test_custom_vocabulary_and_truncated_known_list() -> None:
    names = {f"m{i:02}": MetricSpec(f"m{i:02}", MetricType.NUMBER, "") for i in range(25)}
    assert evaluate(parse("m03 > 1", names), {"m03": 2})
    with pytest.raises(ExpressionError, match=r"known: m00, m01, .*, m19, \.\.\.$"):
        parse("revenue_t12 > 1", names)
    with pytest.raises(ExpressionError, match=r"known: \(none\)"):
        parse("revenue_t12 > 1", {})


def test_metric_names_and_condition() -> None:
    assert metric_names(parse(DECLINING)) == {"revenue_trend", "days_since_contact",
                                              "feedback_score"}
    assert metric_names(parse("true")) == frozenset()
    condition = Condition.parse('has_revenue and (class in ["A"] or segment is none)')
    assert condition.names == {"has_revenue", "class", "segment"}
    assert str(condition) == condition.text
    assert condition.evaluate({**ALL_NONE, "has_revenue": True})
    assert not condition.evaluate({**ALL_NONE, "has_revenue": True, "segment": "loyal"})
    assert condition == Condition.parse(condition.text)
    assert hash(condition) == hash(Condition.parse(condition.text))
    restored = pickle.loads(pickle.dumps(condition))
    assert restored == condition
    assert restored.evaluate({**ALL_NONE, "has_revenue": True})


def test_absent_metric_is_a_caller_bug_not_an_unknown() -> None:
    with pytest.raises(KeyError, match="feedback_score"):
        evaluate(parse("feedback_score > 1"), {})


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("revenue_trend<=-15%", "revenue_trend <= -0.15"),
        ("wallet_share >= 0.00001", "wallet_share >= 0.00001"),
        ("(key_account and has_revenue) and (class == 'A')",
         'key_account and has_revenue and class == "A"'),
        ("not (key_account or has_revenue)", "not (key_account or has_revenue)"),
        ("(key_account or has_revenue) and not not key_account",
         "(key_account or has_revenue) and not not key_account"),
        ("segment in ['lo\"yal']", "segment in ['lo\"yal']"),
        ("(class == 'A') == key_account", '(class == "A") == key_account'),
    ],
)
def test_renders_canonically(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical
    assert parse(canonical) == parse(text)


# --- property tests ----------------------------------------------------------------------

NUMBER_METRICS = ("feedback_score", "days_since_contact", "revenue_trend")
TEXT_METRICS = ("class", "segment")
BOOL_METRICS = ("key_account", "has_revenue")
Reference = Callable[[Mapping[str, object]], bool]
Generated = tuple[str, int, Reference]  # text, binding level (or=1 and=2 not=3 atom=4), model
OPS: dict[str, Callable[[object, object], bool]] = {
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@st.composite
def number_literal(draw: st.DrawFn) -> tuple[str, float]:
    n = draw(st.integers(-300, 300))
    form = draw(st.sampled_from(["int", "percent", "tenths"]))
    if form == "int":
        return str(n), n
    if form == "percent":
        return f"{n}%", n / 100
    return f"{'-' if n < 0 else ''}{abs(n) // 10}.{abs(n) % 10}", n / 10


text_literal = st.sampled_from(["A", "B", "loyal"])
quoted = st.builds(lambda s, q: f"{q}{s}{q}", text_literal, st.sampled_from("'\""))


@st.composite
def atom(draw: st.DrawFn) -> Generated:
    kind = draw(st.sampled_from(["num", "num_flip", "two", "text", "in", "none", "bool", "beq"]))
    if kind in ("num", "num_flip", "two"):
        m, op = draw(st.sampled_from(NUMBER_METRICS)), draw(st.sampled_from(sorted(OPS)))
        if kind == "two":
            m2 = draw(st.sampled_from(NUMBER_METRICS))
            return f"{m} {op} {m2}", 4, lambda v: (
                v[m] is not None and v[m2] is not None and OPS[op](v[m], v[m2]))
        lit, value = draw(number_literal())
        if kind == "num":
            return f"{m} {op} {lit}", 4, lambda v: v[m] is not None and OPS[op](v[m], value)
        return f"{lit} {op} {m}", 4, lambda v: v[m] is not None and OPS[op](value, v[m])
    if kind == "text":
        m, op = draw(st.sampled_from(TEXT_METRICS)), draw(st.sampled_from(["==", "!="]))
        text = draw(quoted)
        return f"{m} {op} {text}", 4, lambda v: v[m] is not None and OPS[op](v[m], text[1:-1])
    if kind == "in":
        negated = draw(st.booleans())
        items: list[tuple[str, object]]
        if draw(st.booleans()):
            m = draw(st.sampled_from(NUMBER_METRICS))
            items = draw(st.lists(number_literal(), min_size=1, max_size=3))
        else:
            m = draw(st.sampled_from(TEXT_METRICS))
            items = [(q, q[1:-1]) for q in draw(st.lists(quoted, min_size=1, max_size=3))]
        options = [value for _, value in items]
        listed = ", ".join(lit for lit, _ in items)
        return (f"{m} {'not in' if negated else 'in'} [{listed}]", 4,
                lambda v: v[m] is not None and (v[m] in options) != negated)
    if kind == "none":
        m = draw(st.sampled_from(NUMBER_METRICS + TEXT_METRICS + BOOL_METRICS))
        if draw(st.booleans()):
            return f"{m} is not none", 4, lambda v: v[m] is not None
        return f"{m} is none", 4, lambda v: v[m] is None
    b = draw(st.sampled_from(BOOL_METRICS))
    if kind == "bool":
        return b, 4, lambda v: v[b] is True
    flag = draw(st.booleans())
    return f"{b} == {str(flag).lower()}", 4, lambda v: v[b] is not None and v[b] == flag


def wrap(part: Generated, level: int, extra: bool) -> str:
    text, binding, _ = part
    return f"({text})" if binding < level or extra else text


def combine(children: st.SearchStrategy[Generated]) -> st.SearchStrategy[Generated]:
    def negate(a: Generated, extra: bool) -> Generated:
        return f"not {wrap(a, 3, extra)}", 3, lambda v: not a[2](v)

    def both(a: Generated, b: Generated, extra: bool) -> Generated:
        return (f"{wrap(a, 2, extra)} and {wrap(b, 2, False)}", 2,
                lambda v: a[2](v) and b[2](v))

    def either(a: Generated, b: Generated, extra: bool) -> Generated:
        return (f"{wrap(a, 1, extra)} or {wrap(b, 1, False)}", 1,
                lambda v: a[2](v) or b[2](v))

    def same(a: Generated, b: str, op: str) -> Generated:
        def model(v: Mapping[str, object]) -> bool:
            # Parentheses only group: `(key_account)` is still the metric, None and all.
            left = v[a[0]] if a[0] in BOOL_METRICS else a[2](v)
            return left is not None and v[b] is not None and OPS[op](left, v[b])

        return f"({a[0]}) {op} {b}", 4, model

    flags = st.booleans()
    return st.one_of(
        st.builds(negate, children, flags),
        st.builds(both, children, children, flags),
        st.builds(either, children, children, flags),
        st.builds(same, children, st.sampled_from(BOOL_METRICS), st.sampled_from(["==", "!="])),
    )


expressions = st.recursive(atom(), combine, max_leaves=8)
hundreds = st.integers(-300, 300)
numbers = st.one_of(st.none(), hundreds, hundreds.map(lambda n: n / 100),
                    hundreds.map(lambda n: n / 10), st.floats(-400, 400))
value_dicts = st.fixed_dictionaries({
    **dict.fromkeys(NUMBER_METRICS, numbers),
    **dict.fromkeys(TEXT_METRICS, st.sampled_from([None, "A", "B", "loyal"])),
    **dict.fromkeys(BOOL_METRICS, st.sampled_from([None, True, False])),
})


@settings(max_examples=200, deadline=None)
@given(generated=expressions, values=value_dicts)
def test_agrees_with_reference_model(generated: Generated, values: dict[str, object]) -> None:
    text, _, reference = generated
    expr = parse(text)
    assert evaluate(expr, values) is bool(reference(values))
    assert parse(str(expr)) == expr
    assert metric_names(expr) <= values.keys()


fragments = st.sampled_from([
    "key_account", "feedback_score", "class", "revenue_trnd", "and", "or", "not", "in", "is",
    "none", "true", "false", "<", "<=", "==", "!=", ">", "(", ")", "[", "]", ",", "%", "-",
    "1_0", "0.5", "15", "'A'", '"B', "@", "=", "!", "**", "__import__", "é", "\n", "1e3",
])
soup = st.lists(fragments, max_size=12).map(" ".join)


def parse_or_error(text: str) -> Expr | ExpressionError:
    """Anything but ExpressionError escapes from here and fails the test."""
    try:
        return parse(text)
    except ExpressionError as error:
        return error


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=40), soup))
def test_parse_raises_only_expression_errors(text: str) -> None:
    outcome = parse_or_error(text)
    if isinstance(outcome, ExpressionError):
        assert 1 <= outcome.column <= len(text) + 1
    else:
        assert parse(str(outcome)) == outcome
        assert isinstance(evaluate(outcome, ALL_NONE), bool)
