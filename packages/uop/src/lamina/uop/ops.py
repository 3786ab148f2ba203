"""The operations of lamina's one IR, grouped so that the enum reads as the IR's specification.

One set of ops serves every stage: the lazy tensor graph (buffers, movement ops, REDUCE_AXIS),
the kernel a scheduler cuts out of it (DEFINE_GLOBAL, RANGE, INDEX, LOAD, STORE, REDUCE), and the
linear program a code generator renders (DEFINE_ACC, ASSIGN, END). Passes are rewrites from one
subset to the next; the groups below let a pass name "every binary op" without listing them.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final


class Ops(Enum):
    """Every operation a `UOp` can be."""

    # Members are singletons, so identity is equality: object's C-level hash replaces Enum's hash of the
    # name, a Python call on every intern-table lookup of every node.
    __hash__ = object.__hash__

    # -- tensor graph: storage and markers --
    BUFFER = auto()  # device memory; arg=BufferRef(uid, device, size); shape (size,)
    CONTIGUOUS = auto()  # src[0] must be materialised in its own buffer (a realize boundary)
    # src[0] passed through, once src[1] (an int64 scalar, the verdict) is computed too and says the check
    # passed; arg=a Check naming what is verified and the error its failure raises. The scheduler realizes each
    # verdict with the graph and the engine raises after the run, so kernels never see a CHECK.
    CHECK = auto()
    # src[0] (a flat BUFFER, or a CONTIGUOUS copy of one) with src[1] written into a strided region of it, in place:
    # arg=(offset, strides), element j of src[1] going to offset + sum(j[k] * strides[k]) (all in range); src[2], if
    # any, a scalar integer graph over BINDs added to the offset (a write at a position known only at launch).
    WRITE = auto()
    # rows of src[0] picked by the integer values of src[1] (a gather along src[0]'s first dim): shape
    # src[1].shape + src[0].shape[1:]; an index outside [0, rows) reads the nearest row (the tensor checks it)
    TAKE = auto()

    # -- constants and symbols --
    CONST = auto()  # arg=the Python value, already of dtype's kind; shape ()
    DEFINE_VAR = auto()  # an integer symbol; arg=(name, min, max)
    # tensor graph: src[0] (a DEFINE_VAR) at the value it takes in one realize, arg=that value; shape (). A schedule
    # keys on the variable, never the value, which each kernel takes as an int argument when it runs
    BIND = auto()

    # -- movement: tensor graph only; rangeify turns each into index arithmetic --
    RESHAPE = auto()  # arg=new shape
    PERMUTE = auto()  # arg=axis order
    EXPAND = auto()  # arg=new shape (size-1 dims broadcast)
    PAD = auto()  # arg=((before, after), ...) per dim, filled with zero
    SHRINK = auto()  # arg=((start, end), ...) per dim
    FLIP = auto()  # arg=(bool, ...) per dim

    # -- unary elementwise --
    NEG = auto()
    RECIPROCAL = auto()
    SQRT = auto()
    EXP = auto()
    LOG = auto()
    EXP2 = auto()
    LOG2 = auto()
    SIN = auto()
    COS = auto()
    ERF = auto()  # the error function, floats only
    EXPM1 = auto()  # e**x - 1, accurate near 0; floats only
    LOG1P = auto()  # log(1 + x), accurate near 0; floats only
    TRUNC = auto()
    FLOOR = auto()
    CEIL = auto()
    ROUND = auto()  # half to even, as torch.round
    NOT = auto()  # logical not of a bool

    # -- binary elementwise --
    ADD = auto()
    SUB = auto()
    MUL = auto()
    DIV = auto()  # true division of floats
    IDIV = auto()  # integer division truncating toward zero (C semantics)
    MOD = auto()  # remainder with the sign of the dividend (C semantics; fmod for floats)
    ATAN2 = auto()  # the angle of the point (x=src[1], y=src[0]), C's atan2: floats only
    MAX = auto()
    POW = auto()  # floats only
    CMPLT = auto()  # result dtype bool
    CMPNE = auto()  # result dtype bool
    CMPEQ = auto()  # result dtype bool
    AND = auto()
    OR = auto()
    XOR = auto()
    SHL = auto()
    SHR = auto()

    # -- ternary elementwise --
    WHERE = auto()  # src=(condition, if_true, if_false)

    # -- casts --
    CAST = auto()  # value conversion to dtype
    BITCAST = auto()  # same bits, read as dtype (equal itemsize)

    # -- reductions --
    REDUCE_AXIS = auto()  # tensor graph: arg=(Ops.ADD | Ops.MAX | Ops.MUL, axes); reduced axes keep size 1
    REDUCE = auto()  # kernel: src=(value, *ranges) reduced over those ranges; arg=Ops.ADD | Ops.MAX | Ops.MUL

    # -- kernel: parameters, loops and memory --
    SINK = auto()  # the root of a kernel: src=the STOREs; arg=the kernel's name (or None)
    DEFINE_GLOBAL = auto()  # buffer parameter; dtype PtrDType; arg=its position in the argument list
    RANGE = auto()  # a loop index 0 <= i < src[0]; arg=(axis id, AxisKind)
    INDEX = auto()  # address of element src[1] in buffer src[0]; optional src[2] a bool validity
    LOAD = auto()  # read src[0] (an INDEX); an invalid index reads zero; src[1], if any, a BARRIER it waits for
    # write src[1] to src[0] (an INDEX; an invalid one writes nothing); src[2], if any, a BARRIER it waits for
    STORE = auto()
    # GPU kernels: memory shared by a work-group's items, and the point where they wait for each other
    DEFINE_LOCAL = auto()  # local memory; dtype PtrDType; arg=(its number, element count)
    BARRIER = auto()  # every item of the work-group reaches it (and src, the STOREs before it) before any goes on

    # -- linear program: what the linearizer lowers REDUCE and loops into --
    DEFINE_ACC = auto()  # an accumulator initialised to src[0]; arg=its number
    ASSIGN = auto()  # src[0] (a DEFINE_ACC) = src[1]
    END = auto()  # closes the loop of src[0] (a RANGE)


class AxisKind(Enum):
    """What a kernel's loop range is for; the optimizer changes kinds, the renderer reads them."""

    __hash__ = object.__hash__  # as for Ops

    LOOP = auto()  # an output axis, a plain serial loop
    PARALLEL = auto()  # an output axis split across cores
    DYNAMIC = auto()  # an output axis across cores, each iteration taken by whichever core is free
    GLOBAL = auto()  # an output axis over a GPU's work items (each takes every global-size-th iteration)
    WORKGROUP = auto()  # an output axis over a GPU launch's work-groups, one index each
    LOCAL = auto()  # an axis over the work items of one work-group, one index each
    REDUCE = auto()  # an axis a REDUCE sums over
    SIMD = auto()  # a reduce axis the C compiler vectorizes, free to reorder its sums (the optimizer's)
    VECTOR = auto()  # an output axis the C compiler vectorizes, its iterations independent (an elementwise kernel's)


