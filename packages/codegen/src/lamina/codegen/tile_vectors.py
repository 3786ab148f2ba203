"""Register tiles as explicit vectors: which loads, products and accumulators of a C kernel are written as GCC
and clang vector-extension values (`__attribute__((vector_size))`) instead of scalars.

An upcast register tile is rows x columns of scalar accumulators, each updated `acc += a[row] * b[column]`,
and the C compiler's SLP vectorizer is left to rediscover the vectors: gcc does, clang 14 gives up on some
tile shapes (a 4 x 16 tile under AVX2 ran 6x slower under clang than gcc). Written out as vectors the code
no longer depends on either vectorizer. A pack is `lanes` scalars computing the same thing at adjacent
columns: a run of adjacent loads (see vectors.py), the products of that run with one scalar, and the
accumulators those products are added to; a pack is written as one vector statement and its lanes are
read, where anything else reads them, as `vector[lane]`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from lamina.codegen.vectors import VectorRun, vector_runs
from lamina.dtype import dtypes
from lamina.uop import AxisKind, Ops, UOp


@dataclass(frozen=True, slots=True)
class ProductPack:
    """`scalar * run`: the lanes are the products with each load of `run`, in lane order."""

    run: VectorRun
    scalar: UOp
    members: tuple[UOp, ...]


@dataclass(frozen=True, slots=True)
class UpdatePack:
    """`accumulators += product`: the ASSIGNs of each lane, and the DEFINE_ACCs they update."""

    product: ProductPack
    accumulators: tuple[UOp, ...]
    members: tuple[UOp, ...]


@dataclass
class TilePlan:
    """The packs of one kernel: the load runs, and the updates built on them (with their products)."""

    runs: list[VectorRun] = field(default_factory=list)
    updates: list[UpdatePack] = field(default_factory=list)


def _other_operand(product: UOp, lane: UOp) -> UOp | None:
    if product.op is not Ops.MUL or product.scalar_dtype is not dtypes.float32:
        return None
    left, right = product.src
    return right if left is lane else left if right is lane else None


def plan_tiles(uops: Sequence[UOp], lanes: int) -> TilePlan:
    """The packs of `uops` (a linear program) `lanes` wide: every product of a float32 load run of that width
    with one scalar that only updates an ADD accumulator, lane for lane, outside SIMD loops."""
    plan = TilePlan()
    if lanes < 2:
        return plan
    users: dict[UOp, list[UOp]] = {}
    segment_of: dict[UOp, int] = {}
    segment, simd_depth = 0, 0
    for uop in uops:
        if uop.op in (Ops.RANGE, Ops.END, Ops.BARRIER):
            segment += 1
            if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.SIMD:
                simd_depth += 1
            elif uop.op is Ops.END and uop.src[0].arg[1] is AxisKind.SIMD:
                simd_depth -= 1
        # Inside an OpenMP simd loop the accumulators are named in its reduction clause: they stay scalars.
        segment_of[uop] = -1 if simd_depth else segment
        if uop.op is Ops.REDUCE:
            continue  # it names its accumulator's final value: its sources are read by the ASSIGN
        for source in uop.src[1].src if uop.op is Ops.ASSIGN else uop.src:
            users.setdefault(source, []).append(uop)
    position = {uop: index for index, uop in enumerate(uops)}
    candidates: list[tuple[VectorRun, list[UpdatePack]]] = []
    for run in vector_runs(uops, Ops.LOAD, (lanes,)):
        if run.lanes != lanes or run.buffer.dtype.base is not dtypes.float32:  # type: ignore[union-attr]
            continue
        packs = _updates_of(run, users, segment_of)
        if packs:
            candidates.append((run, packs))
    # Where both operands of a tile load whole vectors (16 rows of a stored A^T by 16 columns of B), each product
    # is a lane of two packs, across and down the tile: one run takes it, the one whose accumulators sit side by
    # side (as its stores read them); two would update an accumulator twice.
    candidates.sort(key=lambda candidate: not all(_side_by_side(pack, position) for pack in candidate[1]))
    claimed: set[UOp] = set()
    for run, packs in candidates:
        taken = {member for pack in packs for member in (*pack.product.members, *pack.members)}
        if taken & claimed:
            continue
        claimed |= taken
        plan.runs.append(run)
        plan.updates.extend(packs)
    return plan


def _side_by_side(pack: UpdatePack, position: dict[UOp, int]) -> bool:
    """Whether `pack`'s accumulators were defined one after another, in lane order."""
    places = [position.get(accumulator, -1) for accumulator in pack.accumulators]
    return all(later == earlier + 1 for earlier, later in itertools.pairwise(places))


def _updates_of(run: VectorRun, users: dict[UOp, list[UOp]], segment_of: dict[UOp, int]) -> list[UpdatePack]:
    """The update packs over `run`, all or none: every user of every lane must be a product in one of them."""
    by_scalar: dict[UOp, list[UOp | None]] = {}
    for lane, load in enumerate(run.members):
        for user in users.get(load, []):
            scalar = _other_operand(user, load)
            if scalar is None or scalar in run.members:
                return []
            by_scalar.setdefault(scalar, [None] * run.lanes)[lane] = user
    segment = segment_of.get(run.members[0], -1)
    packs: list[UpdatePack] = []
    for scalar, products in by_scalar.items():
        if any(product is None for product in products):
            return []
        members = tuple(product for product in products if product is not None)
        update = _update_of(ProductPack(run, scalar, members), users, segment_of, segment)
        if update is None:
            return []
        packs.append(update)
    return packs


def _update_of(
    product: ProductPack, users: dict[UOp, list[UOp]], segment_of: dict[UOp, int], segment: int
) -> UpdatePack | None:
    """The pack of ASSIGNs adding `product`'s lanes to ADD accumulators, or None where any lane does more."""
    assigns: list[UOp] = []
    for lane in product.members:
        lane_users = users.get(lane, [])
        if len(lane_users) != 1 or segment_of.get(lane) != segment or segment < 0:
            return None
        assign = lane_users[0]
        if assign.op is not Ops.ASSIGN or segment_of.get(assign) != segment:
            return None
        accumulator, update = assign.src
        if update.op is not Ops.ADD or update.src != (accumulator, lane) or accumulator.arg[1].arg is not Ops.ADD:
            return None
        assigns.append(assign)
    accumulators = tuple(assign.src[0] for assign in assigns)
    if len(set(accumulators)) != len(accumulators):
        return None
    return UpdatePack(product, accumulators, tuple(assigns))
