"""UPat matching and PatternMatcher dispatch: sources in order and permuted, filters, captures, ctx, concatenation."""

from __future__ import annotations

from lamina.dtype import dtypes
from lamina.rewrite import PatternMatcher, UPat
from lamina.uop import AxisKind, Ops, UOp

X = UOp.variable("x", 0, 10)
Y = UOp.variable("y", 0, 10)


def test_ordered_sources_match_only_in_order() -> None:
    pattern = UPat(Ops.ADD, src=(UPat.var("a"), UPat.cvar("c")))
    assert pattern.match(X + 3) == [{"a": X, "c": UOp.const(dtypes.int32, 3)}]
    assert pattern.match(3 + X) == []


def test_list_sources_match_in_any_order() -> None:
    pattern = UPat(Ops.ADD, src=[UPat.var("a"), UPat.cvar("c")])
    three = UOp.const(dtypes.int32, 3)
    assert pattern.match(X + 3) == [{"a": X, "c": three}]
    assert pattern.match(3 + X) == [{"a": X, "c": three}]


def test_list_sources_return_every_consistent_binding() -> None:
    pattern = UPat(Ops.ADD, src=[UPat.var("a"), UPat.var("b")])
    assert pattern.match(X + Y) == [{"a": X, "b": Y}, {"a": Y, "b": X}]


def test_single_pattern_source_must_match_every_source() -> None:
    pattern = UPat(Ops.ADD, src=UPat(Ops.CONST))
    assert pattern.match(UOp.const(dtypes.int32, 1) + 2)
    assert not pattern.match(X + 2)


def test_no_source_pattern_matches_any_sources() -> None:
    assert UPat(Ops.ADD).match(X + Y)
    assert UPat(Ops.RANGE).match(UOp.range(4, 0, AxisKind.LOOP))


def test_source_count_must_agree_unless_any_length_is_allowed() -> None:
    where = X.lt(5).where(X, Y)
    assert not UPat(Ops.WHERE, src=(UPat.var("c"),)).match(where)
    assert UPat(Ops.WHERE, src=(UPat.var("c"),), allow_any_len=True).match(where)


def test_dtype_filter_accepts_one_or_several_dtypes() -> None:
    as_int64 = UOp.variable("z", 0, 3, dtypes.int64)
    assert UPat.var("v", dtypes.int64).match(as_int64)
    assert not UPat.var("v", dtypes.int32).match(as_int64)
    assert UPat.var("v", (dtypes.int32, dtypes.int64)).match(as_int64)


def test_op_filter_accepts_a_tuple_of_ops() -> None:
    pattern = UPat((Ops.ADD, Ops.MUL), name="u")
    assert pattern.match(X * Y)
    assert pattern.match(X + Y)
    assert not pattern.match(X.maximum(Y))


def test_const_pattern_matches_its_value_and_not_a_bool() -> None:
    one = UPat.const(None, 1)
    assert one.match(UOp.const(dtypes.int32, 1))
    assert not one.match(UOp.const(dtypes.int32, 2))
    assert not one.match(UOp.const(dtypes.bool, True))


def test_repeated_name_must_bind_the_same_node() -> None:
    pattern = UPat(Ops.ADD, src=(UPat.var("x"), UPat.var("x")))
    assert pattern.match(X + X) == [{"x": X}]
    assert pattern.match(X + Y) == []


def test_matcher_returns_first_non_none_result_in_rule_order() -> None:
    calls: list[str] = []

    def declines(x: UOp) -> UOp | None:
        calls.append("declines")
        return None

    def accepts(x: UOp) -> UOp:
        calls.append("accepts")
        return x

    def later(x: UOp) -> UOp:
        calls.append("later")
        return UOp.const(dtypes.int32, 0)

    pm = PatternMatcher(
        [
            (UPat(Ops.MUL, src=(UPat.var("x"), UPat())), declines),
            (UPat(Ops.MUL, src=(UPat.var("x"), UPat())), accepts),
            (UPat(Ops.MUL, src=(UPat.var("x"), UPat())), later),
        ]
    )
    assert pm.rewrite(X * Y) is X
    assert calls == ["declines", "accepts"]


def test_matcher_only_tries_rules_for_the_nodes_op() -> None:
    tried: list[Ops] = []

    def record(u: UOp) -> None:
        tried.append(u.op)

    pm = PatternMatcher([(UPat(Ops.ADD, name="u"), record), (UPat(name="u"), record)])
    pm.rewrite(X * Y)
    assert tried == [Ops.MUL]


def test_result_equal_to_the_node_counts_as_no_rewrite() -> None:
    pm = PatternMatcher([(UPat(Ops.ADD, name="u"), lambda u: u)])
    assert pm.rewrite(X + Y) is None


def test_ctx_is_passed_only_to_callbacks_that_ask_for_it() -> None:
    def with_ctx(u: UOp, ctx: list[UOp]) -> UOp:
        ctx.append(u)
        return X

    seen: list[UOp] = []
    pm = PatternMatcher([(UPat(Ops.ADD, name="u"), with_ctx), (UPat(Ops.MUL, name="u"), lambda u: Y)])
    assert pm.rewrite(X + Y, ctx=seen) is X
    assert seen == [X + Y]
    assert pm.rewrite(X * Y, ctx=seen) is Y


def test_adding_matchers_concatenates_their_rules_in_order() -> None:
    first = PatternMatcher([(UPat(Ops.ADD), lambda: X)])
    second = PatternMatcher([(UPat(Ops.ADD), lambda: Y), (UPat(Ops.MUL), lambda: Y)])
    both = first + second
    assert len(both) == 3
    assert both.rewrite(X + Y) is X
    assert both.rewrite(X * Y) is Y


def test_pattern_repr_names_op_and_captures() -> None:
    text = repr(UPat(Ops.ADD, src=(UPat.var("x"), UPat.cvar("c"))))
    assert "Ops.ADD" in text
    assert "'x'" in text
    assert "'c'" in text
