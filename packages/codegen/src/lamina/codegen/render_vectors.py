"""How the C renderer plans and writes vectors: OpenCL's vector loads and stores (vectors.py) and, in C,
register tiles and whole accumulator updates as GCC/clang vector-extension values (tile_vectors.py,
lane_trees.py).

A mixin of `render_c._CKernel`: the renderer provides `ref`, `names`, `counter`, `helpers`, `dialect` and the
program; the packs are planned here. A pack's statement is written once, by one member (the first load of a run, the
first accumulator, the last product and update: by then every lane's operands exist), and names its lanes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from lamina.codegen.dialects import Dialect
from lamina.codegen.lane_trees import LaneTree, TreeUpdate, plan_tree_updates
from lamina.codegen.linearize import LinearProgram
from lamina.codegen.render_consts import is_positive_zero, render_const
from lamina.codegen.store_packs import StorePack, StoreTree, plan_store_packs
from lamina.codegen.tile_vectors import UpdatePack, plan_tiles
from lamina.codegen.vectors import VectorRun, base_and_offset
from lamina.uop import Ops, UOp


def c_vector_type(element: str, lanes: int) -> tuple[str, str]:
    """The name of C's vector of `lanes` `element`s and its typedef: the vector extension gcc and clang share."""
    name = f"lm_{element}{lanes}"
    return name, f"typedef {element} {name} __attribute__((vector_size({lanes} * sizeof({element}))));"