SPREAD_AXES: Final = frozenset({AxisKind.PARALLEL, AxisKind.DYNAMIC})
"""The output axes whose iterations run on several cores."""

GRID_AXES: Final = frozenset({AxisKind.WORKGROUP, AxisKind.LOCAL})
"""The axes a GPU launch's geometry provides (an index each, no loop): work-groups and the items in one."""


class GroupOp:
    """Named sets of ops, so passes and tables can say 'every binary op'."""

    UNARY: Final = frozenset(
        {
            Ops.NEG, Ops.RECIPROCAL, Ops.SQRT, Ops.EXP, Ops.LOG, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.COS, Ops.ERF,
            Ops.EXPM1, Ops.LOG1P, Ops.TRUNC, Ops.FLOOR, Ops.CEIL, Ops.ROUND, Ops.NOT,
        }
    )  # fmt: skip
    BINARY: Final = frozenset(
        {
            Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.IDIV, Ops.MOD, Ops.MAX, Ops.POW, Ops.ATAN2, Ops.CMPLT, Ops.CMPNE,
            Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR, Ops.SHL, Ops.SHR,
        }
    )  # fmt: skip
    TERNARY: Final = frozenset({Ops.WHERE})
    ALU: Final = UNARY | BINARY | TERNARY
    # Elementwise ops: one output element from the same-index elements of each source.
    ELEMENTWISE: Final = ALU | {Ops.CAST, Ops.BITCAST}
    MOVEMENT: Final = frozenset({Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP})
    COMPARISON: Final = frozenset({Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ})
    COMMUTATIVE: Final = frozenset({Ops.ADD, Ops.MUL, Ops.MAX, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR})
    REDUCTION: Final = frozenset({Ops.ADD, Ops.MAX, Ops.MUL})
    # Ops whose operands and result are integers or bools only.
    INTEGER_ONLY: Final = frozenset({Ops.IDIV, Ops.AND, Ops.OR, Ops.XOR, Ops.SHL, Ops.SHR})
