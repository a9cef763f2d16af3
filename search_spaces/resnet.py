"""The ``resnet`` search space: a stem and up to four stages of residual blocks (He et al., 2016).

A genome picks the stem, the block type, the number of blocks in each stage, the base width,
the shortcut, the grouped-convolution shape of bottleneck blocks (ResNeXt, Xie et al., 2017)
and whether every block ends in squeeze-and-excitation (Hu et al., 2018). The rules are the
lecture's: stage ``i`` (``layer1`` .. ``layer4``) has ``planes = width * 2**i`` channels, its
first block halves the resolution (but stage 1, which follows the stem), and the shortcut
changes shape with the block whenever the block changes the shape.

Three block types: ``basic`` (two 3x3 convs), ``bottleneck`` (1x1 reduce, 3x3, 1x1 expand to
``4 * planes``) and ``preact``, the pre-activation basic block (He et al., "Identity mappings
in deep residual networks", 2016: BN-ReLU before each conv, a clean identity path, and one
BN-ReLU after the last stage) that Wide ResNets use (Zagoruyko & Komodakis, 2016). Two
shortcuts where the shape changes (He et al. 2016, section 4.2): ``projection`` (option B, a
1x1 conv + BN, torchvision's ``downsample``) and ``zero_pad`` (option A, the CIFAR ResNets':
the input subsampled by the stride -- a 1x1 max pool, which just picks every other pixel --
and the new channels filled with zeros; no parameters). ``blocks4 = 0`` leaves stage 4 out:
He et al.'s CIFAR ResNet-20 .. 110 are the CIFAR stem and three stages of ``n`` basic blocks
at 16, 32 and 64 channels (``6n + 2`` layers) with option-A shortcuts.

The network is described with torchvision's module names (``conv1``, ``bn1``,
``layer1.0.conv1`` .. ``bn3``, ``layer1.0.downsample.0/1``, ``fc``), so torchvision's
``state_dict`` loads into a built classic with no key mapping; squeeze-and-excitation lives in
``layerN.M.se`` with the submodules of :class:`torchvision.ops.SqueezeExcitation` (``fc1``,
``fc2``). Like torchvision (ResNet "v1.5") the stride of a bottleneck sits in its 3x3 conv;
the space option ``stride_in="1x1"`` moves it to the first 1x1 conv, as in the paper and the
lecture's FLOP table (ResNet-50: 3.8 GFLOP there, 4.1 with torchvision's placement). The space
option ``widen`` multiplies every stage's planes but not the stem (a Wide ResNet's ``k``:
WRN-28-10 is ``width=16, widen=10``, stages of 160, 320 and 640 channels).

The bottleneck's inner width is the decision ``inner``, a fraction of the block's output
(``4 * planes``): 1/4 in a ResNet, 1/2 in ResNeXt-50 32x4d (32 groups of 4 channels at width
64) and in Wide ResNet-50-2. torchvision spells the same thing ``groups`` x
``width_per_group``; as two independent decisions those made 4 of 25 combinations wider inside
than out (up to 8x the cost) and some narrow ones with an empty group, all of which had to be
rejected. With the fraction capped at 1 the inner width never exceeds the output, and
``groups`` is the cardinality *asked for*: a 3x3 conv uses the largest number of groups up to
it that divides its channels (``gcd``; 32 groups on 8 channels are 8 groups of one channel, a
depthwise conv). So every genome builds.

Why the depth lists look the way they do. Every classic must be a genome of this space, so the
lists hold the classics' values: 23 and 36 blocks (ResNet-101/152) in stage 3, 8 in stage 2
(ResNet-152), 3, 5, 7, 9 and 18 in stages 1-3 (CIFAR ResNet-20 .. 110), 4 (WRN-28). But
controllers start by sampling the lists uniformly, and one shared list such as ``(1, 2, 3, 4,
6, 8, 23, 36)`` for every stage would put 23 or 36 blocks in a quarter of all stages, even
where no classic has them. So each stage has its own list: the small depths a search explores
plus that stage's classic values only. Width goes from 8 (the 8x8 ``digits`` default) to 64
(the classics). Basic and pre-activation blocks have no grouped conv (torchvision's
``BasicBlock`` accepts only ``groups=1, width_per_group=64``), so they ignore ``groups`` and
``inner``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from nas.core.errors import GenomeError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, register_space
from search_spaces.blocks import se_gate

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

STEMS = ("imagenet", "cifar")  # 7x7/2 conv + 3x3/2 max pool (/4), or a 3x3/1 conv (/1)
BLOCKS = ("basic", "bottleneck", "preact")
EXPANSION = {"basic": 1, "bottleneck": 4, "preact": 1}  # block output channels per plane
STAGE_DEPTHS = (  # blocks per stage: small depths for searching, plus the classics' values
    (1, 2, 3, 4, 5, 7, 9, 18),  # ResNet-18: 2; 34 .. 152: 3; CIFAR 20 .. 110: 3-18; WRN-28: 4
    (1, 2, 3, 4, 5, 7, 8, 9, 18),  # 18: 2; 34 .. 101: 4; 152: 8; CIFAR: 3-18; WRN: 4
    (1, 2, 3, 4, 5, 6, 7, 9, 18, 23, 36),  # 34, 50: 6; 101: 23; 152: 36; CIFAR: 3-18
    (0, 1, 2, 3),  # 0: no stage 4 (the CIFAR ResNets, WRN-28); 18: 2; 34 .. 152: 3
)
WIDTHS = (8, 16, 32, 64)  # stem channels = planes of stage 1; 64 ImageNet classics, 16 CIFAR
SHORTCUTS = ("projection", "zero_pad")  # He et al. options B and A where the shape changes
GROUPS = (1, 2, 4, 8, 32)  # ResNeXt cardinality of the bottleneck's 3x3 conv (at most)
INNER = (0.25, 0.5, 1.0)  # bottleneck inner width / output width: ResNet 1/4, ResNeXt 1/2
STRIDE_IN = ("3x3", "1x1")  # where a bottleneck strides: torchvision v1.5, or the paper


# --- helpers: the pieces of a block --------------------------------------------------------


def stem(nb: NetBuilder, x: T, kind: str, width: int, norm: bool = True) -> T:
    """The stem: ``conv1``, ``bn1``, ``relu`` (and ``maxpool`` for ImageNet-sized inputs).

    ``norm=False`` (a pre-activation CIFAR network) keeps the bare conv: the first block's
    BN-ReLU follows it.
    """
    if kind == "imagenet":
        x = nb.conv(x, width, 7, 2, 3, bias=False, name="conv1")  # (3, 224, 224) -> (w, 112, 112)
        x = nb.act(nb.bn(x, name="bn1"), name="relu")
        return nb.maxpool(x, 3, 2, 1, name="maxpool")  # -> (w, 56, 56)
    x = nb.conv(x, width, 3, 1, 1, bias=False, name="conv1")  # (3, 32, 32) -> (w, 32, 32)
    return nb.act(nb.bn(x, name="bn1"), name="relu") if norm else x


def shortcut(nb: NetBuilder, x: T, out_channels: int, stride: int, kind: str = "projection",
             norm: bool = True) -> T:
    """The identity, or -- when the shape changes -- torchvision's ``downsample`` (a 1x1 conv
    + BN; no BN when ``norm`` is False, as in pre-activation networks) or option A.

    Option A (``zero_pad``): (C, H, W) -> subsample (C, H/s, W/s) -> concatenated with zeros to
    (C_out, H/s, W/s); C_out must be a multiple of C (it is: stages double the channels).
    """
    if stride == 1 and x.channels == out_channels:
        return x
    with nb.scope("downsample"):
        if kind == "projection":
            y = nb.conv(x, out_channels, 1, stride, bias=False, name="0")
            return nb.bn(y, name="1") if norm else y
        if out_channels % x.channels:
            raise GenomeError(f"a zero-padding shortcut cannot widen {x.channels} channels to "
                              f"{out_channels}; use the projection shortcut")
        if stride > 1:  # every stride-th pixel, as x[:, :, ::s, ::s]
            x = nb.maxpool(x, 1, stride, name="subsample")
        zeros = [nb.zero(x, name=f"zeros{i}") for i in range(out_channels // x.channels - 1)]
        return nb.concat([x, *zeros], name="pad")  # (C_out, H/s, W/s)


# --- blocks ----------------------------------------------------------------------------------


def basic_block(nb: NetBuilder, x: T, planes: int, stride: int, *, se: bool = False,
                shortcut_kind: str = "projection") -> T:
    """Two 3x3 convs (18 HWC^2 multiply-adds at stride 1) and a shortcut; out: ``planes``."""
    out = nb.conv(x, planes, 3, stride, 1, bias=False, name="conv1")  # (planes, H/s, W/s)
    out = nb.act(nb.bn(out, name="bn1"), name="relu1")
    out = nb.bn(nb.conv(out, planes, 3, 1, 1, bias=False, name="conv2"), name="bn2")
    if se:
        out = se_gate(nb, out)
    out = nb.add(out, shortcut(nb, x, planes, stride, shortcut_kind), name="add")
    return nb.act(out, name="relu2")


def preact_block(nb: NetBuilder, x: T, planes: int, stride: int, *, se: bool = False,
                 shortcut_kind: str = "projection") -> T:
    """He et al.'s pre-activation basic block, as Wide ResNets use it (no ReLU after the add).

    BN-ReLU, 3x3 conv (stride), BN-ReLU, 3x3 conv, + shortcut. The identity shortcut reads
    ``x`` itself; a shortcut that changes the shape reads the pre-activated input (a 1x1 conv
    without BN, or option A), as in the WRN code.
    """
    pre = nb.act(nb.bn(x, name="bn1"), name="relu1")
    out = nb.conv(pre, planes, 3, stride, 1, bias=False, name="conv1")  # (planes, H/s, W/s)
    out = nb.act(nb.bn(out, name="bn2"), name="relu2")
    out = nb.conv(out, planes, 3, 1, 1, bias=False, name="conv2")
    if se:
        out = se_gate(nb, out)
    same = stride == 1 and x.channels == planes
    skip = x if same else shortcut(nb, pre, planes, stride, shortcut_kind, norm=False)
    return nb.add(out, skip, name="add")


def bottleneck(nb: NetBuilder, x: T, planes: int, stride: int, *, groups: int = 1,
               inner: float = 0.25, se: bool = False, stride_in: str = "3x3",
               shortcut_kind: str = "projection") -> T:
    """1x1 reduce, 3x3 (grouped), 1x1 expand to ``4 * planes`` (17 HWC^2 when C = planes).

    The inner width is ``inner * 4 * planes``: ``planes`` for a ResNet (1/4), twice that for
    ResNeXt 32x4d and Wide ResNet-50-2 (1/2) -- torchvision's ``int(planes * width_per_group
    / 64) * groups``. The 3x3 conv has ``gcd(groups, inner width)`` groups (see the module).
    """
    out_channels = planes * EXPANSION["bottleneck"]
    width = max(1, round(out_channels * inner))
    groups = math.gcd(groups, width)
    stride1, stride2 = (1, stride) if stride_in == "3x3" else (stride, 1)
    out = nb.conv(x, width, 1, stride1, bias=False, name="conv1")  # (width, H, W)
    out = nb.act(nb.bn(out, name="bn1"), name="relu1")
    out = nb.conv(out, width, 3, stride2, 1, groups=groups, bias=False, name="conv2")
    out = nb.act(nb.bn(out, name="bn2"), name="relu2")  # (width, H/s, W/s)
    out = nb.bn(nb.conv(out, out_channels, 1, bias=False, name="conv3"),
                name="bn3")  # (4 planes, H/s, W/s)
    if se:
        out = se_gate(nb, out)
    out = nb.add(out, shortcut(nb, x, out_channels, stride, shortcut_kind), name="add")
    return nb.act(out, name="relu3")


# --- the space -------------------------------------------------------------------------------


@register_space
class ResNetSpace(Space):
    """Stem + up to four stages of basic, bottleneck or pre-activation blocks; see the module."""

    name = "resnet"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["stride_in"] not in STRIDE_IN:
            raise GenomeError(f"space 'resnet' option stride_in cannot be "
                              f"{self.options['stride_in']!r}; allowed: "
                              f"{', '.join(map(repr, STRIDE_IN))}")
        widen = self.options["widen"]
        if not isinstance(widen, int) or isinstance(widen, bool) or widen < 1:
            raise GenomeError(f"space 'resnet' option widen must be an integer >= 1, "
                              f"got {widen!r}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {
            # "3x3": torchvision's placement of a bottleneck's stride (what its weights
            # expect); "1x1": the paper's, which the lecture's FLOP table counts.
            "stride_in": "3x3",
            "widen": 1,  # a Wide ResNet's k: stage planes x k (the stem keeps `width`)
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        block = str(genome["block"])
        width = int(genome["width"])
        se, kind = bool(genome["se"]), str(genome["shortcut"])
        widen = int(self.options["widen"])

        x = stem(nb, x, str(genome["stem"]), width,
                 norm=not (block == "preact" and genome["stem"] == "cifar"))
        for i in range(4):
            planes = width * 2**i * widen
            with nb.scope(f"layer{i + 1}"):
                for j in range(int(genome[f"blocks{i + 1}"])):
                    stride = 2 if i > 0 and j == 0 else 1
                    with nb.scope(str(j)):
                        if block == "basic":
                            x = basic_block(nb, x, planes, stride, se=se, shortcut_kind=kind)
                        elif block == "preact":
                            x = preact_block(nb, x, planes, stride, se=se, shortcut_kind=kind)
                        else:
                            x = bottleneck(nb, x, planes, stride, groups=int(genome["groups"]),
                                           inner=float(genome["inner"]), se=se,
                                           stride_in=self.options["stride_in"],
                                           shortcut_kind=kind)
        if block == "preact":  # the last block's output has not been normalised yet
            x = nb.act(nb.bn(x, name="bn_final"), name="relu_final")
        x = nb.flatten(nb.global_avgpool(x, name="avgpool"), name="flatten")  # (C,)
        return nb.linear(x, num_classes, name="fc")

    def init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet init: He normal (fan out) convs, BN at identity, fc default."""
        from torch import nn  # here, where a module exists: importing torch costs seconds

        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


_DECISIONS = (
    Decision("stem", STEMS, "imagenet: 7x7/2 conv + 3x3/2 max pool; cifar: one 3x3/1 conv"),
    Decision("block", BLOCKS, "basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1 (4x out); "
                              "preact: BN-ReLU before each of two 3x3 convs (Wide ResNet)"),
    *(Decision(f"blocks{i + 1}", depths, f"residual blocks in stage {i + 1} (layer{i + 1})"
                                         + ("; 0 leaves the stage out" if 0 in depths else ""))
      for i, depths in enumerate(STAGE_DEPTHS)),
    Decision("width", WIDTHS, "channels of stage 1 (planes); doubled by every later stage"),
    Decision("shortcut", SHORTCUTS, "where a block changes the shape: projection (1x1 conv, "
                                    "option B) or zero_pad (subsample + zero channels, A)"),
    Decision("groups", GROUPS, "groups of the bottleneck's 3x3 conv (ResNeXt cardinality; "
                               "at most one per channel)"),
    Decision("inner", INNER, "bottleneck inner width / its output width (ResNet 0.25, "
                             "ResNeXt 32x4d and Wide ResNet-50-2 0.5)"),
    Decision("se", (False, True), "squeeze-and-excitation at the end of every residual branch"),
)
