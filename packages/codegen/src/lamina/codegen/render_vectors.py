"""How the C renderer writes vectors: OpenCL's vector loads and stores (vectors.py) and, in C, register tiles
as GCC/clang vector-extension values (tile_vectors.py).

A mixin of `render_c._CKernel`: the renderer provides `ref`, `names`, `counter`, `helpers`, `dialect` and the
runs and packs it found. A pack's statement is written once, by one member (the first load of a run, the
first accumulator, the last product and update: by then every lane's operands exist), and names its lanes.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.codegen.dialects import Dialect
from lamina.codegen.render_consts import render_const
from lamina.codegen.tile_vectors import ProductPack, UpdatePack
from lamina.codegen.vectors import VectorRun
from lamina.uop import UOp


def c_vector_type(element: str, lanes: int) -> tuple[str, str]:
    """The name of C's vector of `lanes` `element`s and its typedef: the vector extension gcc and clang share."""
    name = f"lm_{element}{lanes}"
    return name, f"typedef {element} {name} __attribute__((vector_size({lanes} * sizeof({element}))));"


class VectorWriter:
    """Writes vector loads, stores and register-tile packs."""

    dialect: Dialect
    names: dict[UOp, str]
    counter: int
    helpers: dict[str, str]
    vector_of: dict[UOp, VectorRun]
    vector_writer: set[UOp]
    run_names: dict[VectorRun, str]
    product_of: dict[UOp, ProductPack]
    update_of: dict[UOp, UpdatePack]
    accumulator_of: dict[UOp, UpdatePack]
    pack_writer: set[UOp]
    pack_names: dict[ProductPack | UpdatePack, str]
    ref: Callable[[UOp], str]

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
        """`scalar * run` as one vector product, written by its last lane."""
        pack = self.product_of[uop]
        if uop not in self.pack_writer:
            return ""
        name = self.pack_names[pack] = self._fresh("vmul")
        for lane, member in enumerate(pack.members):
            self.names[member] = f"{name}[{lane}]"
        vector = self._vector_type(pack.run.element, pack.run.lanes)
        return f"{vector} {name} = {self.ref(pack.scalar)}*{self.run_names[pack.run]};"

    def _accumulator_pack(self, uop: UOp) -> str:
        """A pack's accumulators as one vector, declared by its first lane; its REDUCEs read the lanes."""
        pack = self.accumulator_of[uop]
        if uop not in self.pack_writer:
            return ""
        name = self.pack_names[pack] = self._fresh("vacc")
        for lane, accumulator in enumerate(pack.accumulators):
            self.names[accumulator] = self.names[accumulator.arg[1]] = f"{name}[{lane}]"
        run = pack.product.run
        identity = ",".join(render_const(each.src[0].arg, each.scalar_dtype) for each in pack.accumulators)
        return f"{self._vector_type(run.element, run.lanes)} {name} = {{{identity}}};"

    def _update_pack(self, uop: UOp) -> str:
        """`accumulators += product` as one vector update, written by its last lane."""
        pack = self.update_of[uop]
        if uop not in self.pack_writer:
            return ""
        accumulator, product = self.pack_names[pack], self.pack_names[pack.product]
        return f"{accumulator} = {accumulator}+{product};"
