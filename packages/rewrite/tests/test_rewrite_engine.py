"""graph_rewrite: bottom-up fixed points, memoization, 100,000-node chains, and loops reported as errors."""

from __future__ import annotations

import pytest

from lamina.dtype import dtypes
from lamina.rewrite import PatternMatcher, RewriteLoopError, UPat, graph_rewrite, graph_rewrite_many, simplify
from lamina.uop import Ops, UOp, toposort

X = UOp.variable("x", 0, 10)
Y = UOp.variable("y", 0, 10)

_fold_add = PatternMatcher(
    [
        (
            UPat(Ops.ADD, src=(UPat.cvar("a"), UPat.cvar("b"))),
            lambda a, b: UOp.const(a.dtype, a.arg + b.arg),
        ),
        (
            UPat(Ops.ADD, src=(UPat(Ops.ADD, src=(UPat.var("x"), UPat.cvar("a"))), UPat.cvar("b"))),
            lambda x, a, b: x + (a.arg + b.arg),
        ),
    ]
)


def _rename(x: UOp) -> UOp:
    return Y


_rename_x = PatternMatcher([(UPat(Ops.DEFINE_VAR, arg=("x", 0, 10), name="x"), _rename)])


def test_rewrite_reaches_a_fixed_point_bottom_up() -> None:
    expr = ((X + 1) + 2) + 3
    assert graph_rewrite(expr, _fold_add) is X + 6


def test_new_sources_of_a_rewritten_node_are_rewritten_too() -> None:
    # MUL -> ADD of consts, which the ADD rule must then fold.
    pm = _fold_add + PatternMatcher([(UPat(Ops.MUL, src=(UPat.var("x"), UPat.cvar("c"))), lambda x, c: x + (1 + c))])
    assert graph_rewrite(X * 4, pm) is X + 5


def test_untouched_graph_comes_back_identical() -> None:
    expr = X * Y + X
    assert graph_rewrite(expr, _fold_add) is expr


def test_shared_subgraph_is_rewritten_once() -> None:
    calls: list[UOp] = []

    def count(x: UOp) -> UOp:
        calls.append(x)
        return Y

    pm = PatternMatcher([(UPat(Ops.DEFINE_VAR, arg=("x", 0, 10), name="x"), count)])
    shared = X * 2
    result = graph_rewrite(shared + shared * shared, pm)
    assert len(calls) == 1
    assert result is (Y * 2) + (Y * 2) * (Y * 2)


def test_rewrite_many_shares_one_memo() -> None:
    calls: list[UOp] = []

    def count(x: UOp) -> UOp:
        calls.append(x)
        return Y

    pm = PatternMatcher([(UPat(Ops.DEFINE_VAR, arg=("x", 0, 10), name="x"), count)])
    assert graph_rewrite_many([X + 1, X * 2], pm) == [Y + 1, Y * 2]
    assert len(calls) == 1


def test_ctx_reaches_callbacks_during_graph_rewrite() -> None:
    def rename(x: UOp, ctx: dict[str, UOp]) -> UOp:
        return ctx["x"]

    pm = PatternMatcher([(UPat(Ops.DEFINE_VAR, arg=("x", 0, 10), name="x"), rename)])
    assert graph_rewrite(X + 1, pm, ctx={"x": Y}) is Y + 1


def test_rename_over_a_100000_node_chain_needs_no_recursion() -> None:
    chain = X
    for _ in range(100_000):
        chain = chain * 1
    renamed = graph_rewrite(chain, _rename_x)
    nodes = toposort(renamed)
    assert nodes[0] is Y
    assert len(nodes) == 100_002


def test_simplify_folds_a_100000_node_chain_of_additions() -> None:
    chain = X
    for _ in range(100_000):
        chain = chain + 1
    assert simplify(chain) is X + 100_000


def test_looping_rule_pair_raises_naming_the_rules() -> None:
    def x_to_y(x: UOp) -> UOp:
        return Y

    def y_to_x(y: UOp) -> UOp:
        return X

    pm = PatternMatcher(
        [
            (UPat(Ops.DEFINE_VAR, arg=("x", 0, 10), name="x"), x_to_y),
            (UPat(Ops.DEFINE_VAR, arg=("y", 0, 10), name="y"), y_to_x),
        ]
    )
    with pytest.raises(RewriteLoopError, match="x_to_y") as info:
        graph_rewrite(X + 1, pm)
    assert "y_to_x" in str(info.value)
    assert "DEFINE_VAR" in str(info.value)


def test_rule_that_keeps_making_new_nodes_raises() -> None:
    def count_up(c: UOp) -> UOp:
        return UOp.const(dtypes.int64, c.arg + 1)

    pm = PatternMatcher([(UPat(Ops.CONST, dtypes.int64, name="c"), count_up)])
    with pytest.raises(RewriteLoopError, match="count_up"):
        graph_rewrite(UOp.const(dtypes.int64, 0), pm)


def test_rule_whose_result_contains_its_input_raises() -> None:
    def wrap(x: UOp) -> UOp:
        return x.cast(dtypes.int64).cast(dtypes.int32)

    pm = PatternMatcher([(UPat(Ops.DEFINE_VAR, name="x"), wrap)])
    with pytest.raises(RewriteLoopError, match="wrap"):
        graph_rewrite(X + 1, pm)


def test_loop_error_is_a_runtime_error() -> None:
    assert issubclass(RewriteLoopError, RuntimeError)
