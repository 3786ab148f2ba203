"""How the C renderer writes conversions: casts, bit casts and 16-bit floats, through the prelude's helpers.

A mixin of `render_c._CKernel`: each method writes one conversion as a C expression and records the
helpers it calls (emitted once, only if used). Float to integer conversions are total (see c_prelude).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from lamina.codegen.c_prelude import (
    BF16_TO_FLOAT,
    FLOAT_TO_BF16,
    FLOAT_TO_HALF,
    HALF_TO_FLOAT,
    bitcast_helper,
    float_to_int_helper,
    float_to_uint64_helper,
)
from lamina.dtype import DType, dtypes
from lamina.uop import UOp

SIXTEEN_BIT_FLOATS: Final = (dtypes.float16, dtypes.bfloat16)
# Per 16-bit float: ((float -> bits helper, its C), (bits -> float helper, its C)).
_SIXTEEN_BIT_HELPERS: Final[dict[DType, tuple[tuple[str, str], tuple[str, str]]]] = {
    dtypes.float16: (("lm_float_to_half", FLOAT_TO_HALF), ("lm_half_to_float", HALF_TO_FLOAT)),
    dtypes.bfloat16: (("lm_float_to_bf16", FLOAT_TO_BF16), ("lm_bf16_to_float", BF16_TO_FLOAT)),
}


def compute_type(dtype: DType) -> str:
    """The C type a value of `dtype` is held in while computing (16-bit floats compute in float)."""
    return "float" if dtype in SIXTEEN_BIT_FLOATS else dtype.c_name


class ConversionWriter:
    """Writes conversions; the renderer provides `ref` (a value's C expression) and `helpers` (name to code)."""

    helpers: dict[str, str]
    ref: Callable[[UOp], str]

    def _cast(self, uop: UOp) -> str:
        source = self.ref(uop.src[0])
        target = uop.scalar_dtype
        if target.is_bool:
            return f"(({source})!=0)"
        if target in SIXTEEN_BIT_FLOATS:
            return f"{self._to_float(target)}({self._to_bits(target)}((float)({source})))"
        if target.is_int and uop.src[0].scalar_dtype.is_float:
            return self._float_to_int(source, compute_type(uop.src[0].scalar_dtype), target)
        return f"(({target.c_name})({source}))"

    def _float_to_int(self, source: str, source_c: str, target: DType) -> str:
        """A float converted to an integer dtype by the prelude's total conversions (see c_prelude)."""
        to_int64, code = float_to_int_helper("i64", source_c)
        if target == dtypes.int64 or target == dtypes.uint32:
            self.helpers[to_int64] = code
            return f"(({target.c_name}){to_int64}({source}))"
        if target == dtypes.uint64:
            self.helpers[to_int64] = code
            name, unsigned_code = float_to_uint64_helper(source_c, to_int64)
            self.helpers[name] = unsigned_code
            return f"{name}({source})"
        to_int32, code = float_to_int_helper("i32", source_c)
        self.helpers[to_int32] = code
        return f"(({target.c_name}){to_int32}({source}))"

    def _bitcast(self, uop: UOp) -> str:
        source_dtype, target = uop.src[0].scalar_dtype, uop.scalar_dtype
        value = self.ref(uop.src[0])
        if source_dtype in SIXTEEN_BIT_FLOATS:
            value = f"{self._to_bits(source_dtype)}({value})"
        name = f"lm_bitcast_{source_dtype.name}_{target.name}"
        self.helpers[name] = bitcast_helper(source_dtype, target, source_dtype.c_name, target.c_name)
        result = f"{name}({value})"
        return f"{self._to_float(target)}({result})" if target in SIXTEEN_BIT_FLOATS else result

    def _to_bits(self, dtype: DType) -> str:
        """The name of the float -> 16-bit helper of `dtype`, emitted on first use."""
        name, code = _SIXTEEN_BIT_HELPERS[dtype][0]
        self.helpers[name] = code
        return name

    def _to_float(self, dtype: DType) -> str:
        """The name of the 16-bit -> float helper of `dtype`; like every helper, emitted only if used (clang warns)."""
        name, code = _SIXTEEN_BIT_HELPERS[dtype][1]
        self.helpers[name] = code
        return name
