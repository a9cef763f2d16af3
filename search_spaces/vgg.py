"""The ``vgg`` search space: plain stacks of convolutions and max-pools, VGG and AlexNet alike.

The lecture's VGG design rules are this space's defaults (the first option of ``stem``,
``pool_kernel`` and every per-stage decision):

* all convolutions are 3x3, stride 1, pad 1 (they keep the size, so only pools shrink it);
* all max-pools are 2x2, stride 2 (each halves the size; a map already smaller than the
  window is padded by 1, so that a deep genome on a small image keeps a 1x1 map: at VGG's
  224x224 nothing changes);
* after a pool, the number of channels doubles (up to the ``max_width`` option, 512 as in VGG),
  so every stage costs about the same number of multiply-adds.

A network is a sequence of up to :data:`MAX_STAGES` **stages**; stage ``i`` is
``stage{i}_convs`` conv [-> batch norm] -> ReLU layers of the same width and kernel (convs
keep their bias even before batch norm, as torchvision's ``vgg*_bn`` do), then a
max-pool unless ``stage{i}_pool`` is False (the next stage then works at the same resolution
and, by the rule, the same width). The decisions that generalise the rules are exactly those
AlexNet needs, kept general rather than special-cased:

* ``stem`` replaces the network's first conv by a large strided one (GoogLeNet's "aggressive
  stem": AlexNet's 11x11/4, ResNet's 7x7/2), which saves most of the compute on large images;
* ``stage{i}_kernel`` allows a 5x5 kernel (pad 2, still size-preserving);
* ``stage{i}_widen`` scales the rule's width of one stage (MnasNet-style width ratios);
* ``pool_kernel`` picks VGG's 2x2/2 or AlexNet's overlapping 3x3/2 max-pool.

So VGG-11/13/16/19 (configurations A, B, D, E, with or without batch norm) and torchvision's
AlexNet are all genomes of this space (``search_spaces/classics/alexnet_vgg.py``).

The **head** turns the last feature map into logits: ``flatten`` feeds all C*H*W features to
the fully connected layers as AlexNet and VGG do, ``gap`` global-average-pools first (the
lecture's GoogLeNet remedy: C features at any input size, almost no parameters), which with
small base widths and skipped pools makes the space useful on 32x32 CIFAR or 8x8 digits.
torchvision's AlexNet/VGG put an ``AdaptiveAvgPool2d((6, 6))`` / ``((7, 7))`` before the
classifier; at their 224x224 input it is the identity, so our ``flatten`` head drops it and
flattens the final map directly (C*H*W features at any input size, the lecture's arithmetic).

Module names follow torchvision's ``nn.Sequential`` numbering (``features.N`` counts the
convs, batch norms, ReLUs and pools, ``classifier.N`` the linears, ReLUs and dropouts), so
torchvision's ``state_dict`` loads into a classic built here with no key mapping.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, kaiming_init, register_space

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

MAX_STAGES = 5  # VGG's five stages; per-stage decisions of unused stages are ignored
DROPOUT_P = 0.5  # the classifier dropout of AlexNet and VGG

# stem name -> (kernel, stride, padding) of the network's first conv; "plain" keeps the
# stage's own size-preserving conv (the VGG rule)
STEMS: dict[str, tuple[int, int, int] | None] = {
    "plain": None,
    "7x7/2": (7, 2, 3),  # GoogLeNet / ResNet stem
    "11x11/4": (11, 4, 2),  # AlexNet (torchvision's pad 2: 227 -> 56 and 224 -> 55)
}


def _stage_decisions(i: int) -> tuple[Decision, ...]:
    return (
        Decision(f"stage{i}_convs", (1, 2, 3, 4),
                 f"conv layers in stage {i} (VGG-16: 2, 2, 3, 3, 3; VGG-19: 2, 2, 4, 4, 4)"),
        Decision(f"stage{i}_kernel", (3, 5),
                 f"kernel of stage {i}'s convs, stride 1, pad kernel // 2 (VGG: 3; "
                 f"AlexNet's conv2: 5)"),
        Decision(f"stage{i}_widen", (1.0, 0.5, 1.5),
                 f"stage {i}'s width as a multiple of the rule's width (1.0 = the rule)"),
        Decision(f"stage{i}_pool", (True, False),
                 f"end stage {i} with a stride-2 max-pool (and double the next stage's "
                 f"width); False keeps the resolution"),
    )


DECISIONS: tuple[Decision, ...] = (
    Decision("stem", tuple(STEMS),
             "the first conv: 'plain' is stage 1's own conv; '7x7/2' (pad 3) and "
             "'11x11/4' (pad 2, AlexNet) downsample large images early"),
    Decision("width", (16, 32, 64),
             "channels of stage 1; they double after each pool, up to max_width (VGG: 64)"),
    Decision("bn", (False, True), "batch norm after every conv (vgg*_bn)"),
    Decision("pool_kernel", (2, 3),
             "max-pool window, always stride 2: 2 (VGG) or overlapping 3 (AlexNet)"),
    Decision("stages", tuple(range(1, MAX_STAGES + 1)), "number of stages used"),
    *itertools.chain.from_iterable(_stage_decisions(i) for i in range(1, MAX_STAGES + 1)),
    Decision("head", ("flatten", "gap"),
             "'flatten': all C*H*W features go to the classifier (AlexNet, VGG); "
             "'gap': global average pool to C features first (GoogLeNet, small images)"),
    Decision("fc_layers", (0, 1, 2),
             "hidden fully connected layers before the last one (AlexNet, VGG: 2)"),
    Decision("fc_width", (256, 512, 1024, 4096), "units of each hidden layer (AlexNet, VGG: 4096)"),
    Decision("dropout", ("after", "before", "none"),
             f"p={DROPOUT_P} dropout after each hidden layer's ReLU (VGG), before each hidden "
             f"layer (torchvision's AlexNet), or none"),
)


@register_space
class VggSpace(Space):
    """VGG's rules (3x3 convs, 2x2 pools, channels doubling) with AlexNet's generalisations."""

    name = "vgg"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {
            "max_width": 512,  # the doubling rule stops here (VGG's stages 4 and 5: 512)
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return DECISIONS

    def stage_widths(self, genome: Genome) -> list[int]:
        """Output channels of each used stage: ``min(width * 2**pools_so_far, max_width)``
        times the stage's ``widen`` factor."""
        g = self.validate(genome)
        widths, pools = [], 0
        for i in range(1, int(g["stages"]) + 1):
            rule = min(int(g["width"]) * 2**pools, int(self.options["max_width"]))
            widths.append(max(1, round(rule * float(g[f"stage{i}_widen"]))))
            pools += bool(g[f"stage{i}_pool"])
        return widths

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        x = self._features(genome, nb, x)
        return self._classifier(genome, nb, x, num_classes)

    def _features(self, g: Genome, nb: NetBuilder, x: T) -> T:
        """The conv stages, numbered like torchvision's ``features`` Sequential."""
        stem = STEMS[str(g["stem"])]
        bn, pool_kernel = bool(g["bn"]), int(g["pool_kernel"])
        index = itertools.count()  # features.0, features.1, ... in call order
        with nb.scope("features"):
            for i, width in enumerate(self.stage_widths(g), start=1):
                kernel = int(g[f"stage{i}_kernel"])
                for j in range(int(g[f"stage{i}_convs"])):
                    # (C, H, W) -> (width, H, W): size-preserving, except a strided stem
                    k, s, p = stem if (stem and i == 1 and j == 0) else (kernel, 1, kernel // 2)
                    x = nb.conv(x, width, k, s, p, name=str(next(index)))
                    if bn:
                        x = nb.bn(x, name=str(next(index)))
                    x = nb.act(x, "relu", name=str(next(index)))
                if g[f"stage{i}_pool"]:
                    # (C, H, W) -> (C, floor((H - k) / 2) + 1, ...); a map smaller than the
                    # window is padded by 1 (max pools pad with -inf): it stays 1x1 instead
                    # of vanishing, and a deep genome still builds on a small image
                    pad = 1 if min(x.hw) < pool_kernel else 0
                    x = nb.maxpool(x, pool_kernel, 2, pad, name=str(next(index)))
        return x

    def _classifier(self, g: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        """The head: [global average pool] -> flatten -> hidden FCs -> logits."""
        if g["head"] == "gap":
            x = nb.global_avgpool(x, name="avgpool")  # (C, H, W) -> (C, 1, 1)
        x = nb.flatten(x, name="flatten")  # (C * H * W,)
        dropout, width = str(g["dropout"]), int(g["fc_width"])
        index = itertools.count()  # classifier.0, classifier.1, ...
        with nb.scope("classifier"):
            for _ in range(int(g["fc_layers"])):
                if dropout == "before":
                    x = nb.dropout(x, DROPOUT_P, name=str(next(index)))
                x = nb.linear(x, width, name=str(next(index)))
                x = nb.act(x, "relu", name=str(next(index)))
                if dropout == "after":
                    x = nb.dropout(x, DROPOUT_P, name=str(next(index)))
            return nb.linear(x, num_classes, name=str(next(index)))

    def init_weights(self, module: nn.Module) -> None:
        """torchvision's VGG initialisation: Kaiming-normal (fan-out) convs, unit batch norms,
        N(0, 0.01) linears, zero biases. (torchvision's AlexNet keeps PyTorch's defaults; one
        scheme for the whole space keeps every genome, AlexNet included, comparable.)"""
        kaiming_init(module, conv_mode="fan_out")
