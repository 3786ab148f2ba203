"""The cleanup after opts: addresses and validities in canonical form, and terms that are always zero dropped.

These stay hand-written walks, not `PatternMatcher` tables: the simplest of them, `x + 0 -> x`, written as
a one-rule table and run by `graph_rewrite`, took 1.1x to 1.6x as long on the optimizer's large test
kernels (465 to 1497 nodes: 1.46 against 0.98 ms, 3.28 against 2.91 ms), and the others are not
patterns (a choice folds by range analysis of its condition; a load reads zero where its buffer stays read).
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.dtype import dtypes
from lamina.rewrite import simplifier
from lamina.uop import Ops, UOp, substitute, toposort


def simplify_indices(sink: UOp) -> UOp:
    """`sink` with every address and validity in canonical form, the constant offset last.

    After an upcast the copies' addresses differ by constants only once they are written `base + c`:
    that is what shows the C compiler that adjacent copies load adjacent elements (gcc vectorizes
    nothing else), and a validity that became constant folds away. A load that can never be valid
    reads zero, and the sums it enters drop it (see `_without_zero_terms`).
    """
    # One simplifier for the whole kernel: its addresses and validities share most of their subexpressions.
    simplify = simplifier().rewrite
    simplified_loads: dict[UOp, tuple[UOp, ...]] = {}
    for node in toposort(sink):
        if node.op is Ops.LOAD:
            index = node.src[0]
            simplified_loads[node] = (index.src[0], *(simplify(source) for source in index.src[1:]))

    def never_valid(sources: tuple[UOp, ...]) -> bool:
        return len(sources) == 3 and sources[2].op is Ops.CONST and sources[2].arg is False

    # A buffer whose every load is never valid keeps one (a masked-off tap reads `0 ? x : 0`, which the C
    # compiler folds): dropping them all would leave its parameter unused and change the kernel's signature.
    read = {sources[0] for sources in simplified_loads.values() if not never_valid(sources)}
    written = {node.src[0].src[0] for node in toposort(sink) if node.op is Ops.STORE}
    kept_alive = read | written
    # The INDEXes are replaced, not the LOADs: a LOAD may wait on a BARRIER, whose STOREs' loads are
    # simplified too, and a replacement is not walked into.
    replacements: dict[UOp, UOp] = {}
    for node, simplified in simplified_loads.items():
        if never_valid(simplified) and simplified[0] in kept_alive:
            replacements[node] = UOp.const(node.scalar_dtype, 0)
            continue
        if len(simplified) == 3 and simplified[2].op is Ops.CONST and simplified[2].arg is True:
            simplified = simplified[:2]
        index = node.src[0]
        replacements[index] = UOp(Ops.INDEX, index.dtype, simplified, index.arg)
    (rebuilt,) = substitute([sink], replacements)
    # Stores too: merged output loops leave `(i // n) * n + i % n` in their addresses.
    stores: dict[UOp, UOp] = {}
    for store in rebuilt.src:
        index = store.src[0]
        address = simplify(index.src[1])
        if address is not index.src[1]:
            located = UOp(Ops.INDEX, index.dtype, (index.src[0], address, *index.src[2:]), index.arg)
            stores[store] = UOp(Ops.STORE, store.dtype, (located, *store.src[1:]), store.arg)
    if stores:
        rebuilt = UOp(Ops.SINK, rebuilt.dtype, tuple(stores.get(store, store) for store in rebuilt.src), rebuilt.arg)
    parameters = {node for node in toposort(rebuilt) if node.op is Ops.DEFINE_GLOBAL}
    folded = _without_zero_terms(rebuilt, simplify)
    if {node for node in toposort(folded) if node.op is Ops.DEFINE_GLOBAL} == parameters:
        return folded
    # A choice that never takes a buffer's only read would change the kernel's signature: keep the choices.
    return _without_zero_terms(rebuilt, None)


def _without_zero_terms(sink: UOp, simplify: Callable[[UOp], UOp] | None) -> UOp:
    """`sink` with `x + 0` and `x * 1` written `x`, nested choices of one fallback as one choice, and, when
    `simplify` is given, a choice whose index-only condition is constant (a padded reduction's validity in an
    upcast copy) written as the value it picks.

    A convolution's stack of shifted windows is a sum of nine padded views, only one of which is valid
    at each tap once the taps are written out: the other eight read zero. The C compiler may not drop
    a float `+ 0.0f` (it turns -0.0 into +0.0), so it is dropped here, where that sign is immaterial.
    Products with zero stay: folding them would give the copies of an upcast loop different shapes
    (the edge columns of a padded row), which stops the C compiler's SLP vectorizer.
    """
    rebuilt: dict[UOp, UOp] = {}
    reads: dict[UOp, bool] = {}  # whether a node reads memory: walking every condition again is quadratic
    for node in toposort(sink):
        sources = tuple(rebuilt[source] for source in node.src)
        zero = [position for position, source in enumerate(sources) if source.op is Ops.CONST and source.arg == 0]
        one = [position for position, source in enumerate(sources) if source.op is Ops.CONST and source.arg == 1]
        if node.op is Ops.ADD and zero:
            rebuilt[node] = sources[1 - zero[0]]
        elif node.op is Ops.MUL and one and sources[1 - one[0]].dtype == node.dtype:
            # `x * 1` is x, bit for bit (a gradient's upstream ones): folded, a padded product's validity folds too.
            rebuilt[node] = sources[1 - one[0]]
        elif node.op is Ops.WHERE and sources[1].op is Ops.WHERE and sources[1].src[2] is sources[2]:
            # `a ? (b ? x : y) : y` is `(a & b) ? x : y`: one choice per element, not two (a max pool's gradient
            # behind a ReLU's, 3-10x faster as one pick in either compiler).
            both = UOp(Ops.AND, dtypes.bool, (sources[0], sources[1].src[0]))
            rebuilt[node] = UOp(Ops.WHERE, node.dtype, (both, sources[1].src[1], sources[2]), node.arg)
        elif simplify is not None and node.op is Ops.WHERE and not _reads_memory(sources[0], reads):
            # A validity placed on a value (a padded reduction's) is index math too, constant in most copies.
            condition = simplify(sources[0])
            if condition.op is Ops.CONST:
                rebuilt[node] = sources[1] if condition.arg else sources[2]
            elif _is_zero(sources[2]) and _zero_unless(sources[1], condition):
                # `c ? x : 0` where x is already exactly 0 wherever c is false: a padded product whose every
                # load carries the same validity (a convolution's input gradient), a select per tap less.
                rebuilt[node] = sources[1]
            else:
                rebuilt[node] = UOp(Ops.WHERE, node.dtype, (condition, *sources[1:]), node.arg)
        elif sources != node.src:
            rebuilt[node] = UOp(node.op, node.dtype, sources, node.arg)
        else:
            rebuilt[node] = node
    return rebuilt[sink]


def _reads_memory(root: UOp, known: dict[UOp, bool]) -> bool:
    """Whether a LOAD is among `root` and its sources, remembering the answer for every node looked at."""
    for node in toposort(root, known.__contains__):
        if node not in known:
            known[node] = node.op is Ops.LOAD or any(known[source] for source in node.src)
    return known[root]


def _is_zero(node: UOp) -> bool:
    return node.op is Ops.CONST and node.arg == 0


def _zero_unless(value: UOp, condition: UOp) -> bool:
    """Whether `value` is exactly zero wherever `condition` is false: a load valid only under `condition`,
    or a sum or product of such values (a product of one such load with anything else is not: 0 * inf)."""
    if value.op is Ops.LOAD:
        index = value.src[0]
        return len(index.src) == 3 and index.src[2] is condition
    if value.op in (Ops.ADD, Ops.MUL):
        return all(_zero_unless(source, condition) for source in value.src)
    return False
