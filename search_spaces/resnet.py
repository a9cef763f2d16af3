"""The ``resnet`` search space: a stem and four stages of residual blocks (He et al., 2016).

A genome picks the stem, the block type, the number of blocks in each of the four stages, the
base width, the grouped-convolution shape of bottleneck blocks (ResNeXt, Xie et al., 2017)
and whether every block ends in squeeze-and-excitation (Hu et al., 2018). The rules are the
lecture's: stage ``i`` (``layer1`` .. ``layer4``) has ``planes = width * 2**i`` channels, its
first block halves the resolution (but stage 1, which follows the stem), and a 1x1 projection
("downsample") joins the shortcut whenever the shape changes.

The network is described with torchvision's module names (``conv1``, ``bn1``,
``layer1.0.conv1`` .. ``bn3``, ``layer1.0.downsample.0/1``, ``fc``), so torchvision's
``state_dict`` loads into a built classic with no key mapping; squeeze-and-excitation lives in
``layerN.M.se`` with the submodules of :class:`torchvision.ops.SqueezeExcitation` (``fc1``,
``fc2``). Like torchvision (ResNet "v1.5") the stride of a bottleneck sits in its 3x3 conv;
the space option ``stride_in="1x1"`` moves it to the first 1x1 conv, as in the paper and the
lecture's FLOP table (ResNet-50: 3.8 GFLOP there, 4.1 with torchvision's placement).

Why the option lists look the way they do. Every classic must be a genome of this space, so the
lists hold the classics' values: 23 and 36 blocks (ResNet-101/152) in stage 3, 8 in stage 2
(ResNet-152), width 64, 32 groups of width 4 (ResNeXt-50 32x4d). But controllers start by
sampling the lists uniformly, and one shared list such as ``(1, 2, 3, 4, 6, 8, 23, 36)`` for
every stage would put 23 or 36 blocks in a quarter of all stages, even where no classic has
them: a mean depth of 42 blocks, children a search at CIFAR scale cannot train in its budget.
So each stage has its own list: the small depths a search explores (1-3, and 4 where a classic
uses it) plus that stage's classic values only, a mean depth of 18. Depth is still the main
cost: the ~30% of samples with 23 or 36 blocks in stage 3 take ~57% of the conformance run.
Width goes from 8 (the 8x8 ``digits`` default) to 64 (the classics). Groups times group width
is capped at 256: a bottleneck's inner width stays at most its output width (``4 * planes``),
as in every torchvision ResNet/ResNeXt/Wide ResNet; beyond that the "bottleneck" widens instead
of narrowing and costs up to 8x more. Those genomes (4 of the 25 group combinations), and width
8 with group width 4 (no channel left per group), are rejected up front with a
:class:`~nas.core.errors.GenomeError`: 16 of 200 samples. Basic blocks have no grouped conv
(torchvision's ``BasicBlock`` accepts only ``groups=1, width_per_group=64``), so they ignore
``groups`` and ``group_width``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.core.errors import GenomeError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, register_space

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

STEMS = ("imagenet", "cifar")  # 7x7/2 conv + 3x3/2 max pool (/4), or a 3x3/1 conv (/1)
BLOCKS = ("basic", "bottleneck")
EXPANSION = {"basic": 1, "bottleneck": 4}  # block output channels per plane (torchvision)
STAGE_DEPTHS = (  # blocks per stage: 1-3 (4) for searching, plus the classics' values
    (1, 2, 3),  # ResNet-18: 2; ResNet-34 .. 152: 3
    (1, 2, 3, 4, 8),  # 18: 2; 34 .. 101: 4; 152: 8
    (1, 2, 3, 4, 6, 23, 36),  # 18: 2; 34, 50: 6; 101: 23; 152: 36
    (1, 2, 3),  # 18: 2; 34 .. 152: 3
)
WIDTHS = (8, 16, 32, 64)  # planes of stage 1 (the stem's output); 64 in every classic
GROUPS = (1, 2, 4, 8, 32)  # ResNeXt cardinality of the bottleneck's 3x3 conv
GROUP_WIDTHS = (4, 8, 16, 32, 64)  # channels per group at width 64 (torchvision's meaning)
MAX_GROUPS_X_GROUP_WIDTH = 256  # inner width <= output width (4 * planes); see the docstring
SE_REDUCTION = 16  # Hu et al.: squeeze C channels to C / 16 ...
SE_MIN_CHANNELS = 8  # ... but to no fewer than 8 (timm's rounding), so narrow blocks keep a gate
STRIDE_IN = ("3x3", "1x1")  # where a bottleneck strides: torchvision v1.5, or the paper


# --- helpers: the pieces of a block --------------------------------------------------------


def stem(nb: NetBuilder, x: T, kind: str, width: int) -> T:
    """The stem: ``conv1``, ``bn1``, ``relu`` (and ``maxpool`` for ImageNet-sized inputs)."""
    if kind == "imagenet":
        x = nb.conv(x, width, 7, 2, 3, bias=False, name="conv1")  # (3, 224, 224) -> (w, 112, 112)
        x = nb.act(nb.bn(x, name="bn1"), name="relu")
        return nb.maxpool(x, 3, 2, 1, name="maxpool")  # -> (w, 56, 56)
    x = nb.conv(x, width, 3, 1, 1, bias=False, name="conv1")  # (3, 32, 32) -> (w, 32, 32)
    return nb.act(nb.bn(x, name="bn1"), name="relu")


def squeeze_excitation(nb: NetBuilder, x: T) -> T:
    """``x * sigmoid(fc2(relu(fc1(avgpool(x)))))``, torchvision's ``SqueezeExcitation``."""
    squeeze = max(SE_MIN_CHANNELS, x.channels // SE_REDUCTION)
    with nb.scope("se"):
        s = nb.global_avgpool(x, name="avgpool")  # (C, 1, 1)
        s = nb.act(nb.conv(s, squeeze, 1, name="fc1"), "relu", name="activation")  # (C/16, 1, 1)
        s = nb.act(nb.conv(s, x.channels, 1, name="fc2"), "sigmoid", name="scale_activation")
        return nb.mul(x, s, name="scale")  # gate broadcast over H, W


def shortcut(nb: NetBuilder, x: T, out_channels: int, stride: int) -> T:
    """The identity, or torchvision's ``downsample`` (1x1 conv + bn) when the shape changes."""
    if stride == 1 and x.channels == out_channels:
        return x
    with nb.scope("downsample"):
        return nb.bn(nb.conv(x, out_channels, 1, stride, bias=False, name="0"), name="1")


# --- blocks ----------------------------------------------------------------------------------


def basic_block(nb: NetBuilder, x: T, planes: int, stride: int, *, se: bool = False) -> T:
    """Two 3x3 convs (18 HWC^2 multiply-adds at stride 1) and a shortcut; out: ``planes``."""
    out = nb.conv(x, planes, 3, stride, 1, bias=False, name="conv1")  # (planes, H/s, W/s)
    out = nb.act(nb.bn(out, name="bn1"), name="relu1")
    out = nb.bn(nb.conv(out, planes, 3, 1, 1, bias=False, name="conv2"), name="bn2")
    if se:
        out = squeeze_excitation(nb, out)
    out = nb.add(out, shortcut(nb, x, planes, stride), name="add")
    return nb.act(out, name="relu2")


def bottleneck(nb: NetBuilder, x: T, planes: int, stride: int, *, groups: int = 1,
               group_width: int = 64, se: bool = False, stride_in: str = "3x3") -> T:
    """1x1 reduce, 3x3 (grouped), 1x1 expand to ``4 * planes`` (17 HWC^2 when C = planes).

    The inner width is torchvision's ``int(planes * group_width / 64) * groups``: ``planes``
    for a ResNet (1 x 64), twice that for ResNeXt 32x4d.
    """
    inner = planes * group_width // 64 * groups
    stride1, stride2 = (1, stride) if stride_in == "3x3" else (stride, 1)
    out = nb.conv(x, inner, 1, stride1, bias=False, name="conv1")  # (inner, H, W)
    out = nb.act(nb.bn(out, name="bn1"), name="relu1")
    out = nb.conv(out, inner, 3, stride2, 1, groups=groups, bias=False, name="conv2")
    out = nb.act(nb.bn(out, name="bn2"), name="relu2")  # (inner, H/s, W/s)
    out = nb.bn(nb.conv(out, planes * EXPANSION["bottleneck"], 1, bias=False, name="conv3"),
                name="bn3")  # (4 planes, H/s, W/s)
    if se:
        out = squeeze_excitation(nb, out)
    out = nb.add(out, shortcut(nb, x, planes * EXPANSION["bottleneck"], stride), name="add")
    return nb.act(out, name="relu3")


# --- the space -------------------------------------------------------------------------------


def _check_groups(genome: Genome, width: int, groups: int, group_width: int) -> None:
    """Reject, before any layer exists, bottlenecks that widen inside or have empty groups."""
    if groups * group_width > MAX_GROUPS_X_GROUP_WIDTH:
        raise GenomeError(
            f"resnet genome {genome.id}: groups x group_width = {groups} x {group_width} "
            f"> {MAX_GROUPS_X_GROUP_WIDTH} would make the bottleneck wider inside than out; "
            f"pick fewer groups or a smaller group_width")
    if width * group_width // 64 == 0:  # layer1's channels per group, torchvision's rounding
        raise GenomeError(
            f"resnet genome {genome.id}: width {width} with group_width {group_width} leaves "
            f"{width} * {group_width} // 64 = 0 channels per group in layer1; pick a larger "
            f"width or group_width")


@register_space
class ResNetSpace(Space):
    """Stem + four stages of basic or bottleneck blocks; see the module docstring."""

    name = "resnet"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.options["stride_in"] not in STRIDE_IN:
            raise GenomeError(f"space 'resnet' option stride_in cannot be "
                              f"{self.options['stride_in']!r}; allowed: "
                              f"{', '.join(map(repr, STRIDE_IN))}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        # "3x3": torchvision's placement of a bottleneck's stride (what its weights expect);
        # "1x1": the paper's, which the lecture's FLOP table counts.
        return {"stride_in": "3x3"}

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        block = str(genome["block"])
        width = int(genome["width"])
        groups, group_width = int(genome["groups"]), int(genome["group_width"])
        se = bool(genome["se"])
        if block == "bottleneck":
            _check_groups(genome, width, groups, group_width)

        x = stem(nb, x, str(genome["stem"]), width)
        for i in range(4):
            planes = width * 2**i
            with nb.scope(f"layer{i + 1}"):
                for j in range(int(genome[f"blocks{i + 1}"])):
                    stride = 2 if i > 0 and j == 0 else 1
                    with nb.scope(str(j)):
                        if block == "basic":
                            x = basic_block(nb, x, planes, stride, se=se)
                        else:
                            x = bottleneck(nb, x, planes, stride, groups=groups,
                                           group_width=group_width, se=se,
                                           stride_in=self.options["stride_in"])
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
    Decision("block", BLOCKS, "basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1 (4x out)"),
    *(Decision(f"blocks{i + 1}", depths, f"residual blocks in stage {i + 1} (layer{i + 1})")
      for i, depths in enumerate(STAGE_DEPTHS)),
    Decision("width", WIDTHS, "channels of stage 1 (planes); doubled by every later stage"),
    Decision("groups", GROUPS, "groups of the bottleneck's 3x3 conv (ResNeXt cardinality)"),
    Decision("group_width", GROUP_WIDTHS,
             "channels per group at width 64 (torchvision's width_per_group); 64 = ResNet"),
    Decision("se", (False, True), "squeeze-and-excitation at the end of every residual branch"),
)
