"""The ``convnet`` search space: a plain stack of convolutions, layer by layer, then FC layers.

The lectures' first networks are sequences of ``CONV [-> POOL]`` layers followed by fully
connected layers (LeNet-5's "[CONV-POOL-CONV-POOL-CONV-FC]", ZFNet's eight layers). Every layer
has its own filter count, kernel, stride and padding -- the sizes the lecture's formula
``W' = (W - F + 2P) / S + 1`` is about -- which is also the first space Zoph & Le's controller
searched (each layer's filter count, filter size and stride). There is no design rule here,
unlike ``vgg`` (3x3 convs, doubling widths) or ``resnet``: the layer table *is* the genome.

Decisions, in controller order: ``layers`` (1-5 conv layers), then per layer ``convI_filters``
(lists that grow with depth and hold LeNet-5's and ZFNet's widths), ``convI_kernel`` (3, 5, 7),
``convI_stride`` (1, 2), ``convI_pad`` and ``convI_pool`` (what follows the
layer's activation: nothing, a 2x2/2 max pool, a 3x3/2 overlapping max pool in ceil mode --
Caffe's, which ZFNet's 55 -> 26 -> 13 -> 6 maps need -- or LeNet's 2x2/2 average
"subsampling"); then the ``activation`` of every layer, ``fc_layers`` hidden fully connected
layers of ``fc_width`` units, and the ``dropout`` after each hidden layer. Per-layer decisions of
layers beyond ``layers`` are ignored.

Padding is ``same`` (``P = F // 2``: the conv keeps the size, or halves it rounding up) or
``valid``: no padding, except the least that makes the lecture's formula come out whole --
``(W - F + 2P) / S + 1`` with no input pixel left unread by the stride. At stride 1 that is
``P = 0`` (LeNet-5's 32 -> 28); ZFNet's 7x7/2 conv1 on 224 needs ``P = 1`` (-> 110), its 5x5/2
conv2 on 55 none (-> 26); and on a map smaller than the filter, the padding that makes the
output 1x1. A pool is applied only to a map at least as large as its window (pooling a 1x1
map has nothing to pool). So every genome builds at every input size: a table meant for
224x224 run on 32x32 ends on 1x1 maps instead of failing.

Left out: LeNet-5's trainable subsampling coefficients (12 + 32 parameters), its sparse C3
connection table and its Gaussian output layer (modern implementations and the lectures use
full connections and a linear classifier), and ZFNet's local contrast normalisation.
LeNet-5's scaled tanh is not in our layer vocabulary; the sigmoid is the same squashing
function up to an affine change, ``tanh(a) = 2 sigmoid(2a) - 1``, which the next layer's
weights and bias absorb exactly.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T, dropped_pixels
from nas.core.space import Decision, Space, kaiming_init, register_space

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

MAX_LAYERS = 5
# Filters per layer: LeNet-5 (6, 16, 120), ZFNet (96, 256, 512, 1024, 512) and powers of two.
FILTERS: tuple[tuple[int, ...], ...] = (
    (6, 16, 32, 64, 96),
    (16, 32, 64, 128, 256),
    (32, 64, 120, 256, 512),
    (32, 64, 128, 256, 1024),
    (32, 64, 128, 256, 512),
)
KERNELS = (3, 5, 7)
STRIDES = (1, 2)
PADS = ("valid", "same")  # see the module docstring
POOLS = ("none", "max2", "max3", "avg2")  # after the activation; see the module docstring
ACTIVATIONS = ("relu", "sigmoid")
FC_WIDTHS = (84, 256, 1024, 4096)  # LeNet-5's F6: 84; AlexNet / ZFNet: 4096
DROPOUTS = (0.0, 0.5)  # after each hidden FC layer's activation (ZFNet: 0.5)


def _layer_decisions(i: int) -> tuple[Decision, ...]:
    c = f"conv{i}"
    return (
        Decision(f"{c}_filters", FILTERS[i - 1], f"filters (output channels) of conv layer {i}"),
        Decision(f"{c}_kernel", KERNELS, f"kernel size F of conv layer {i}"),
        Decision(f"{c}_stride", STRIDES, f"stride S of conv layer {i}"),
        Decision(f"{c}_pad", PADS, f"padding of conv layer {i}: valid (none, or the least "
                                   f"the stride needs) or same (F // 2)"),
        Decision(f"{c}_pool", POOLS, f"pooling after conv layer {i}: none, 2x2/2 max, 3x3/2 "
                                     f"max (ceil mode), 2x2/2 average"),
    )


DECISIONS: tuple[Decision, ...] = (
    Decision("layers", tuple(range(1, MAX_LAYERS + 1)), "number of conv layers"),
    *itertools.chain.from_iterable(_layer_decisions(i) for i in range(1, MAX_LAYERS + 1)),
    Decision("activation", ACTIVATIONS, "non-linearity after every conv and hidden FC layer"),
    Decision("fc_layers", (0, 1, 2), "hidden fully connected layers before the classifier"),
    Decision("fc_width", FC_WIDTHS, "units of each hidden fully connected layer"),
    Decision("dropout", DROPOUTS, "dropout after each hidden fully connected layer"),
)


def padding(x: T, kernel: int, stride: int, kind: str) -> int:
    """``same``: ``kernel // 2``; ``valid``: the least P >= 0 for which the filter fits and the
    ``stride`` leaves no input pixel unread (:func:`~nas.core.netgraph.dropped_pixels` is 0)."""
    if kind == "same":
        return kernel // 2
    return next(p for p in range(kernel) if all(
        size + 2 * p >= kernel and not dropped_pixels(size, kernel, stride, p)
        for size in x.hw))


def pool(nb: NetBuilder, x: T, kind: str, name: str) -> T:
    """One of :data:`POOLS`; ``"none"``, or a map smaller than the window, returns ``x``."""
    if kind == "none" or min(x.hw) < int(kind[-1]):
        return x
    if kind == "max2":
        return nb.maxpool(x, 2, 2, name=name)  # (C, H, W) -> (C, H/2, W/2)
    if kind == "max3":
        return nb.maxpool(x, 3, 2, ceil_mode=True, name=name)  # -> (C, ceil((H-3)/2)+1, ..)
    if kind == "avg2":
        return nb.avgpool(x, 2, 2, name=name)
    return x


@register_space
class ConvNetSpace(Space):
    """Conv layers with free sizes, then fully connected layers; see the module docstring."""

    name = "convnet"

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return DECISIONS

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        act = str(genome["activation"])
        for i in range(1, int(genome["layers"]) + 1):
            c = f"conv{i}"
            k, s = int(genome[f"{c}_kernel"]), int(genome[f"{c}_stride"])
            p = padding(x, k, s, str(genome[f"{c}_pad"]))
            # (C, H, W) -> (filters, (H - k + 2p) / s + 1, ...)
            x = nb.conv(x, int(genome[f"{c}_filters"]), k, s, p, name=c)
            x = nb.act(x, act, name=f"act{i}")
            x = pool(nb, x, str(genome[f"{c}_pool"]), name=f"pool{i}")
        x = nb.flatten(x, name="flatten")  # (C * H * W,)
        for j in range(1, int(genome["fc_layers"]) + 1):
            x = nb.act(nb.linear(x, int(genome["fc_width"]), name=f"fc{j}"), act,
                       name=f"fc{j}_act")
            if float(genome["dropout"]):
                x = nb.dropout(x, float(genome["dropout"]), name=f"fc{j}_dropout")
        return nb.linear(x, num_classes, name="classifier")

    def init_weights(self, module: nn.Module) -> None:
        """He-normal (fan-in) convs, zero biases, N(0, 0.01) linears (see ``kaiming_init``)."""

        kaiming_init(module, conv_mode="fan_in")

    def genome_from_layers(self, layers: list[dict[str, Any]], **rest: Any) -> Genome:
        """A validated genome from a layer table: ``[{"filters": 6, "kernel": 5, ...}, ...]``
        (``stride`` 1, ``pad`` "valid" and ``pool`` "none" by default); unused layers are filled
        with each decision's first option."""
        values: dict[str, Any] = {"layers": len(layers)}
        for i in range(1, MAX_LAYERS + 1):
            layer = layers[i - 1] if i <= len(layers) else {}
            values |= {f"conv{i}_filters": layer.get("filters", FILTERS[i - 1][0]),
                       f"conv{i}_kernel": layer.get("kernel", KERNELS[0]),
                       f"conv{i}_stride": layer.get("stride", 1),
                       f"conv{i}_pad": layer.get("pad", "valid"),
                       f"conv{i}_pool": layer.get("pool", "none")}
        return self.genome({**values, **rest})
