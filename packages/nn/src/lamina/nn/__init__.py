"""lamina.nn: modules with automatic parameter discovery, layers, functional ops, losses, optimizers, state.

`lamina.nn.functional` holds the stateless operations, `lamina.nn.optim` the optimizers and
`lamina.nn.state` safetensors files and state dicts; the layer classes are exported here.
"""

from lamina.nn import functional, optim, state
from lamina.nn.activations import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
)
from lamina.nn.layers import Conv2d, Dropout, Embedding, Flatten, Linear, Sequential
from lamina.nn.module import Module
from lamina.nn.normalization import BatchNorm2d, LayerNorm

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "Module",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softshrink",
    "Softsign",
    "Tanh",
    "Tanhshrink",
    "functional",
    "optim",
    "state",
]
