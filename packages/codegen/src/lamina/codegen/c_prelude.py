"""Small C helper functions a kernel may need, emitted only when it uses them.

16-bit floats are stored as raw bits and computed in float, so their conversions live here
(round to nearest even, like numpy and torch); so do the total versions of integer division
(x/0 gives 0 instead of a crash, INT_MIN/-1 wraps), shifts by any count, float to integer conversions
that are defined for every value (C leaves NaN and out-of-range ones undefined), NaN-propagating float
max, and a branch-free float exp: libm's expf is an opaque call that stops the C compiler from
vectorizing the loop around it.
"""

from __future__ import annotations

from typing import Final

from lamina.dtype import DType

HALF_TO_FLOAT: Final = """static inline float lm_half_to_float(unsigned short h) {
  unsigned int sign = ((unsigned int)h & 0x8000u) << 16;
  unsigned int exponent = ((unsigned int)h >> 10) & 0x1fu;
  unsigned int mantissa = (unsigned int)h & 0x3ffu;
  unsigned int bits;
  if (exponent == 0x1fu) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0u) {
    if (mantissa == 0u) {
      bits = sign;
    } else {
      /* a subnormal half is a normal float: shift the leading one into the implicit bit */
      unsigned int shifts = 0u;
      while ((mantissa & 0x400u) == 0u) { mantissa <<= 1; shifts++; }
      bits = sign | ((113u - shifts) << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}"""

FLOAT_TO_HALF: Final = """static inline unsigned short lm_float_to_half(float value) {
  unsigned int bits;
  memcpy(&bits, &value, sizeof bits);
  unsigned int sign = (bits >> 16) & 0x8000u;
  unsigned int mantissa = bits & 0x7fffffu;
  int exponent = (int)((bits >> 23) & 0xffu) - 112;
  if (((bits >> 23) & 0xffu) == 0xffu) return (unsigned short)(sign | 0x7c00u | (mantissa ? 0x200u : 0u));
  if (exponent >= 0x1f) return (unsigned short)(sign | 0x7c00u);
  if (exponent <= 0) {
    if (exponent < -10) return (unsigned short)sign;
    mantissa |= 0x800000u;
    unsigned int shift = (unsigned int)(14 - exponent);
    unsigned int bits16 = mantissa >> shift;
    unsigned int rest = mantissa & ((1u << shift) - 1u);
    unsigned int middle = 1u << (shift - 1u);
    if (rest > middle || (rest == middle && (bits16 & 1u))) bits16++;
    return (unsigned short)(sign | bits16);
  }
  unsigned int bits16 = ((unsigned int)exponent << 10) | (mantissa >> 13);
  unsigned int rest = mantissa & 0x1fffu;
  /* a carry out of the mantissa correctly bumps the exponent, up to infinity */
  if (rest > 0x1000u || (rest == 0x1000u && (bits16 & 1u))) bits16++;
  return (unsigned short)(sign | bits16);
}"""

BF16_TO_FLOAT: Final = """static inline float lm_bf16_to_float(unsigned short b) {
  unsigned int bits = (unsigned int)b << 16;
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}"""

FLOAT_TO_BF16: Final = """static inline unsigned short lm_float_to_bf16(float value) {
  unsigned int bits;
  memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (unsigned short)0x7fc0u;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (unsigned short)(bits >> 16);
}"""


EXP_SCALED: Final = """static inline float lm_expm1_reduced(float r) {
  /* e^r - 1 for |r| <= ln(2)/2: Cephes' expf polynomial (under 2 ulp), without the final + 1 */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r;
}
static inline float lm_exp_scaled(float r, float k) {
  /* e^r * 2^k for |r| <= ln(2)/2 and whole |k| <= 150: the polynomial, then the scale in two halves, each a
     normal float, so results in the subnormals and overflow to inf are right */
  float p = lm_expm1_reduced(r) + 1.0f;
  int whole = (int)k;
  int first = whole / 2;
  unsigned int high = (unsigned int)(first + 127) << 23;
  unsigned int low = (unsigned int)(whole - first + 127) << 23;
  float high_scale, low_scale;
  memcpy(&high_scale, &high, sizeof high_scale);
  memcpy(&low_scale, &low, sizeof low_scale);
  return p * high_scale * low_scale;
}"""

