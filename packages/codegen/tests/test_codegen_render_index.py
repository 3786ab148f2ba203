"""A SIMD loop whose counter feeds both addresses and masks: 64-bit addresses (under clang), 32-bit masks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.codegen import OptimizeOptions, generate_c
from lamina.codegen.render_index import wide_addresses
from lamina.uop import AxisKind, Ops

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit

OPENMP = OptimizeOptions(threads=1, openmp=True)


def test_a_masked_simd_loop_addresses_through_a_wide_counter_and_masks_through_its_copy(kit: KernelKit) -> None:
    # A weight gradient over 4 rows of 28 merged into one loop of 112: each tap's mask is (i % 28) against a bound.
    generated = generate_c(kit.weight_gradient(4, 2, 28, 3, rows=4), OPENMP)
    loops, wide = wide_addresses(generated.program.uops)
    (loop,) = loops
    assert loop.arg[1] is AxisKind.SIMD
    assert wide
    assert all(node.op in (Ops.ADD, Ops.SUB, Ops.MUL) for node in wide)
    users = [user for user in generated.program.uops for source in user.src if source in wide]
    assert all(user in wide or (user.op is Ops.INDEX and user.src[1] in wide) for user in users)
    # The masks compute on the 32-bit copy: nothing derived from the counter through a MOD is wide.
    remainders = [node for node in generated.program.uops if node.op is Ops.MOD]
    assert remainders
    assert not wide & {user for user in generated.program.uops if set(user.src) & set(remainders)}
    source = generated.source
    assert "#if defined(__clang__)\ntypedef long long lm_wide_index;\n#else\ntypedef int lm_wide_index;" in source
    assert "for (lm_wide_index ridx3w = 0; ridx3w < 112; ridx3w++) {\n    int ridx3 = (int)ridx3w;" in source
    assert "lm_wide_index alu" in source
    assert "int alu1 = (ridx3-" in source


def test_a_simd_loop_whose_counter_only_addresses_keeps_its_int_counter(kit: KernelKit) -> None:
    for ast in (kit.row_reduce(Ops.ADD, 6, 48), kit.full_sum(12, 32)):
        generated = generate_c(ast, OPENMP)
        assert any(uop.op is Ops.RANGE and uop.arg[1] is AxisKind.SIMD for uop in generated.program.uops)
        assert wide_addresses(generated.program.uops) == (set(), set())
        assert "lm_wide_index" not in generated.source
    # Without OpenMP there is no SIMD loop, and every counter is an int.
    assert "lm_wide_index" not in generate_c(kit.weight_gradient(4, 2, 28, 3, rows=4)).source
