"""A register tile's outputs stored as vectors: adjacent stores whose values are computed alike from one pack of
vector accumulators (tile_vectors.py, lane_trees.py).

A tile's epilogue adds a bias, masks a ReLU's gradient or takes an SGD step, lane by lane: `out[x + i] = keep[x +
i] ? acc[i] : 0` for each of the tile's columns. Written as scalars that is a statement per output (256 for an
8 x 32 tile): gcc compiled the MLP's 10-long gradient matmul for half a second and ran its epilogue 4x slower
than clang's. Here each run of stores whose values have the same shape lane for lane, from one accumulator pack
in lane order, becomes one vector expression and one vector store. The positions of the shape:

- `acc`: the pack's accumulators, lane i reading accumulator i (the pack's vector itself);
- `scalar`: one node in every lane (a bias, a learning rate), broadcast;
- `run`: float loads of adjacent elements of a buffer, one vector load; `mask`: boolean loads of adjacent
  elements, a choice's condition, loaded as bytes and widened to a lane mask;
- `op`: the same float arithmetic in every lane (+, -, *, negation), `same`: a float's bit cast to a float;
- `choice`: `mask ? a : b`, the lanes' bits blended by the mask.

Every lane computes the same operations on the same operands as its scalar statement did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lamina.codegen.lane_trees import SMALLEST_PACK
from lamina.codegen.vectors import adjacent_stretches, base_and_offset
from lamina.dtype import PtrDType, dtypes
from lamina.uop import Ops, UOp

_ARITHMETIC = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.NEG})


@dataclass(frozen=True, slots=True)
class StoreTree:
    """One position of the stored value across the lanes (see the module for the kinds)."""

    kind: str
    nodes: tuple[UOp, ...]
    sources: tuple[StoreTree, ...] = ()

    def positions(self, *kinds: str) -> list[StoreTree]:
        found = [self] if self.kind in kinds else []
        for source in self.sources:
            found.extend(source.positions(*kinds))
        return found


@dataclass(frozen=True, slots=True)
class StorePack:
    """Adjacent stores (lane order) of one buffer, written as one vector of `tree` by the last of them."""

    stores: tuple[UOp, ...]
    tree: StoreTree
    accumulators: object  # the accumulator pack the `acc` positions read (an UpdatePack or a TreeUpdate)

    @property
    def lanes(self) -> int:
        return len(self.stores)


def plan_store_packs(
    uops: Sequence[UOp], lane_of: dict[UOp, tuple[object, int, int]], users: dict[UOp, int]
) -> list[StorePack]:
    """The store packs of `uops` (a linear program). `lane_of` maps each packed accumulator's REDUCE to (its pack,
    its lane, the pack's width); `users`: how many nodes read each node."""
    positions = {uop: position for position, uop in enumerate(uops)}
    read_buffers: dict[UOp, list[UOp]] = {}
    for uop in uops:
        if uop.op is Ops.LOAD:
            read_buffers.setdefault(uop.src[0].src[0], []).append(uop)
    packs: list[StorePack] = []
    for buffer, _, _, stores in adjacent_stretches(uops, Ops.STORE):
        if not isinstance(buffer.dtype, PtrDType) or buffer.dtype.base is not dtypes.float32:
            continue
        start = 0
        while start + SMALLEST_PACK <= len(stores):
            pack = _pack(tuple(stores[start:]), lane_of, users)
            if pack is None or not _reads_only_its_own(pack, read_buffers.get(buffer, []), positions):
                start += 1
                continue
            packs.append(pack)
            start += pack.lanes
    return packs


def _pack(
    stores: tuple[UOp, ...], lane_of: dict[UOp, tuple[object, int, int]], users: dict[UOp, int]
) -> StorePack | None:
    """The pack the first of `stores` starts, as wide as its value's accumulator pack, or None."""
    first = _first_accumulator(stores[0].src[1])
    if first is None or first not in lane_of:
        return None
    accumulators, lane, width = lane_of[first]
    if lane != 0 or len(stores) < width:
        return None
    members = stores[:width]
    tree = _tree(tuple(store.src[1] for store in members), lane_of, users)
    if tree is None or any(position.nodes[0] not in lane_of for position in tree.positions("acc")):
        return None
    if any(lane_of[position.nodes[0]][0] is not accumulators for position in tree.positions("acc")):
        return None
    return StorePack(members, tree, accumulators) if tree.positions("acc") else None


