"""The C renderer: a linear program as one C function, readable enough to study.

Each UOp of the program becomes one statement (`float alu3 = (val1+val2);`), looked up in a
table keyed by op; a value used once, in the same loop, is written inline instead, so index
arithmetic and reduction updates read like hand-written C. Buffers are `restrict` pointers, loops
are plain `for`s over `int`, 16-bit floats are loaded into `float` and rounded back when stored,
and integer division never traps. Nothing the program computes on data is undefined behaviour in C: signed
arithmetic on values wraps (it is written through the unsigned type of its width), shifts take any count,
and float to integer conversions are total; index arithmetic, which the scheduler's index dtype keeps in
range, is written plainly, so the C compiler may still reason about addresses. The output compiles
warning-free with -Wall under gcc and clang.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from lamina.codegen.c_prelude import (
    EXP2_FLOAT,
    EXP_FLOAT,
    EXP_SCALED,
    EXPM1_FLOAT,
    TILE_KERNEL_ATTRIBUTE,
    division_helper,
    helper_name,
    max_helper,
    shift_helper,
)
from lamina.codegen.dialects import C_DIALECT, Dialect
from lamina.codegen.linearize import LinearProgram
from lamina.codegen.render_consts import render_const
from lamina.codegen.render_conversions import SIXTEEN_BIT_FLOATS, ConversionWriter, compute_type
from lamina.codegen.render_index import WIDE_INDEX_TYPE, IndexWriter
from lamina.codegen.render_padded import ZERO_ROW_REACH, PaddedReadWriter
from lamina.codegen.render_vectors import VectorWriter
from lamina.codegen.simd_elementwise import clang_width_hint
from lamina.codegen.vectors import VectorRun, vector_runs
from lamina.codegen.workgroup import grid_dimensions
from lamina.dtype import DType, PtrDType, dtypes
from lamina.uop import GRID_AXES, SPREAD_AXES, AxisKind, GroupOp, Ops, UOp, toposort

# How deep an inlined expression may nest before it is given a variable: compilers limit bracket depth.
MAX_INLINE_DEPTH: Final = 16

_FLOAT_FUNCTIONS: Final[dict[Ops, str]] = {
    Ops.SQRT: "sqrt",
    Ops.EXP: "exp",
    Ops.LOG: "log",
    Ops.EXP2: "exp2",
    Ops.LOG2: "log2",
    Ops.SIN: "sin",
    Ops.COS: "cos",
    Ops.ERF: "erf",
    Ops.EXPM1: "expm1",
    Ops.LOG1P: "log1p",
    Ops.TRUNC: "trunc",
    Ops.FLOOR: "floor",
    Ops.CEIL: "ceil",
    Ops.ROUND: "rint",
    Ops.POW: "pow",
    Ops.ATAN2: "atan2",
    Ops.MOD: "fmod",
}
# Float-typed exponentials use the prelude's branch-free versions, so loops around them vectorize.
_VECTORIZABLE_FLOAT_FUNCTIONS: Final[dict[Ops, tuple[str, str]]] = {
    Ops.EXP: ("lm_exp_float", EXP_FLOAT),
    Ops.EXP2: ("lm_exp2_float", EXP2_FLOAT),
    Ops.EXPM1: ("lm_expm1_float", EXPM1_FLOAT),
}
# The OpenMP reduction operator of each REDUCE op a SIMD loop may carry.
_SIMD_REDUCTIONS: Final = {Ops.ADD: "+", Ops.MUL: "*"}
_INFIX: Final[dict[Ops, str]] = {
    Ops.ADD: "+",
    Ops.SUB: "-",
    Ops.MUL: "*",
    Ops.DIV: "/",
    Ops.CMPLT: "<",
    Ops.CMPNE: "!=",
    Ops.CMPEQ: "==",
    Ops.AND: "&",
    Ops.OR: "|",
    Ops.XOR: "^",
}
# Signed arithmetic that can overflow: on values it is written through the unsigned type, where it wraps.
_WRAPPING: Final = frozenset({Ops.ADD, Ops.SUB, Ops.MUL})
_UNSIGNED_OF: Final = {4: "unsigned int", 8: "unsigned long long"}
# gcc's loop vectorizer spends seconds on a loop carrying this many accumulators or more (a full register tile)
# and gains nothing there (see _signature).
LARGE_TILE_ACCUMULATORS: Final = 256
# A padded read reaches at most this far either side of its row's base through the row of zeros (see
# _rerouted_address): 4096 elements covers a convolution's taps over rows and channels.
_PREFIXES: Final[dict[Ops, str]] = {Ops.LOAD: "val", Ops.CAST: "cast", Ops.BITCAST: "cast", Ops.WHERE: "alu"}


class _CKernel(ConversionWriter, VectorWriter, PaddedReadWriter, IndexWriter):
    """Renders one linear program; holds the names given so far and the helpers needed."""

    def __init__(self, program: LinearProgram, threads: int, dialect: Dialect, vector_lanes: int) -> None:
        self.program = program
        self.threads = threads
        self.dialect = dialect
        self.indent = 1
        self.names: dict[UOp, str] = {}
        self.depth: dict[UOp, int] = {}
        self.helpers: dict[str, str] = {}
        self.counter = 0
        self.uses: Counter[UOp] = Counter()
        self.segment: dict[UOp, int] = {}
        self.user_segment: dict[UOp, int] = {}
        self.stored: set[UOp] = set()
        self.open_loops: list[UOp] = []
        self.chosen: set[UOp] = set()
        # Address, validity and loop-bound arithmetic: in range by construction, so it is written plainly.
        self.index_math: set[UOp] = set()
        # Per SIMD loop: the accumulators updated in it, and their REDUCE op, for its reduction clause.
        self.simd_accumulators: dict[UOp, list[tuple[str, Ops]]] = {}
        self.explicit_simd_loops: set[UOp] = set()
        self.grid = grid_dimensions([uop for uop in program.uops if uop.op is Ops.RANGE])
        # Runs of adjacent loads and stores written as one vector access, where the dialect has them: each
        # member's run, and the member that writes the access (the first load, the last store).
        self.vector_of: dict[UOp, VectorRun] = {}
        self.vector_writer: set[UOp] = set()
        self.run_names: dict[VectorRun, str] = {}
        positions = {uop: position for position, uop in enumerate(program.uops)}
        if dialect.vector_load:
            for op, pick in ((Ops.LOAD, min), (Ops.STORE, max)):
                for run in vector_runs(program.uops, op):
                    self.vector_of.update(dict.fromkeys(run.members, run))
                    self.vector_writer.add(pick(run.members, key=positions.__getitem__))
        reach = ZERO_ROW_REACH if dialect.zero_rows else 0
        self.lanes = vector_lanes if dialect is C_DIALECT else 1
        self._plan_tiles(self.lanes, positions, reach)
        self._table: dict[Ops, Callable[[UOp], str]] = {
            Ops.DEFINE_ACC: self._define_acc,
            Ops.ASSIGN: self._assign,
            Ops.STORE: self._store,
            Ops.RANGE: self._range,
            Ops.END: lambda uop: "" if uop.src[0] in self.grid else "}",
            Ops.DEFINE_LOCAL: self._define_local,
            Ops.BARRIER: lambda uop: self._gpu_spelling(self.dialect.barrier, "a barrier"),
            # A REDUCE reads its accumulator, which was named for it when the accumulator was declared.
            Ops.REDUCE: lambda uop: "",
            # An INDEX is written where it is used, as `dataN[address]` inside its LOAD or STORE.
            Ops.INDEX: lambda uop: "",
        }

    # -- analysis --

    def count_uses(self) -> None:
        segment = 0
        open_simd: list[UOp] = []
        for uop in self.program.uops:
            if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.SIMD:
                open_simd.append(uop)
                self.simd_accumulators[uop] = []
            elif uop.op is Ops.END and open_simd and uop.src[0] is open_simd[-1]:
                open_simd.pop()
            elif uop.op is Ops.ASSIGN and open_simd and uop in self.tree_update_of:
                self.explicit_simd_loops.add(open_simd[-1])
            elif uop.op is Ops.ASSIGN and open_simd:
                accumulator = uop.src[0]
                self.simd_accumulators[open_simd[-1]].append((f"acc{accumulator.arg[0]}", accumulator.arg[1].arg))
            if uop.op in (Ops.RANGE, Ops.END, Ops.BARRIER):
                segment += 1  # nothing is inlined across a loop's bounds or a barrier
            self.segment[uop] = segment
            sources = uop.src[1].src if uop.op is Ops.ASSIGN else uop.src
            self.uses.update(sources)
            for source in sources:
                self.user_segment.setdefault(source, segment)
            if uop.op is Ops.STORE:
                self.stored.add(uop.src[0].src[0])
            if uop.op is Ops.WHERE:
                self.chosen.update(uop.src[1:])
        # The (buffer, address) pairs read without a validity: padded reads near them may be read always.
        self.plain_reads = {
            (uop.src[0].src[0], uop.src[0].src[1])
            for uop in self.program.uops
            if uop.op is Ops.LOAD and len(uop.src[0].src) == 2
        }
        roots = [source for uop in self.program.uops if uop.op in (Ops.INDEX, Ops.RANGE) for source in uop.src[1:]]
        roots += [uop.src[0] for uop in self.program.uops if uop.op is Ops.RANGE]
        self.index_math.update(toposort(roots, stop=lambda node: node.op is Ops.LOAD))
        # A vector access addresses its run by the run's base: the members' own addresses go unused.
        for index in {member.src[0] for member in self.vector_of}:
            self.uses[index.src[1]] -= 1
        for run in set(self.vector_of.values()):
            self.uses[run.base] += 1
        self._absorb_run_loads(self.uses, self.absorbed)
        vector_loads = {load for update in set(self.tree_update_of.values()) for run in update.runs() for load in run}
        self._plan_store_packs()
        self._plan_loop_rows(self.absorbed | vector_loads | set(self.vector_of))
        self._plan_wide_addresses()

    def inlinable(self, uop: UOp, user_segment: int) -> bool:
        if uop.op not in GroupOp.ELEMENTWISE and uop.op is not Ops.LOAD:
            return False
        # A choice's operands are computed before it, unconditionally: inlined, a load in them would sit in a
        # branch of `?:`, which the C compiler may not speculate, and a data-dependent branch mispredicts.
        if uop in self.chosen:
            return False
        return self.uses[uop] == 1 and self.segment.get(uop) == user_segment

    # -- expressions --

    def ref(self, uop: UOp) -> str:
        """The C expression naming `uop`'s value."""
        if uop.op is Ops.CONST:
            return render_const(uop.arg, uop.scalar_dtype)
        if self.rendering_wide and uop in self.wide_names:
            return self.wide_names[uop]
        if uop in self.names:
            return self.names[uop]
        # Nodes outside the program (an accumulator's update) are rendered in place.
        return self.expression(uop)

    def expression(self, uop: UOp) -> str:
        if uop.op is Ops.LOAD:
            return self._load(uop)
        if uop.op is Ops.CAST:
            return self._cast(uop)
        if uop.op is Ops.BITCAST:
            return self._bitcast(uop)
        if uop.op is Ops.WHERE:
            return self._choice(uop)
        if uop.op in GroupOp.ALU:
            return self._alu(uop)
        raise NotImplementedError(f"the C renderer has no rule for {uop.op}")

    def _alu(self, uop: UOp) -> str:
        operand_dtype = uop.src[0].scalar_dtype
        operands = [self.ref(source) for source in uop.src]
        # Signed int32/int64 compute through the unsigned type of their width. Narrower types are promoted to
        # int, where sums cannot overflow but a product can (65535 * 65535): those multiply as unsigned int.
        narrow = operand_dtype.is_int and operand_dtype.itemsize < 4
        wide_signed = operand_dtype.kind == "int" and not narrow and (uop.op in _WRAPPING or uop.op is Ops.NEG)
        if (wide_signed or (narrow and uop.op is Ops.MUL)) and uop not in self.index_math:
            unsigned, signed = _UNSIGNED_OF[max(operand_dtype.itemsize, 4)], operand_dtype.c_name
            if uop.op is Ops.NEG:
                return f"(({signed})(({unsigned})0 - ({unsigned}){operands[0]}))"
            return f"(({signed})(({unsigned}){operands[0]}{_INFIX[uop.op]}({unsigned}){operands[1]}))"
        if uop.op in _INFIX:
            return f"({operands[0]}{_INFIX[uop.op]}{operands[1]})"
        if uop.op in (Ops.SHL, Ops.SHR):
            count = uop.src[1]
            if count.op is Ops.CONST and 0 <= int(count.arg) < operand_dtype.bits:
                if uop.op is Ops.SHR or operand_dtype.is_unsigned:
                    return f"({operands[0]}{'>>' if uop.op is Ops.SHR else '<<'}{operands[1]})"
                # Shifting into the sign bit is undefined: a left shift of a signed value goes through unsigned.
                unsigned = _UNSIGNED_OF[max(operand_dtype.itemsize, 4)]
                return f"(({operand_dtype.c_name})(({unsigned}){operands[0]}<<{operands[1]}))"
            kind = "shl" if uop.op is Ops.SHL else "shr"
            name = helper_name(kind, operand_dtype)
            self.helpers[name] = shift_helper(kind, operand_dtype, compute_type(operand_dtype))
            return f"{name}({operands[0]}, {operands[1]})"
        if uop.op is Ops.NEG:
            return f"(-{operands[0]})"
        if uop.op is Ops.NOT:
            return f"(!{operands[0]})"
        if uop.op is Ops.RECIPROCAL:
            one = render_const(1.0, operand_dtype)
            return f"({one}/{operands[0]})"
        if uop.op is Ops.MAX:
            name = helper_name("max", operand_dtype)
            self.helpers[name] = max_helper(operand_dtype, compute_type(operand_dtype))
            return f"{name}({operands[0]}, {operands[1]})"
        if uop.op in (Ops.IDIV, Ops.MOD) and not operand_dtype.is_float:
            divisor = uop.src[1]
            if divisor.op is Ops.CONST and divisor.arg > 0:
                operator = "/" if uop.op is Ops.IDIV else "%"
                reciprocal = self._index_reciprocal(uop) if uop in self.index_math else None
                if reciprocal is not None:
                    # x // d as (x * m) >> k, exact over x's range (see division_by_multiply): plain 32-bit
                    # multiplies and shifts, which every vector ISA has, where a division vectorizes into a
                    # signed fix-up sequence (gcc left one such loop scalar under AVX-512, slow under AVX2).
                    multiplier, shift = reciprocal
                    # In unsigned arithmetic, which gcc vectorized where the signed form stayed slow (AVX2).
                    quotient = f"((int)(((unsigned int){operands[0]}*{multiplier}u)>>{shift}))"
                    if uop.op is Ops.IDIV:
                        return quotient
                    return f"({operands[0]}-{quotient}*{operands[1]})"
                return f"({operands[0]}{operator}{operands[1]})"
            kind = "idiv" if uop.op is Ops.IDIV else "mod"
            name = helper_name(kind, operand_dtype)
            self.helpers[name] = division_helper(kind, operand_dtype, compute_type(operand_dtype))
            return f"{name}({operands[0]}, {operands[1]})"
        if uop.op in _VECTORIZABLE_FLOAT_FUNCTIONS and compute_type(operand_dtype) == "float":
            name, code = _VECTORIZABLE_FLOAT_FUNCTIONS[uop.op]
            self.helpers["lm_exp_scaled"] = EXP_SCALED
            self.helpers[name] = code
            return f"{name}({operands[0]})"
        if uop.op in _FLOAT_FUNCTIONS and operand_dtype.is_float:
            suffix = "" if operand_dtype == dtypes.float64 else "f"
            return f"{_FLOAT_FUNCTIONS[uop.op]}{suffix}({', '.join(operands)})"
        if uop.op in (Ops.TRUNC, Ops.FLOOR, Ops.CEIL, Ops.ROUND):
            return operands[0]  # integers are already whole
        raise NotImplementedError(f"the C renderer cannot apply {uop.op} to {operand_dtype}")

    def _address(self, index: UOp) -> str:
        return f"{self.ref(index.src[0])}[{self.ref(index.src[1])}]"

    # -- statements --

    def _store(self, uop: UOp) -> str:
        if uop in self.vector_of:
            return self._vector_store(uop)
        if uop in self.store_pack_of:
            return self._store_pack(uop)
        index, value = uop.src[:2]
        dtype = value.scalar_dtype
        stored = self.ref(value)
        if dtype in SIXTEEN_BIT_FLOATS and index.src[0].op is not Ops.DEFINE_LOCAL:
            stored = f"{self._to_bits(dtype)}({stored})"
        statement = f"{self._address(index)} = {stored};"
        # A store some work items must skip (a tile larger than its copy, a result one item writes).
        return f"if ({self.ref(index.src[2])}) {statement}" if len(index.src) == 3 else statement

    def _define_local(self, uop: UOp) -> str:
        number, size = uop.arg
        assert isinstance(uop.dtype, PtrDType)
        self.names[uop] = f"local{number}"
        space = self._gpu_spelling(self.dialect.local_space, "local memory")
        return f"{space}{compute_type(uop.dtype.base)} local{number}[{size}];"

    def _gpu_spelling(self, spelling: str, what: str) -> str:
        if not spelling:
            raise NotImplementedError(f"{self.dialect.name} has no {what}: the kernel is for a GPU target")
        return spelling

    def _range(self, uop: UOp) -> str:
        axis, kind = uop.arg
        # A hoisted loop's axis id is below zero (see optimize.hoisted_axis): `gidxm1` for -1.
        number = str(axis) if axis >= 0 else f"m{-axis}"
        name = f"{'ridx' if kind in (AxisKind.REDUCE, AxisKind.SIMD) else 'gidx'}{number}"
        self.names[uop] = name
        index_type = uop.scalar_dtype.c_name
        if kind in GRID_AXES:
            # No loop: the launch gives each work item its index (one per work-group, or per item in one).
            local = kind is AxisKind.LOCAL
            function = self.dialect.local_id if local else self.dialect.group_id
            name = f"{'lidx' if local else 'gidx'}{number}"
            self.names[uop] = name
            dimension = self.grid[uop]
            spelled = self._gpu_spelling(function, "work-groups").format(dim=dimension, axis="xyz"[dimension])
            return f"{index_type} {name} = ({index_type}){spelled}; /* < {self.ref(uop.src[0])} */"
        if kind is AxisKind.GLOBAL:
            # Work item i takes iterations i, i + the global size, ...: right for any global size the launch has.
            start = self._gpu_spelling(self.dialect.global_id, "work items")
            step = self._gpu_spelling(self.dialect.global_size, "work items")
            return f"for ({index_type} {name} = {start}; {name} < {self.ref(uop.src[0])}; {name} += {step}) {{"
        loop = f"for ({index_type} {name} = 0; {name} < {self.ref(uop.src[0])}; {name}++) {{"
        if uop in self.wide_loops:
            loop = self._wide_loop_header(uop, name, self.ref(uop.src[0]), "  " * self.indent)
        pragma = ""
        if kind in SPREAD_AXES:
            # Everything the loop body declares is private to its iteration, so no clauses are needed. A
            # DYNAMIC loop's few long iterations go to whichever core is free, so a core slowed by other
            # work (or a slower core of a hybrid CPU) takes fewer of them instead of holding up the rest.
            schedule = " schedule(dynamic)" if kind is AxisKind.DYNAMIC else ""
            pragma = f"#pragma omp parallel for num_threads({self.threads}){schedule}"
        elif kind is AxisKind.SIMD and uop not in self.explicit_simd_loops:
            # (A SIMD loop carrying explicit vectors is a plain loop: see lane_trees.py.)
            clauses = " ".join(f"reduction({_SIMD_REDUCTIONS[op]}:{acc})" for acc, op in self.simd_accumulators[uop])
            pragma = f"#pragma omp simd {clauses}"
        elif kind is AxisKind.VECTOR:
            pragma = "#pragma omp simd" + clang_width_hint(uop.src[0], self.lanes)
        lines = [*self._row_declarations(uop), *([pragma] if pragma else []), loop]
        return f"\n{'  ' * self.indent}".join(lines)

    def _define_acc(self, uop: UOp) -> str:
        if uop in self.accumulator_of:
            return self._accumulator_pack(uop)
        name = f"acc{uop.arg[0]}"
        self.names[uop] = name
        self.names[uop.arg[1]] = name
        return f"{compute_type(uop.scalar_dtype)} {name} = {self.ref(uop.src[0])};"

    def _assign(self, uop: UOp) -> str:
        if uop in self.update_of:
            return self._update_pack(uop)
        if uop in self.tree_update_of:
            return self._tree_update(uop)
        return f"{self.ref(uop.src[0])} = {self.expression(uop.src[1])};"

    def _value_statement(self, uop: UOp) -> str:
        if uop in self.absorbed:
            return ""  # computed as part of a vector (see _tree_update)
        if uop in self.vector_of:
            return self._vector_load(uop)
        if uop in self.product_of:
            return self._product_pack(uop)
        if self.uses[uop] <= 0 and uop in self.index_math:
            return ""  # an address only vector accesses had, which use their run's base instead
        self.rendering_wide = uop in self.wide
        text = self.expression(uop)
        self.rendering_wide = False
        nested = 1 + max((self.depth.get(source, 0) for source in uop.src), default=0)
        if self.inlinable(uop, self.user_segment.get(uop, -1)) and nested < MAX_INLINE_DEPTH:
            self.names[uop] = text
            self.depth[uop] = nested
            return ""
        name = f"{_PREFIXES.get(uop.op, 'alu')}{self.counter}"
        self.counter += 1
        self.names[uop] = name
        self.depth[uop] = 0
        declared = WIDE_INDEX_TYPE if uop in self.wide else compute_type(uop.scalar_dtype)
        return f"{declared} {name} = {text};"

    def _storage_type(self, dtype: DType) -> str:
        """The C type a buffer of `dtype` holds its elements as (booleans: see BOOL_STORAGE)."""
        if not dtype.is_bool:
            return dtype.c_name
        self.helpers["lm_bool"] = self.dialect.bool_storage
        return "lm_bool"

    def _signature(self) -> str:
        parameters = []
        for parameter in self.program.parameters:
            assert isinstance(parameter.dtype, PtrDType)
            qualifier = "" if parameter in self.stored else "const "
            name = f"data{parameter.arg}"
            self.names[parameter] = name
            storage = self._storage_type(parameter.dtype.base)
            parameters.append(f"{self.dialect.pointer_space}{qualifier}{storage}* restrict {name}")
        for variable in self.program.variables:
            self.names[variable] = variable_parameter(variable)
            parameters.append(f"const {variable.scalar_dtype.c_name} {self.names[variable]}")
        accumulators = sum(1 for uop in self.program.uops if uop.op is Ops.DEFINE_ACC)
        simd = any(uop.op is Ops.RANGE and uop.arg[1] is AxisKind.SIMD for uop in self.program.uops)
        # gcc's loop vectorizer spends seconds on a loop carrying a large tile of accumulators and gains
        # nothing there: its basic-block SLP pass vectorizes the tile. Smaller tiles and SIMD loops need
        # the loop vectorizer (measured with gcc 12). clang needs no such hint.
        large = accumulators >= LARGE_TILE_ACCUMULATORS and not simd and self.dialect is C_DIALECT
        attribute = "LM_TILE_KERNEL " if large else ""
        if attribute:
            self.helpers["LM_TILE_KERNEL"] = TILE_KERNEL_ATTRIBUTE
        return f"{self.dialect.kernel_prefix}{attribute}void {self.program.name}({', '.join(parameters) or 'void'})"

    def render(self) -> str:
        self.count_uses()
        signature = self._signature()
        body: list[str] = []
        for uop in self.program.uops:
            rule = self._table.get(uop.op)
            line = rule(uop) if rule is not None else self._value_statement(uop)
            loop = uop.src[0] if uop.op is Ops.END else uop
            looping = uop.op in (Ops.RANGE, Ops.END) and loop not in self.grid  # a grid axis opens no loop
            if uop.op is Ops.END and looping:
                self.indent -= 1
                self.open_loops.pop()
            if line:
                body.append("  " * self.indent + line)
            if uop.op is Ops.RANGE and looping:
                self.indent += 1
                self.open_loops.append(uop)
        # In first-use order, which puts a helper after the helpers it calls. Each is guarded so that kernels
        # joined into one library (see library.py) define it once.
        guarded = {"preamble": self.dialect.preamble} if self.dialect.preamble else {}
        guarded.update(self.helpers)
        helpers = [f"#ifndef LM_HAVE_{name}\n#define LM_HAVE_{name}\n{code}\n#endif" for name, code in guarded.items()]
        source = "\n".join([*self.dialect.includes, *helpers, f"{signature} {{", *body, "}", ""])
        for spelling, written in self.dialect.spellings:
            source = source.replace(spelling, written)
        return source


def variable_parameter(variable: UOp) -> str:
    """The C name of a DEFINE_VAR's parameter: its name with what C does not allow in a name replaced."""
    spelled = "".join(character if character.isalnum() else "_" for character in str(variable.arg[0]))
    return f"var_{spelled}"


def render_c(program: LinearProgram, threads: int = 1, dialect: Dialect = C_DIALECT, vector_lanes: int = 1) -> str:
    """The source of `program` in `dialect` (C, OpenCL C): one function named after it, one pointer per buffer.

    A PARALLEL (or DYNAMIC) loop becomes an OpenMP `parallel for` over `threads` threads; the source then
    needs -fopenmp, without which the pragma is ignored and the loop runs serially. A GLOBAL loop runs over
    the work items of an OpenCL launch. In C, register tiles `vector_lanes` wide (the target's float lanes)
    are written as vector-extension values (see tile_vectors.py and lane_trees.py).
    """
    return _CKernel(program, threads, dialect, vector_lanes).render()