class VectorWriter:
    """Writes vector loads, stores and register-tile packs."""

    dialect: Dialect
    program: LinearProgram
    names: dict[UOp, str]
    counter: int
    helpers: dict[str, str]
    vector_of: dict[UOp, VectorRun]
    vector_writer: set[UOp]
    run_names: dict[VectorRun, str]
    product_of: dict[UOp, UpdatePack]  # each product lane -> the update its product feeds (its only use)
    update_of: dict[UOp, UpdatePack]
    accumulator_of: dict[UOp, UpdatePack | TreeUpdate]
    tree_update_of: dict[UOp, TreeUpdate]
    run_vectors: dict[tuple[UOp, ...], str]
    pack_writer: set[UOp]
    pack_names: dict[UpdatePack | TreeUpdate, str]
    indent: int
    ref: Callable[[UOp], str]
    _padded_row: Callable[[UOp, UOp], str]
    _release: Callable[[UOp], None]
    _retain: Callable[[UOp], None]
    uses: Counter[UOp]
    absorbed: set[UOp]

    def _plan_tiles(self, lanes: int, positions: dict[UOp, int], reach: int) -> None:
        """Register-tile packs (see tile_vectors.py) and tree updates (lane_trees.py; `reach`: how far the zero row
        reaches), each written by one member: loads and accumulators by the first, products and updates by the
        last, when every lane's operands exist."""
        self.product_of: dict[UOp, UpdatePack] = {}
        self.update_of: dict[UOp, UpdatePack] = {}
        self.accumulator_of: dict[UOp, UpdatePack | TreeUpdate] = {}
        self.tree_update_of: dict[UOp, TreeUpdate] = {}
        self.absorbed: set[UOp] = set()
        self.pack_writer: set[UOp] = set()
        self.pack_names: dict[UpdatePack | TreeUpdate, str] = {}
        self.run_vectors: dict[tuple[UOp, ...], str] = {}
        plan = plan_tiles(self.program.uops, lanes)

        def first(members: tuple[UOp, ...]) -> UOp:
            return min(members, key=positions.__getitem__)

        def last(members: tuple[UOp, ...]) -> UOp:
            return max(members, key=positions.__getitem__)

        for run in plan.runs:
            self.vector_of.update(dict.fromkeys(run.members, run))
            self.vector_writer.add(first(run.members))
        for update in plan.updates:
            self.product_of.update(dict.fromkeys(update.product.members, update))
            self.update_of.update(dict.fromkeys(update.members, update))
            self.accumulator_of.update(dict.fromkeys(update.accumulators, update))
            self.pack_writer |= {last(update.product.members), first(update.accumulators)}
        taken = set(self.accumulator_of)
        for tree_update in plan_tree_updates(self.program.uops, lanes, taken, reach):
            self.tree_update_of.update(dict.fromkeys(tree_update.members, tree_update))
            self.accumulator_of.update(dict.fromkeys(tree_update.accumulators, tree_update))
            self.absorbed.update(tree_update.interior())
            self.pack_writer |= {last(tree_update.members), first(tree_update.accumulators)}

    def _fresh(self, stem: str) -> str:
        name = f"{stem}{self.counter}"
        self.counter += 1
        return name

    def _vector_type(self, element: str, lanes: int) -> str:
        if self.dialect.vector_load:
            return f"{element}{lanes}"
        name, typedef = c_vector_type(element, lanes)
        self.helpers[name] = typedef
        return name

    def _vector_load(self, uop: UOp) -> str:
        """A member of a run of loads: the run's vector is loaded by its first member, each lane named for it."""
        run = self.vector_of[uop]
        if uop not in self.vector_writer:
            return ""
        name = self._fresh("vec")
        self.run_names[run] = name
        opencl = bool(self.dialect.vector_load)
        for lane, member in enumerate(run.members):
            self.names[member] = f"{name}.s{lane:x}" if opencl else f"{name}[{lane}]"
        pointer = f"{self.ref(run.buffer)}+{self.ref(run.base)}"
        vector = self._vector_type(run.element, run.lanes)
        if opencl:
            return f"{vector} {name} = {self.dialect.vector_load.format(lanes=run.lanes, pointer=pointer)};"
        # memcpy: the buffer holds floats, read without an aliasing or alignment assumption; one unaligned load.
        return f"{vector} {name}; memcpy(&{name}, {pointer}, sizeof {name});"

    def _vector_store(self, uop: UOp) -> str:
        """A member of a run of stores: the last member stores the run's values as one vector."""
        run = self.vector_of[uop]
        if uop not in self.vector_writer:
            return ""
        values = ",".join(self.ref(member.src[1]) for member in run.members)
        value = self.dialect.vector_value.format(type=run.element, lanes=run.lanes, values=values)
        pointer = f"{self.ref(run.buffer)}+{self.ref(run.base)}"
        return self.dialect.vector_store.format(lanes=run.lanes, value=value, pointer=pointer)

    def _product_pack(self, uop: UOp) -> str:
        """`accumulators += scalar * run` as one vector update, written by the product's last lane: each update
        right after its operands are loaded, so the compiler keeps one broadcast live at a time (all products
        first, then all updates, made gcc hold every row's broadcast and spill accumulators of a 6-row tile)."""
        update = self.product_of[uop]
        if uop not in self.pack_writer:
            return ""
        pack = update.product
        accumulator = self.pack_names[update]
        return f"{accumulator} = {accumulator}+{self.ref(pack.scalar)}*{self.run_names[pack.run]};"

    def _accumulator_pack(self, uop: UOp) -> str:
        """A pack's accumulators as one vector, declared by its first lane; its REDUCEs read the lanes."""
        pack = self.accumulator_of[uop]
        if uop not in self.pack_writer:
            return ""
        name = self.pack_names[pack] = self._fresh("vacc")
        for lane, accumulator in enumerate(pack.accumulators):
            self.names[accumulator] = self.names[accumulator.arg[1]] = f"{name}[{lane}]"
        identity = ",".join(render_const(each.src[0].arg, each.scalar_dtype) for each in pack.accumulators)
        return f"{self._vector_type('float', len(pack.accumulators))} {name} = {{{identity}}};"

    def _update_pack(self, uop: UOp) -> str:
        """Nothing: a pack's update is written with its product (see _product_pack), the product's only use."""
        return ""

    def _tree_update(self, uop: UOp) -> str:
        """`accumulators += tree` (see lane_trees.py), written by its last lane: the vector loads it needs first."""
        pack = self.tree_update_of[uop]
        if uop not in self.pack_writer:
            return ""
        vector = self._vector_type("float", pack.lanes)
        lines: list[str] = []
        value = self._lane_value(pack.tree, vector, lines)
        accumulator = self.pack_names[pack]
        lines.append(f"{accumulator} = {accumulator}+{value};")
        return ("\n" + "  " * self.indent).join(lines)

    def _lane_value(self, tree: LaneTree, vector: str, lines: list[str]) -> str:
        if tree.kind == "scalar":
            return self.ref(tree.nodes[0])
        if tree.kind == "gather":
            return f"(({vector}){{{','.join(self.ref(node) for node in tree.nodes)}}})"
        if tree.kind == "run":
            return self._run_vector(tree.nodes, vector, lines)
        operands = [self._lane_value(source, vector, lines) for source in tree.sources]
        if tree.nodes[0].op is Ops.NEG:
            return f"(-{operands[0]})"
        return f"({operands[0]}{_VECTOR_INFIX[tree.nodes[0].op]}{operands[1]})"

    def _run_vector(self, loads: tuple[UOp, ...], vector: str, lines: list[str]) -> str:
        """A run of loads as one vector, loaded once for every pack of its loop body that reads it."""
        known = self.run_vectors.get(loads)
        if known is not None:
            return known
        name = self.run_vectors[loads] = self._fresh("vrow")
        index = loads[0].src[0]
        base, start = base_and_offset(index.src[1])
        row = self._padded_row(index, base) if len(index.src) == 3 else f"{self.ref(index.src[0])}+{self.ref(base)}"
        pointer = f"{row}+{start}" if start else row
        lines.append(f"{vector} {name}; memcpy(&{name}, {pointer}, sizeof {name});")
        return name

    def _plan_store_packs(self) -> None:
        """Store packs (store_packs.py) over the tile's accumulator packs, each written by its last store: their
        scalar arithmetic, their loads only they read, and the stores' own addresses go unused."""
        self.store_pack_of: dict[UOp, StorePack] = {}
        if self.dialect.vector_load or not self.accumulator_of:
            return
        lane_of: dict[UOp, tuple[object, int, int]] = {}
        for accumulator, owner in self.accumulator_of.items():
            lane_of[accumulator.arg[1]] = (owner, owner.accumulators.index(accumulator), len(owner.accumulators))
        leaves: set[UOp] = set()
        for pack in plan_store_packs(self.program.uops, lane_of, self.uses):
            self.store_pack_of.update(dict.fromkeys(pack.stores, pack))
            self.absorbed.update(node for tree in pack.tree.positions("op", "choice", "same") for node in tree.nodes)
            self._retain(base_and_offset(pack.stores[0].src[0].src[1])[0])
            for store in pack.stores:
                self._release(store.src[0].src[1])
            for tree in pack.tree.positions("run", "mask"):
                self._retain(base_and_offset(tree.nodes[0].src[0].src[1])[0])
                for load in tree.nodes:
                    self.uses[load] -= 1  # its reader is written as a vector now
                    leaves.add(load)
        # A load only packs read (a bias every row of the tile adds) is read as their vectors alone.
        for load in leaves:
            if self.uses[load] <= 0:
                self.absorbed.add(load)
                self._release(load.src[0].src[1])

    def _store_pack(self, uop: UOp) -> str:
        """A store pack's vector, computed and stored by its last store (the others write nothing)."""
        pack = self.store_pack_of[uop]
        if uop is not pack.stores[-1]:
            return ""
        vector = self._vector_type("float", pack.lanes)
        lines: list[str] = []
        value = self._store_value(pack.tree, pack, vector, lines)
        name = self._fresh("vout")
        lines.append(f"{vector} {name} = {value};")
        lines.append(f"memcpy({self._run_pointer(pack.stores[0])}, &{name}, sizeof {name});")
        return ("\n" + "  " * self.indent).join(lines)

    def _run_pointer(self, member: UOp) -> str:
        """The address of a run's first element (`member` its first load or store)."""
        index = member.src[0]
        base, start = base_and_offset(index.src[1])
        return f"{self.ref(index.src[0])}+{self.ref(base)}" + (f"+{start}" if start else "")

    def _store_value(self, tree: StoreTree, pack: StorePack, vector: str, lines: list[str]) -> str:
        if tree.kind == "acc":
            return self.pack_names[pack.accumulators]  # type: ignore[index]
        if tree.kind == "scalar":
            return self.ref(tree.nodes[0])
        if tree.kind == "run":
            name = self._fresh("vrow")
            lines.append(f"{vector} {name}; memcpy(&{name}, {self._run_pointer(tree.nodes[0])}, sizeof {name});")
            return name
        if tree.kind == "same":
            return self._store_value(tree.sources[0], pack, vector, lines)
        if tree.kind == "choice":
            return self._store_choice(tree, pack, vector, lines)
        operands = [self._store_value(source, pack, vector, lines) for source in tree.sources]
        if tree.nodes[0].op is Ops.NEG:
            return f"(-{operands[0]})"
        return f"({operands[0]}{_VECTOR_INFIX[tree.nodes[0].op]}{operands[1]})"

    def _store_choice(self, tree: StoreTree, pack: StorePack, vector: str, lines: list[str]) -> str:
        """`mask ? a : b` as the lanes' bits blended by a mask of all ones or all zeros per lane."""
        lanes = pack.lanes
        bytes_type, integers = f"lm_uchar{lanes}", self._vector_type("int", lanes)
        self.helpers[bytes_type] = f"typedef unsigned char {bytes_type} __attribute__((vector_size({lanes})));"
        loaded, mask = self._fresh("vbool"), self._fresh("vmask")
        lines.append(
            f"{bytes_type} {loaded}; memcpy(&{loaded}, {self._run_pointer(tree.sources[0].nodes[0])}, {lanes});"
        )
        lines.append(f"{integers} {mask} = (__builtin_convertvector({loaded}, {integers}) != 0);")
        terms = []
        for source, selector in ((tree.sources[1], mask), (tree.sources[2], f"~{mask}")):
            if source.kind == "scalar" and is_positive_zero(source.nodes[0]):
                continue  # +0 is all bits clear: nothing to blend in
            value = self._store_value(source, pack, vector, lines)
            if source.kind == "scalar":
                value = f"(({vector}){{{','.join([value] * lanes)}}})"
            terms.append(f"(({integers}){value}&{selector})")
        blended = "|".join(terms) if terms else "0"
        return f"(({vector})({blended}))"

    def _absorb_run_loads(self, uses: Counter[UOp], absorbed: set[UOp]) -> None:
        """Leave out the scalar loads that only packed arithmetic read (their runs are loaded as vectors), with
        the addresses only they used; a run's vector is addressed by the run's base and validity instead."""
        readers = Counter(source for node in absorbed for source in node.src)
        updates = set(self.tree_update_of.values())
        for update in updates:
            readers.update(update.tree.nodes)  # each lane's ASSIGN reads its value, and so does its REDUCE
            readers.update(source for accumulator in update.accumulators for source in accumulator.arg[1].src)
        for update in updates:
            for loads in update.runs():
                index = loads[0].src[0]
                uses[base_and_offset(index.src[1])[0]] += 1
                uses.update(index.src[2:])
                for load in loads:
                    if uses[load] == readers[load] and load not in absorbed:
                        absorbed.add(load)
                        uses.subtract(load.src[0].src[1:])


_VECTOR_INFIX: Final = {Ops.ADD: "+", Ops.SUB: "-", Ops.MUL: "*"}