def _first_accumulator(value: UOp) -> UOp | None:
    """The first REDUCE `value` is computed from, through arithmetic (depth first, left to right; each shared node
    looked at once)."""
    stack, seen = [value], set()
    while stack:
        node = stack.pop()
        if node.op is Ops.REDUCE:
            return node
        if node.op is not Ops.LOAD and node not in seen:
            seen.add(node)
            stack.extend(reversed(node.src))
    return None


def _tree(
    nodes: tuple[UOp, ...], lane_of: dict[UOp, tuple[object, int, int]], users: dict[UOp, int]
) -> StoreTree | None:
    first = nodes[0]
    if all(node is first for node in nodes):
        return StoreTree("scalar", nodes) if first.op is not Ops.REDUCE and first.dtype is dtypes.float32 else None
    if len(set(nodes)) != len(nodes):
        return None
    if all(node.op is Ops.REDUCE for node in nodes):
        found = [lane_of.get(node) for node in nodes]
        in_order = all(
            each is not None and each[1] == lane and each[2] == len(nodes) for lane, each in enumerate(found)
        )
        return StoreTree("acc", nodes) if in_order and len({id(each[0]) for each in found if each}) == 1 else None
    if all(node.op is Ops.LOAD for node in nodes):
        return _run(nodes)
    if any(node.op is not first.op or node.dtype is not first.dtype or users.get(node, 0) != 1 for node in nodes):
        return None
    if first.op is Ops.WHERE and first.dtype is dtypes.float32:
        condition = _run(tuple(node.src[0] for node in nodes))
        branches = [_tree(tuple(node.src[side] for node in nodes), lane_of, users) for side in (1, 2)]
        if condition is None or condition.kind != "mask" or branches[0] is None or branches[1] is None:
            return None
        return StoreTree("choice", nodes, (condition, branches[0], branches[1]))
    same = first.op is Ops.BITCAST and first.src[0].dtype is dtypes.float32
    if (first.op in _ARITHMETIC or same) and first.dtype is dtypes.float32:
        sources = []
        for position in range(len(first.src)):
            source = _tree(tuple(node.src[position] for node in nodes), lane_of, users)
            if source is None or source.kind == "mask":
                return None
            sources.append(source)
        return StoreTree("same" if same else "op", nodes, tuple(sources))
    return None


def _run(nodes: tuple[UOp, ...]) -> StoreTree | None:
    """Loads of adjacent elements of one global buffer without a validity: a `run` of floats, a `mask` of
    booleans."""
    if any(node.op is not Ops.LOAD for node in nodes):
        return None
    index = nodes[0].src[0]
    pointer = index.src[0]
    if len(index.src) != 2 or pointer.op is not Ops.DEFINE_GLOBAL or not isinstance(pointer.dtype, PtrDType):
        return None
    if pointer.dtype.base not in (dtypes.float32, dtypes.bool):
        return None
    base, start = base_and_offset(index.src[1])
    for lane, node in enumerate(nodes):
        other = node.src[0]
        if len(other.src) != 2 or other.src[0] is not pointer or base_and_offset(other.src[1]) != (base, start + lane):
            return None
    return StoreTree("run" if pointer.dtype.base is dtypes.float32 else "mask", nodes)


def _reads_only_its_own(pack: StorePack, loads: list[UOp], positions: dict[UOp, int]) -> bool:
    """Whether the pack's vector, read before its one store, reads what the scalar statements read: a lane reading
    the stored buffer reads its own element (an update in place), and no other load of that buffer lies between
    the pack's first and last store (it would have seen some lanes stored)."""
    leaves = {load for position in pack.tree.positions("run", "mask") for load in position.nodes}
    for position in pack.tree.positions("run", "mask"):
        for lane, load in enumerate(position.nodes):
            if load in loads and load.src[0].src[1] is not pack.stores[lane].src[0].src[1]:
                return False
    first, last = positions[pack.stores[0]], positions[pack.stores[-1]]
    return not any(first < positions[load] < last for load in loads if load not in leaves)