# Adding then subtracting 1.5 * 2^23 rounds a float of magnitude below 2^22 to the nearest whole number
# (ties to even) in two plain additions, which vectorize where a call to rintf might not.
# Each select is its own statement: gcc if-converts (and so vectorizes) those, not nested ones.
EXP_FLOAT: Final = """static inline float lm_exp_float(float x) {
  float clamped = x < -104.0f ? -104.0f : x;
  clamped = clamped > 89.0f ? 89.0f : clamped;
  clamped = x != x ? 0.0f : clamped;
  float k = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  /* Cody and Waite: ln(2) in two parts, the first exact in 9 bits, so k * ln(2) loses nothing */
  float r = clamped - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  float result = lm_exp_scaled(r, k);
  return x != x ? x : result;
}"""

# e^x - 1: the reduced polynomial itself where x needs no scaling (|x| <= ln(2)/2, where e^x - 1 would cancel),
# else e^x - 1 from the scaled exponential (at least 0.29 away from 0: nothing cancels).
EXPM1_FLOAT: Final = """static inline float lm_expm1_float(float x) {
  float clamped = x < -104.0f ? -104.0f : x;
  clamped = clamped > 89.0f ? 89.0f : clamped;
  clamped = x != x ? 0.0f : clamped;
  float k = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = clamped - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  float scaled = lm_exp_scaled(r, k) - 1.0f;
  float near = lm_expm1_reduced(clamped);
  float result = k == 0.0f ? near : scaled;
  return (x != x || x == 0.0f) ? x : result; /* NaN, and the sign of a zero, pass through */
}"""

EXP2_FLOAT: Final = """static inline float lm_exp2_float(float x) {
  float clamped = x < -151.0f ? -151.0f : x;
  clamped = clamped > 129.0f ? 129.0f : clamped;
  clamped = x != x ? 0.0f : clamped;
  float k = (clamped + 12582912.0f) - 12582912.0f;
  float result = lm_exp_scaled((clamped - k) * 0.693147180559945309f, k);
  return x != x ? x : result;
}"""


BOOL_STORAGE: Final = """#if defined(__GNUC__) && !defined(__clang__)
typedef unsigned char lm_bool;
#else
typedef _Bool lm_bool;
#endif"""
"""How a boolean buffer stores its elements: gcc vectorizes no loop that loads `_Bool` (it has no vector type
for a 1-bit precision), so there it is a byte holding 0 or 1; clang vectorizes `_Bool` loads and, knowing
them 0 or 1, selects with them at half the cost of testing a byte."""


TILE_KERNEL_ATTRIBUTE: Final = """#if defined(__GNUC__) && !defined(__clang__)
#define LM_TILE_KERNEL __attribute__((optimize("no-tree-loop-vectorize")))
#else
#define LM_TILE_KERNEL
#endif"""


