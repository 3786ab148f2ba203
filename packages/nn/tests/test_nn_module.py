"""Module: parameter discovery, dotted names, state dicts, train/eval and Sequential."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.nn import BatchNorm2d, Dropout, Linear, Module, ReLU, Sequential
from lamina.tensor import Tensor


class Block(Module):
    def __init__(self) -> None:
        self.scale = Tensor.ones(3, requires_grad=True)
        self.inner = Linear(3, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x) * self.scale


class Net(Module):
    def __init__(self) -> None:
        self.layers = [Linear(3, 3), Block()]
        self.heads = {"a": Linear(3, 2, bias=False)}
        self.pair = (Tensor.zeros(2), ReLU())
        self.norm = BatchNorm2d(3)
        self.dropout = Dropout(0.5)
        self.label = "not a tensor"

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.heads["a"](x)


def test_named_parameters_use_dotted_paths_in_attribute_order() -> None:
    names = [name for name, _ in Net().named_parameters()]
    assert names == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.scale",
        "layers.1.inner.weight",
        "layers.1.inner.bias",
        "heads.a.weight",
        "pair.0",
        "norm.weight",
        "norm.bias",
    ]


def test_buffers_are_state_but_not_parameters() -> None:
    net = Net()
    assert [name for name, _ in net.named_buffers()] == [
        "norm.running_mean",
        "norm.running_var",
        "norm.num_batches_tracked",
    ]
    assert all(net.norm.running_mean is not param for param in net.parameters())
    parameter_names = [name for name, _ in net.named_parameters()]
    buffer_names = [name for name, _ in net.named_buffers()]
    assert list(net.state_dict()) == [*parameter_names, *buffer_names]


def test_shared_tensors_are_listed_once() -> None:
    layer = Linear(2, 2)
    model = Sequential(layer, ReLU(), layer)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(model.parameters()) == 2


def test_call_runs_forward() -> None:
    layer = Linear(3, 2)
    x = Tensor(np.ones((1, 3), dtype=np.float32))
    np.testing.assert_allclose(layer(x).numpy(), layer.forward(x).numpy())


def test_forward_must_be_defined() -> None:
    with pytest.raises(NotImplementedError, match="Module"):
        Module()(Tensor.zeros(1))


def test_train_and_eval_reach_every_submodule() -> None:
    net = Net()
    assert net.eval() is net
    assert not any(module.training for module in net.modules())
    net.train()
    assert all(module.training for module in net.modules())


def test_state_dict_round_trip_restores_values_into_the_same_tensors() -> None:
    source, target = Net(), Net()
    weight = target.layers[0].weight if isinstance(target.layers[0], Linear) else None
    target.load_state_dict(source.state_dict())
    for (name, mine), theirs in zip(target.state_dict().items(), source.state_dict().values(), strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=name)
    assert isinstance(target.layers[0], Linear)
    assert target.layers[0].weight is weight


def test_load_state_dict_names_missing_and_unexpected_keys() -> None:
    model = Sequential(Linear(2, 2))
    state = dict(model.state_dict())
    del state["0.bias"]
    state["extra"] = Tensor.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys: 0\.bias.*unexpected keys: extra"):
        model.load_state_dict(state)
    model.load_state_dict(state, strict=False)


def test_load_state_dict_names_shape_mismatches_even_when_not_strict() -> None:
    model = Sequential(Linear(2, 2))
    state = {"0.weight": Tensor.zeros(3, 2), "0.bias": Tensor.zeros(2)}
    with pytest.raises(ValueError, match=r"0\.weight: checkpoint \(3, 2\) vs model \(2, 2\)"):
        model.load_state_dict(state, strict=False)


def test_sequential_indexes_and_iterates_its_layers() -> None:
    first, second = Linear(2, 3), Linear(3, 1)
    model = Sequential(first, ReLU(), second)
    assert len(model) == 3
    assert model[0] is first
    assert model[-1] is second
    assert list(model)[1].__class__ is ReLU
    with pytest.raises(IndexError):
        model[3]
