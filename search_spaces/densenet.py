"""The ``densenet`` search space: dense connectivity (Huang et al., "Densely Connected
Convolutional Networks", CVPR 2017; the lectures' DenseNet).

Inside a dense block every layer reads the concatenation of the block's input and of all the
earlier layers' outputs, and adds ``k`` new channels (the *growth rate*): a block of ``L``
layers on ``C`` channels outputs ``C + L k``. Features are reused rather than re-learned, so
layers can be narrow. A layer is BN-ReLU-conv3x3(k), or with the *bottleneck* ("DenseNet-B")
BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k). Between blocks a *transition* (BN-ReLU-conv1x1-2x2
average pool) halves the resolution and, with *compression* ``theta`` ("DenseNet-C"),
multiplies the channels by ``theta``. After the last block: BN-ReLU, global average pooling and
one linear layer.

Searched, in controller order: the ``stem`` (``imagenet``: 7x7/2 conv, BN-ReLU, 3x3/2 max pool,
/4; ``cifar``: one 3x3 conv), the ``growth`` rate ``k`` (the stem has ``2k`` channels, as in
every published DenseNet-BC), ``block1`` .. ``block4`` (layers per block; ``block4 = 0`` leaves
the fourth block and its transition out, the CIFAR networks' three blocks), ``bottleneck``
and ``compression``. The lists hold the published networks' values -- DenseNet-121/169/201
(k = 32, blocks 6-12-24/32/48-16/32/32), DenseNet-161 (k = 48, 6-12-36-24) and the CIFAR
DenseNet-BC (k = 12, 3 x 16) -- plus small depths to search.

Module names are torchvision's (``features.conv0``, ``features.denseblock1.denselayer1.norm1``
.. ``conv2``, ``features.transition1.norm/conv/pool``, ``features.norm5``, ``classifier``), so
torchvision's DenseNet weights load by key (:mod:`search_spaces.classics.densenets`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, register_space

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

STEMS = ("imagenet", "cifar")
GROWTH = (12, 16, 24, 32, 48)  # k: 12 CIFAR DenseNet-BC, 32 DenseNet-121/169/201, 48 161
BLOCK_SIZES: tuple[tuple[int, ...], ...] = (  # layers per dense block
    (1, 2, 4, 6, 16),  # 121 .. 201: 6; CIFAR BC-100: 16
    (1, 2, 4, 12, 16),  # 12; 16
    (1, 2, 4, 16, 24, 32, 36, 48),  # 121: 24, 169: 32, 201: 48, 161: 36; BC-100: 16
    (0, 1, 2, 4, 16, 24, 32),  # 121: 16, 169/201: 32, 161: 24; 0: three blocks (CIFAR)
)
BN_SIZE = 4  # the bottleneck's 1x1 conv has BN_SIZE * k channels (Huang et al.; torchvision)
COMPRESSIONS = (0.5, 1.0)  # theta: a transition keeps floor(theta * C) channels


# --- layers, blocks, transitions -------------------------------------------------------------


def dense_layer(nb: NetBuilder, x: T, growth: int, bottleneck: bool) -> T:
    """(C, H, W) -> (k, H, W): [BN-ReLU-conv1x1(4k)] BN-ReLU-conv3x3(k), torchvision's names."""
    if bottleneck:
        x = nb.act(nb.bn(x, name="norm1"), name="relu1")
        x = nb.conv(x, BN_SIZE * growth, 1, bias=False, name="conv1")  # (4k, H, W)
        x = nb.act(nb.bn(x, name="norm2"), name="relu2")
        return nb.conv(x, growth, 3, 1, 1, bias=False, name="conv2")
    x = nb.act(nb.bn(x, name="norm1"), name="relu1")
    return nb.conv(x, growth, 3, 1, 1, bias=False, name="conv1")


def dense_block(nb: NetBuilder, x: T, layers: int, growth: int, bottleneck: bool) -> T:
    """``layers`` dense layers; each reads everything before it. (C, H, W) -> (C + L k, H, W)."""
    features = [x]
    for j in range(1, layers + 1):
        with nb.scope(f"denselayer{j}"):
            inputs = nb.concat(features, name="cat")  # (C + (j - 1) k, H, W)
            features.append(dense_layer(nb, inputs, growth, bottleneck))
    return nb.concat(features, name="cat")


def transition(nb: NetBuilder, x: T, compression: float) -> T:
    """BN-ReLU-conv1x1-avgpool2x2: (C, H, W) -> (floor(theta C), H / 2, W / 2)."""
    x = nb.act(nb.bn(x, name="norm"), name="relu")
    x = nb.conv(x, int(x.channels * compression), 1, bias=False, name="conv")
    return nb.avgpool(x, 2, 2, name="pool")


# --- the space -------------------------------------------------------------------------------


@register_space
class DenseNetSpace(Space):
    """Stem, three or four dense blocks with transitions, BN-ReLU, pool, linear."""

    name = "densenet"

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        growth = int(genome["growth"])
        bottleneck, compression = bool(genome["bottleneck"]), float(genome["compression"])
        blocks = [int(genome[f"block{i}"]) for i in range(1, 5)]
        blocks = [b for b in blocks if b]  # block4 = 0: three blocks
        with nb.scope("features"):
            if genome["stem"] == "imagenet":  # (3, 224, 224) -> (2k, 56, 56)
                x = nb.conv(x, 2 * growth, 7, 2, 3, bias=False, name="conv0")
                x = nb.act(nb.bn(x, name="norm0"), name="relu0")
                x = nb.maxpool(x, 3, 2, 1, name="pool0")
            else:  # (3, 32, 32) -> (2k, 32, 32); the first layer's BN-ReLU follows
                x = nb.conv(x, 2 * growth, 3, 1, 1, bias=False, name="conv0")
            for i, layers in enumerate(blocks, start=1):
                with nb.scope(f"denseblock{i}"):
                    x = dense_block(nb, x, layers, growth, bottleneck)
                if i < len(blocks):
                    with nb.scope(f"transition{i}"):
                        x = transition(nb, x, compression)
            x = nb.bn(x, name="norm5")
        x = nb.act(x, name="relu")  # torchvision: F.relu in forward
        x = nb.flatten(nb.global_avgpool(x, name="avgpool"), name="flatten")  # (C,)
        return nb.linear(x, num_classes, name="classifier")

    def init_weights(self, module: nn.Module) -> None:
        """torchvision's DenseNet init: He normal (fan in) convs, BN at the identity, zero
        linear biases (the linear weights keep PyTorch's default)."""
        from torch import nn  # here, where a module exists: importing torch costs seconds

        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)


_DECISIONS = (
    Decision("stem", STEMS, "imagenet: 7x7/2 conv + BN-ReLU + 3x3/2 max pool; cifar: 3x3 conv"),
    Decision("growth", GROWTH, "growth rate k: channels each dense layer adds (stem: 2k)"),
    *(Decision(f"block{i}", sizes, f"dense layers in block {i}"
               + ("; 0 leaves the block out" if 0 in sizes else ""))
      for i, sizes in enumerate(BLOCK_SIZES, start=1)),
    Decision("bottleneck", (True, False), "a 1x1 conv to 4k channels before each 3x3 (-B)"),
    Decision("compression", COMPRESSIONS, "channels a transition keeps (-C: 0.5)"),
)