_UNSIGNED_OF_SIZE: Final = {1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long"}


def helper_name(kind: str, dtype: DType) -> str:
    return f"lm_{kind}_{dtype.name}"


def max_helper(dtype: DType, c_type: str) -> str:
    """max(a, b); for floats a NaN on either side wins, as in torch.maximum."""
    name = helper_name("max", dtype)
    # Two plain selects, each a pattern both compilers turn into a compare and blend (vectorized): gcc branched
    # on the one select of `(a > b) | (a != a)`, a 2x2 max pool ran 15x slower than this under gcc.
    body = "return a > b ? a : b;"
    if dtype.is_float:
        body = f"{c_type} larger = a > b ? a : b; return a != a ? a : larger;"
    return f"static inline {c_type} {name}({c_type} a, {c_type} b) {{ {body} }}"


def division_helper(kind: str, dtype: DType, c_type: str) -> str:
    """Integer a/b or a%b that never traps: a zero divisor gives 0, and MIN/-1 wraps instead of faulting."""
    name = helper_name(kind, dtype)
    operator = "/" if kind == "idiv" else "%"
    if dtype.is_unsigned or dtype.is_bool:
        body = f"return b == 0 ? ({c_type})0 : ({c_type})(a {operator} b);"
    else:
        unsigned = _UNSIGNED_OF_SIZE[dtype.itemsize]
        negated = f"({c_type})(0u - ({unsigned})a)" if kind == "idiv" else f"({c_type})0"
        body = f"return b == 0 ? ({c_type})0 : (b == -1 ? {negated} : ({c_type})(a {operator} b));"
    return f"static inline {c_type} {name}({c_type} a, {c_type} b) {{ {body} }}"


def bitcast_helper(source: DType, target: DType, source_c: str, target_c: str) -> str:
    name = f"lm_bitcast_{source.name}_{target.name}"
    return (
        f"static inline {target_c} {name}({source_c} value) {{ {target_c} result; "
        f"memcpy(&result, &value, sizeof result); return result; }}"
    )


def shift_helper(kind: str, dtype: DType, c_type: str) -> str:
    """a << b or a >> b for every count b: a count outside [0, bits) shifts everything out (as torch does), where
    C leaves it undefined; a left shift goes through the unsigned type, since shifting into the sign is undefined."""
    name = helper_name(kind, dtype)
    unsigned = _UNSIGNED_OF_SIZE[max(dtype.itemsize, 4)]
    in_range = f"b >= 0 && b < {dtype.bits}" if dtype.kind == "int" else f"b < {dtype.bits}"
    if kind == "shl":
        body = f"return ({in_range}) ? ({c_type})(({unsigned})a << b) : ({c_type})0;"
    else:
        overflow = f"(a < 0 ? ({c_type})-1 : ({c_type})0)" if dtype.kind == "int" else f"({c_type})0"
        body = f"return ({in_range}) ? ({c_type})(a >> b) : {overflow};"
    return f"static inline {c_type} {name}({c_type} a, {c_type} b) {{ {body} }}"


# Float to integer conversion, defined for every value the way torch's CPU kernels convert on x86: a value
# outside the int32 (or int64) range, or NaN, becomes its lowest value, and narrower targets keep the low bits.
_FLOAT_TO_INT: Final = {
    "i32": ("int", "-2147483648.0", "2147483648.0", "(-2147483647 - 1)"),
    "i64": ("long long", "-9223372036854775808.0", "9223372036854775808.0", "(-9223372036854775807LL - 1)"),
}


def float_to_int_helper(width: str, source_c: str) -> tuple[str, str]:
    """The name and code of the conversion of a `source_c` (float or double) to int32 or int64 (`width`)."""
    c_type, low, high, lowest = _FLOAT_TO_INT[width]
    suffix = "f" if source_c == "float" else ""
    name = f"lm_{source_c}_to_{width}"
    code = (
        f"static inline {c_type} {name}({source_c} x) {{ return (x >= {low}{suffix} && x < {high}{suffix}) ? "
        f"({c_type})x : {lowest}; }}"
    )
    return name, code


def float_to_uint64_helper(source_c: str, to_int64: str) -> tuple[str, str]:
    """Conversion to uint64: exact up to 2**64, else the int64 conversion's bits."""
    suffix = "f" if source_c == "float" else ""
    name = f"lm_{source_c}_to_u64"
    code = (
        f"static inline unsigned long long {name}({source_c} x) {{ return (x >= 9223372036854775808.0{suffix} && "
        f"x < 18446744073709551616.0{suffix}) ? (unsigned long long)x : (unsigned long long){to_int64}(x); }}"
    )
    return name, code
