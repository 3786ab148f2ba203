"""The C renderer writes each op and dtype as readable C: helpers only where C itself would trap or differ."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from lamina.codegen import OptimizeOptions, generate_c, render_const
from lamina.codegen.render_conversions import compute_type
from lamina.codegen.render_padded import pick_helper
from lamina.dtype import DType, dtypes
from lamina.uop import Ops, UOp, run_kernel

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit


def _binary(kit: KernelKit, op: Ops, dtype: DType) -> str:
    index = kit.loop(4, 0)
    return generate_c(kit.kernel(index, kit.load(1, dtype, index).alu(op, kit.load(2, dtype, index)))).source


def test_float16_is_loaded_into_float_and_rounded_when_stored(kit: KernelKit) -> None:
    source = _binary(kit, Ops.ADD, dtypes.float16)
    assert "unsigned short* restrict data0" in source
    assert "lm_half_to_float(data1[gidx0])" in source
    assert "data0[gidx0] = lm_float_to_half(" in source


def test_bfloat16_uses_its_own_helpers_and_only_those(kit: KernelKit) -> None:
    source = _binary(kit, Ops.MUL, dtypes.bfloat16)
    assert "lm_bf16_to_float(" in source
    assert "lm_float_to_bf16(" in source
    assert "half" not in source


def test_a_kernel_that_only_reads_float16_emits_no_store_helper(kit: KernelKit) -> None:
    index = kit.loop(4, 0)
    source = generate_c(kit.kernel(index, kit.load(1, dtypes.float16, index).cast(dtypes.float32))).source
    assert "lm_half_to_float" in source
    assert "lm_float_to_half" not in source


def test_integer_division_by_a_variable_goes_through_the_total_helper(kit: KernelKit) -> None:
    source = _binary(kit, Ops.IDIV, dtypes.int32)
    assert "static inline int lm_idiv_int32(int a, int b)" in source
    assert "b == 0 ? (int)0" in source
    assert "lm_idiv_int32(" in source.split("void ")[1]


def test_integer_division_by_a_positive_constant_is_plain_c(kit: KernelKit) -> None:
    index = kit.loop(4, 0)
    value = kit.load(1, dtypes.int32, index)
    source = generate_c(kit.kernel(index, (value // 3) + (value % 5))).source
    assert "(val0/3)" in source
    assert "(val0%5)" in source
    assert "lm_" not in source


def test_float_max_propagates_nan_and_integer_max_is_a_plain_comparison(kit: KernelKit) -> None:
    assert "float larger = a > b ? a : b; return a != a ? a : larger;" in _binary(kit, Ops.MAX, dtypes.float32)
    assert "return a > b ? a : b;" in _binary(kit, Ops.MAX, dtypes.int64)


def test_bool_comparisons_and_not(kit: KernelKit) -> None:
    index = kit.loop(4, 0)
    less = kit.load(1, dtypes.int64, index).lt(kit.load(2, dtypes.int64, index))
    source = generate_c(kit.kernel(index, less.alu(Ops.NOT))).source
    # Booleans are stored as `lm_bool`: a byte under gcc, which vectorizes no loop over `_Bool` loads.
    assert "lm_bool* restrict data0" in source
    assert "typedef unsigned char lm_bool;" in source
    assert "typedef _Bool lm_bool;" in source
    assert "const long long* restrict data1" in source
    assert "(!(data1[gidx0]<data2[gidx0]))" in source


def test_float64_math_uses_double_functions_and_float32_the_f_ones(kit: KernelKit) -> None:
    index = kit.loop(4, 0)
    double = generate_c(kit.kernel(index, kit.load(1, dtypes.float64, index).alu(Ops.LOG))).source
    single = generate_c(kit.kernel(index, kit.load(1, dtypes.float32, index).alu(Ops.LOG))).source
    assert "log(data1[gidx0])" in double
    assert "logf(data1[gidx0])" in single


def test_float32_exp_is_the_branch_free_helper_and_float64_exp_is_libm(kit: KernelKit) -> None:
    index = kit.loop(4, 0)
    double = generate_c(kit.kernel(index, kit.load(1, dtypes.float64, index).alu(Ops.EXP))).source
    single = generate_c(kit.kernel(index, kit.load(1, dtypes.float32, index).alu(Ops.EXP2))).source
    assert "exp(data1[gidx0])" in double
    assert "lm_exp_scaled" not in double
    assert "lm_exp2_float(data1[gidx0])" in single
    # Helpers come after those they call.
    assert single.index("float lm_exp_scaled(") < single.index("float lm_exp2_float(")


def test_uint8_arithmetic_stays_in_its_type(kit: KernelKit) -> None:
    source = _binary(kit, Ops.SUB, dtypes.uint8)
    assert "unsigned char* restrict data0" in source
    assert "(data1[gidx0]-data2[gidx0])" in source


def test_reduction_reads_like_hand_written_c(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(5, 1)
    total = kit.reduce(Ops.ADD, kit.load(1, dtypes.float32, rows * 5 + inner), inner)
    source = generate_c(kit.kernel(rows, total), OptimizeOptions(enabled=False)).source
    body = source.split("{", 1)[1]
    assert "for (int gidx0 = 0; gidx0 < 3; gidx0++) {" in body
    assert "float acc0 = 0.0f;" in body
    assert "for (int ridx1 = 0; ridx1 < 5; ridx1++) {" in body
    assert "data0[gidx0] = acc0;" in body
    assert body.index("float acc0") < body.index("ridx1 = 0") < body.index("data0[gidx0] = acc0;")


def test_padded_load_is_guarded_by_its_validity(kit: KernelKit) -> None:
    index = kit.loop(6, 0)
    valid = UOp.const(dtypes.index, 0).lt(index)
    source = generate_c(kit.kernel(index, kit.load(1, dtypes.float32, index - 1, valid)), OptimizeOptions(False)).source
    assert "?data1[(gidx0+(-1))]:0.0f)" in source or "?data1[(gidx0-1)]:0.0f)" in source


def _padded_rows(kit: KernelKit, shift: int) -> UOp:
    """out[r, c] = x[r + shift, c] over 4 rows of 8 (zero outside x): the padded row is read whole, its
    validity a function of the row only, while the innermost loop walks the columns."""
    row, column = kit.loop(4, 0), kit.loop(8, 1)
    source_row = row + shift
    valid = source_row.lt(0).alu(Ops.NOT) & source_row.lt(4)
    return kit.kernel(row * 8 + column, kit.load(1, dtypes.float32, source_row * 8 + column, valid))


def test_a_padded_row_is_read_through_a_pointer_its_validity_picks(kit: KernelKit) -> None:
    source = generate_c(_padded_rows(kit, -1), OptimizeOptions(False)).source
    assert "static const float lm_zeros_float32[" in source
    assert "?data1+" in source
    assert ":0.0f)" not in source


def test_a_validity_that_changes_along_the_innermost_loop_stays_a_guarded_load(kit: KernelKit) -> None:
    index = kit.loop(6, 0)
    valid = UOp.const(dtypes.index, 0).lt(index)
    source = generate_c(kit.kernel(index, kit.load(1, dtypes.float32, index - 1, valid)), OptimizeOptions(False)).source
    assert "lm_zeros" not in source


@pytest.mark.parametrize("shift", [-3, -1, 0, 2, 5], ids=lambda shift: f"shift{shift}")
def test_rows_read_through_zeros_never_touch_memory_outside_the_buffer(
    compiler: str, kit: KernelKit, tmp_path: Path, shift: int
) -> None:
    ast = _padded_rows(kit, shift)
    source_rows = np.arange(32, dtype=np.float32).reshape(4, 8) + 1
    output = np.full(32, np.nan, np.float32)
    # An exactly sized input: any read beyond it would be caught by the comparison (or fault).
    kit.compile_and_run(compiler, ast, [output, source_rows.reshape(-1).copy()], tmp_path)
    expected = np.zeros((4, 8), np.float32)
    for row in range(4):
        if 0 <= row + shift < 4:
            expected[row] = source_rows[row + shift]
    np.testing.assert_array_equal(output.reshape(4, 8), expected)


def test_the_operands_of_a_choice_are_computed_before_it_not_inside_its_branches(kit: KernelKit) -> None:
    # out[i] = mask[i] ? (other[i] ? x[i] : 0) : 0: no load may sit in a branch of `?:`, where the C compiler
    # would keep a data-dependent branch instead of a select.
    index = kit.loop(8, 0)
    mask, other = kit.load(1, dtypes.bool, index), kit.load(2, dtypes.bool, index)
    inner = other.where(kit.load(3, dtypes.float32, index), UOp.const(dtypes.float32, 0.0))
    source = generate_c(kit.kernel(index, mask.where(inner, UOp.const(dtypes.float32, 0.0)))).source
    assert "?data" not in source.replace(" ", "")
    assert "?(" not in source.replace(" ", "")


@pytest.mark.parametrize(
    ("value", "dtype", "literal"),
    [
        (-(2**63), dtypes.int64, "((long long)(-9223372036854775807LL-1))"),
        (-(2**31), dtypes.int32, "((int)(-2147483647-1))"),
        (5, dtypes.uint8, "5u"),
        (3, dtypes.uint64, "3uLL"),
        (-7, dtypes.int16, "(-7)"),
        (1.5, dtypes.float64, "1.5"),
        (2.0, dtypes.float32, "2.0f"),
        (-0.0, dtypes.float32, "(-0.0f)"),
        (float("inf"), dtypes.float32, "INFINITY"),
        (float("-inf"), dtypes.float64, "(-HUGE_VAL)"),
        (float("nan"), dtypes.float16, "NAN"),
        (True, dtypes.bool, "1"),
    ],
)
def test_render_const_writes_valid_c_literals(value: float, dtype: DType, literal: str) -> None:
    assert render_const(value, dtype) == literal


def test_subtracting_negative_zero_is_not_a_decrement(compiler: str, kit: KernelKit, tmp_path: Path) -> None:
    index = kit.loop(4, 0)
    ast = kit.kernel(index, kit.load(1, dtypes.float32, index) - UOp.const(dtypes.float32, -0.0))
    assert "--" not in generate_c(ast).source
    source = np.array([1.0, -2.0, 0.0, 3.5], np.float32)
    expected, compiled = np.zeros(4, np.float32), np.zeros(4, np.float32)
    run_kernel(ast, [expected, source])
    kit.compile_and_run(compiler, ast, [compiled, source], tmp_path)
    np.testing.assert_array_equal(compiled, expected)


@pytest.mark.parametrize("enabled", [True, False], ids=["optimized", "noopt"])
def test_the_opencl_dialect_runs_the_outputs_on_work_items(kit: KernelKit, enabled: bool) -> None:
    from lamina.codegen import OPENCL_TARGET

    index = kit.loop(64, 0)
    ast = kit.kernel(index, kit.load(1, dtypes.int64, index).alu(Ops.IDIV, kit.load(2, dtypes.int64, index)))
    generated = generate_c(ast, OptimizeOptions(enabled=enabled, target=OPENCL_TARGET))
    source = generated.source
    assert "__kernel void" in source
    assert "__global long* restrict data0" in source
    assert "long long" not in source
    assert "#include" not in source
    if enabled:  # one work-group of 64 items, one output each
        assert "int lidx1 = (int)get_local_id(0);" in source
        assert (generated.global_size, generated.local_size) == ((64,), (64,))
    else:  # the outer loop over work items, as many as the driver launches
        assert "for (int gidx0 = get_global_id(0); gidx0 < 64; gidx0 += get_global_size(0)) {" in source
        assert (generated.global_size, generated.local_size) == ((64,), None)
    assert "#pragma omp" not in source
    cpu = generate_c(ast, OptimizeOptions(enabled=enabled))
    assert "__kernel" not in cpu.source
    assert cpu.global_size == (1,)


def test_runs_of_adjacent_loads_and_stores_are_vector_accesses_in_opencl_only(kit: KernelKit) -> None:
    from lamina.codegen import OPENCL_DIALECT, linearize, render_c
    from lamina.codegen.opts import upcast

    rows, columns = kit.loop(4, 0), kit.loop(8, 1)
    address = rows * 8 + columns
    ast = upcast(kit.kernel(address, kit.load(1, dtypes.float32, address) + 1.0), columns, 8)
    from lamina.codegen.cleanup import simplify_indices

    program = linearize(simplify_indices(ast))
    opencl = render_c(program, dialect=OPENCL_DIALECT)
    assert "float8 vec" in opencl
    assert "vload8(0, data1+" in opencl
    assert "vstore8((float8)(" in opencl
    c = render_c(program)
    assert "vload" not in c
    assert "vstore" not in c


def test_opencl_maps_every_float_function_the_renderer_calls() -> None:
    from lamina.codegen import OPENCL_DIALECT
    from lamina.codegen.render_c import _FLOAT_FUNCTIONS

    for name in {*_FLOAT_FUNCTIONS.values(), "exp", "exp2"}:
        assert f"#define {name}f {name}" in OPENCL_DIALECT.preamble


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        (dtypes.float32, [float("nan"), -0.0, -1.5, float("inf"), 3.0e38]),
        (dtypes.float64, [float("nan"), -0.0, -2.5, float("-inf"), 1.0e300]),
        (dtypes.int32, [-1, -(2**31), 2**31 - 1, 7, 0]),
        (dtypes.int8, [-1, -128, 127, 5, 0]),
        (dtypes.uint64, [2**64 - 1, 2**63, 1, 12345, 0]),
        (dtypes.bool, [True, False, True, True, False]),
    ],
)
def test_a_read_guarded_pick_keeps_the_exact_value_or_gives_zero(
    kit: KernelKit, compiler: str, tmp_path: Path, dtype: DType, values: list[object]
) -> None:
    # The padding of a read that executes always is chosen by masking the value's bits: a kept value must be its
    # exact bits (a NaN, a -0.0), a dropped one +0 whatever the memory held (a NaN in the guard).
    kind = compute_type(dtype)
    source = "\n".join(
        [
            "#include <string.h>",
            pick_helper("lm_pick_test", dtype),
            f"void pick_all(const _Bool* keep, const {kind}* values, {kind}* out, int count) {{",
            "  for (int i = 0; i < count; i++) out[i] = lm_pick_test(keep[i], values[i]);",
            "}",
        ]
    )
    function = ctypes.CDLL(str(kit.build_library(compiler, source, tmp_path))).pick_all
    array = np.array(values * 2, dtype=dtype.np_name)
    keep = np.array([True] * len(values) + [False] * len(values))
    out = np.full_like(array, 1)
    function(
        ctypes.c_void_p(keep.ctypes.data),
        ctypes.c_void_p(array.ctypes.data),
        ctypes.c_void_p(out.ctypes.data),
        len(array),
    )
    kept, dropped = out[: len(values)], out[len(values) :]
    np.testing.assert_array_equal(kept.view(np.uint8), array[: len(values)].view(np.uint8))
    np.testing.assert_array_equal(dropped.view(np.uint8), np.zeros_like(dropped).view(np.uint8))


def test_a_choice_against_positive_zero_is_a_pick_in_c_and_a_select_on_gpus(kit: KernelKit) -> None:
    # gcc branches on a scalar `keep ? x : 0.0f` (a ReLU's gradient, half mispredicted): C masks the bits instead.
    from lamina.codegen import OPENCL_TARGET

    index = kit.loop(4, 0)
    keep, value = kit.load(1, dtypes.bool, index), kit.load(2, dtypes.float32, index)
    kept = generate_c(kit.kernel(index, keep.where(value, 0.0))).source
    assert "lm_pick_float32(data1[gidx0], val0)" in kept
    assert "lm_pick_float32(!data1[gidx0], val0)" in generate_c(kit.kernel(index, keep.where(0.0, value))).source
    negative_zero = generate_c(kit.kernel(index, keep.where(value, -0.0))).source
    assert "lm_pick" not in negative_zero  # the pick drops to +0, so -0.0 stays a select
    assert "?" in negative_zero
    opencl = generate_c(kit.kernel(index, keep.where(value, 0.0)), OptimizeOptions(target=OPENCL_TARGET)).source
    assert "lm_pick" not in opencl


def test_nested_choices_of_one_fallback_are_one_choice(kit: KernelKit, compiler: str, tmp_path: Path) -> None:
    # A max pool's gradient behind a ReLU's: `a ? (b ? x : 0) : 0` is one pick of `a & b`, not two.
    index = kit.loop(16, 0)
    outer, inner = kit.load(1, dtypes.bool, index), kit.load(2, dtypes.bool, index)
    value = kit.load(3, dtypes.float32, index)
    ast = kit.kernel(index, outer.where(inner.where(value, 0.0), 0.0))
    source = generate_c(ast).source
    assert source.count("lm_pick_float32(") == 2  # the helper's definition and its one call
    rng = np.random.default_rng(0)
    first, second = rng.random(16) < 0.5, rng.random(16) < 0.5
    values = np.array([float("nan"), -0.0, float("inf"), -3.5] * 4, dtype=np.float32)
    out = np.full(16, 7.0, dtype=np.float32)
    kit.compile_and_run(compiler, ast, [out, first, second, values], tmp_path)
    expected = np.where(first & second, values, np.float32(0.0))
    np.testing.assert_array_equal(out.view(np.uint32), expected.view(np.uint32))


def test_a_product_with_one_is_its_other_factor(kit: KernelKit, compiler: str, tmp_path: Path) -> None:
    # A gradient's upstream ones (`(1.0 * up[x]) * w`) kept a padded product's choice from folding, and with it the
    # register tile of a convolution's input gradient: 56 scalar accumulators under gcc, 5x slower.
    index = kit.loop(16, 0)
    valid = index.lt(12)
    product = (kit.load(1, dtypes.float32, index, valid) * 1.0) * kit.load(2, dtypes.float32, index, valid)
    ast = kit.kernel(index, valid.where(product, 0.0) + kit.load(3, dtypes.int32, index).cast(dtypes.float32) * 1)
    source = generate_c(ast).source
    assert "1.0f*" not in source
    assert "*1)" not in source
    assert "lm_pick" not in source  # the choice folded: the product is 0 wherever its loads are
    values = [np.array([float("nan"), -0.0, 2.5, float("inf")] * 4, dtype=np.float32) for _ in range(2)]
    counts = np.arange(16, dtype=np.int32)
    out = np.zeros(16, dtype=np.float32)
    kit.compile_and_run(compiler, ast, [out, *values, counts], tmp_path)
    expected = np.where(np.arange(16) < 12, values[0] * values[1], np.float32(0.0)) + counts
    np.testing.assert_array_equal(out, expected.astype(np.float32))
