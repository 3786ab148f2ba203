"""lamina.nn: modules with automatic parameter discovery, layers, functional ops, losses, optimizers, state.

`lamina.nn.functional` holds the stateless operations, `lamina.nn.optim` the optimizers and
`lamina.nn.state` safetensors files and state dicts; the layer classes are exported here.
"""

from lamina.nn import functional, optim, state
from lamina.nn.layers import GELU, Conv2d, Dropout, Embedding, Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh
from lamina.nn.module import Module
from lamina.nn.normalization import BatchNorm2d, LayerNorm

__all__ = [
    "GELU",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "LayerNorm",
    "Linear",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "optim",
    "state",
]
