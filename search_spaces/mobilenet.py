"""The ``mobilenet`` space: the lectures' efficient networks -- MobileNet v1, MobileNetV2,
MobileNetV3, EfficientNet and ShuffleNetV2 -- as one family of stages of depthwise blocks.

A network is a stem convolution (3x3, stride 2; optionally followed by a 3x3/2 max pool, as in
ShuffleNet), up to seven stages of blocks, an optional 1x1 head convolution, global average
pooling, an optional hidden linear layer and a dropout + linear classifier. A stage is
``depth`` blocks of one kind; the first block of a stage may halve the resolution. Three block
kinds, looked up by name in :data:`BLOCK_BUILDERS`:

* ``depthwise_separable`` (MobileNet v1): a kxk depthwise conv-BN-act (``groups = C``: one
  filter per channel) then a 1x1 pointwise conv-BN-act that mixes channels. The lecture's cost
  rule: the depthwise conv has ``C*k*k`` parameters and ``H'W'C*k*k`` multiply-adds, so the
  pair costs ``1/C_out + 1/k^2`` of a standard kxk convolution.
* ``inverted_residual`` (MobileNetV2; MobileNetV3's and EfficientNet's MBConv): a 1x1
  expansion to ``t * C_in`` channels (left out when ``t == 1``), a kxk depthwise conv, an
  optional squeeze-and-excitation on the expanded channels, then a 1x1 *linear* projection
  (BN, no activation), with an identity shortcut when the stride is 1 and the channel count is
  unchanged.
* ``shuffle`` (ShuffleNetV2, Ma et al. 2018, the lectures' "ShuffleNet"): the input's channels
  split in halves, one half kept, the other through 1x1 conv, kxk depthwise conv, 1x1 conv
  (a stride, or a new width, sends all of the input through two such branches instead), the
  halves concatenated and *shuffled* -- channels interleaved across the two groups -- so that
  information crosses between the halves from one unit to the next. The depthwise convs are
  its grouped convolutions; no expansion.

The searched decisions, in the order a controller emits them: ``stem_width``, ``stem_pool``,
``activation`` (of the stem and the head), then per stage ``stageI_kind``, ``stageI_depth``
(0 skips the stage), ``stageI_width``, ``stageI_stride``, ``stageI_kernel`` (3/5/7),
``stageI_expand`` (the expansion ratio ``t`` of its blocks; ignored by depthwise-separable blocks),
``stageI_expand_first`` (``t`` of its first block, which changes the width), ``stageI_se``
(squeeze-and-excitation: ``none``, ``mobilenet_v3``'s -- squeeze to a quarter of the expanded
channels, ReLU, hard sigmoid -- or ``efficientnet``'s -- squeeze to a quarter of the block's
input, SiLU, sigmoid) and ``stageI_act`` (ReLU for v1, ReLU6 for V2, hard-swish or ReLU per
stage for V3, SiLU for EfficientNet), and finally ``head_width`` (0: no head conv) and
``head_fc`` (0, or MobileNetV3's hidden linear layer of 1280 units with the head activation).
Widths are chosen per stage from lists that grow with depth and contain the classics' widths
(:data:`STAGE_WIDTHS`).

Module names are a space option, ``layout``, because torchvision names the same pieces three
ways: ``mobilenet_v2`` (``features.N.conv.I``, the projection as separate ``conv``/``bn``
entries), ``mobilenet_v3`` (``features.N.block.I``, the projection one ``Conv2dNormActivation``),
``efficientnet`` (``features.S.B.block.I``: one ``features`` entry per stage) and
``shufflenet_v2`` (``conv1``, ``stage2.B.branch2.I`` .., ``conv5``, ``fc``). Whichever
the layout, the network is the same; with the classic's layout torchvision's ``state_dict``
loads with no key mapping. The batch norms' ``bn_eps`` and ``bn_momentum`` are space options too
(MobileNetV3 uses 0.001 and 0.01). Weights are initialised as torchvision initialises them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.core.errors import GenomeError
from nas.core.genome import Genome, Value
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, kaiming_init, register_space
from search_spaces.blocks import conv_bn_act as _conv_bn_act
from search_spaces.blocks import make_divisible, squeeze_excitation

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

# --- the vocabulary --------------------------------------------------------------------------

BLOCKS = ("depthwise_separable", "inverted_residual", "shuffle")  # v1, V2 / MBConv, ShuffleNetV2
ACTIVATIONS = ("relu", "relu6", "hardswish", "silu")  # v1, V2, V3 (with ReLU), EfficientNet
KERNELS = (3, 5, 7)  # depthwise kernel size (padding k // 2 keeps the resolution)
# Inverted-residual expansion ratio t: V2 uses 1 and 6; MobileNetV3-Large's expanded widths
# are 1, 3, 4 and 6 times the block input, and 200 and 184 on 80 channels (2.5 and 2.3).
EXPANSIONS = (1, 2.3, 2.5, 3, 4, 6)
DEPTHS = (0, 1, 2, 3, 4)  # blocks per stage (MnasNet's 1-4); 0 leaves the stage out
STRIDES = (1, 2)  # stride of a stage's first block
SE_KINDS = ("none", "mobilenet_v3", "efficientnet")  # see the module docstring
STEM_WIDTHS = (16, 24, 32)  # 32: V2 and EfficientNet; V3: 16; ShuffleNetV2: 24
HEAD_WIDTHS = (0, 640, 960, 1024, 1280)  # 1x1 conv before pooling: none (v1), 960 (V3), 1280
HEAD_FCS = (0, 1280)  # hidden linear layer after pooling: none, or MobileNetV3's 1280
LAYOUTS = ("mobilenet_v2", "mobilenet_v3", "efficientnet", "shufflenet_v2")  # torchvision's

# Per stage: MobileNetV2's width c at its published width multipliers 0.35, 0.5, 0.75 and 1
# (rounded to multiples of 8 as torchvision rounds them; repeats dropped), MobileNet v1's width
# where v1 uses that stage (stages 1-3 and 5-7), MobileNetV3-Large's (16, 24, 40, 80, 80, 112,
# 160), EfficientNet-B0's (16, 24, 40, 80, 112, 192, 320) and ShuffleNetV2 x1.0's (116, 232,
# 232, 464 in stages 4-7). The narrow options keep sampled
# networks cheap; widths grow with depth, the lectures' "more channels as the resolution drops".
STAGE_WIDTHS: tuple[tuple[int, ...], ...] = (
    (8, 16, 64),  # stage 1: V2, V3, B0 16; v1 64
    (8, 16, 24, 128),  # stage 2: V2, V3, B0 24; v1 128
    (16, 24, 32, 40, 256),  # stage 3: V2 32, V3 and B0 40, v1 256
    (24, 32, 48, 64, 80, 116),  # stage 4: V2 64, V3 and B0 80, ShuffleNetV2 116
    (32, 48, 72, 80, 96, 112, 232, 512),  # stage 5: V2 96, V3 80, B0 112, S 232, v1 512
    (56, 80, 112, 120, 160, 192, 232, 512),  # stage 6: V2 160, V3 112, B0 192, S 232, v1 512
    (112, 160, 240, 320, 464, 1024),  # stage 7: V2 320, V3 160, B0 320, S 464, v1 1024
)
NUM_STAGES = len(STAGE_WIDTHS)


@dataclass(frozen=True)
class Stage:
    """One stage's decisions, read from (or written into) a genome."""

    kind: str  # a name in BLOCKS
    depth: int  # number of blocks; 0 = stage left out
    width: int  # output channels of every block
    stride: int  # stride of the first block (the others use 1)
    kernel: int = 3  # depthwise kernel size
    expand: float = 1  # expansion ratio t (inverted residual only)
    expand_first: float | None = None  # t of the first block (None: expand)
    se: str = "none"  # a name in SE_KINDS
    act: str | None = None  # a name in ACTIVATIONS (None: the network's activation)


@dataclass(frozen=True)
class Layout:
    """How the network's pieces are named and normalised (space options, not architecture)."""

    names: str = "mobilenet_v2"  # a name in LAYOUTS
    eps: float = 1e-5  # batch-norm epsilon
    momentum: float = 0.1  # batch-norm momentum

    @property
    def container(self) -> str:
        """The block's sequence: ``conv`` (V2) or ``block`` (V3, EfficientNet)."""
        return "conv" if self.names == "mobilenet_v2" else "block"


@dataclass(frozen=True)
class BlockSpec:
    """What one block is asked to be: its output, stride, kernel, expansion, SE and act."""

    out: int  # output channels
    stride: int
    kernel: int
    expand: float
    se: str
    act: str


# --- layers and blocks -----------------------------------------------------------------------


def conv_bn_act(nb: NetBuilder, x: T, out_channels: int, kernel: int, stride: int = 1, *,
                groups: int = 1, act: str | None, name: str, layout: Layout = Layout()) -> T:
    """torchvision's ``Conv2dNormActivation``: ``name.0`` conv, ``.1`` bn, ``.2`` act."""
    return _conv_bn_act(nb, x, out_channels, kernel, stride, groups=groups, act=act, name=name,
                        eps=layout.eps, momentum=layout.momentum)


def depthwise_separable(nb: NetBuilder, x: T, spec: BlockSpec, layout: Layout) -> T:
    """MobileNet v1's block: kxk depthwise conv-BN-act, then 1x1 pointwise conv-BN-act.

    (C, H, W) -> (C, H/s, W/s) -> (C_out, H/s, W/s). ``expand`` is not used: the block has no
    expansion. Layers ``conv.0`` (depthwise) and ``conv.1`` (pointwise), in the V2 naming style
    (squeeze-and-excitation, when asked for, between them).
    """
    with nb.scope(layout.container):
        y = conv_bn_act(nb, x, x.channels, spec.kernel, spec.stride, groups=x.channels,
                        act=spec.act, name="0", layout=layout)
        index = 1
        if spec.se != "none":
            y = _se(nb, y, x.channels, spec.se, str(index))
            index += 1
        return conv_bn_act(nb, y, spec.out, 1, act=spec.act, name=str(index), layout=layout)


def inverted_residual(nb: NetBuilder, x: T, spec: BlockSpec, layout: Layout) -> T:
    """MobileNetV2's block (MBConv), named exactly as torchvision's blocks.

    (C, H, W) -> 1x1 expand (tC, H, W) -> kxk depthwise (tC, H/s, W/s) [-> SE] -> 1x1 linear
    project (C_out, H/s, W/s) [+ x when s == 1 and C_out == C]. With ``t == 1`` there is no
    expansion conv, so the depthwise conv is entry 0, as in torchvision. The projection is
    linear because a ReLU on the narrow bottleneck destroys information (Sandler et al. 2018,
    section 3.2).
    """
    hidden = max(1, round(x.channels * spec.expand))
    with nb.scope(layout.container):
        y, i = x, 0
        if spec.expand != 1:
            y = conv_bn_act(nb, y, hidden, 1, act=spec.act, name="0", layout=layout)
            i = 1
        y = conv_bn_act(nb, y, hidden, spec.kernel, spec.stride, groups=hidden, act=spec.act,
                        name=str(i), layout=layout)
        i += 1
        if spec.se != "none":
            y = _se(nb, y, x.channels, spec.se, str(i))
            i += 1
        if layout.names == "mobilenet_v2":  # nn.Conv2d and nn.BatchNorm2d as two entries
            y = nb.conv(y, spec.out, 1, bias=False, name=str(i))
            y = nb.bn(y, eps=layout.eps, momentum=layout.momentum, name=str(i + 1))
        else:  # one Conv2dNormActivation without activation
            y = conv_bn_act(nb, y, spec.out, 1, act=None, name=str(i), layout=layout)
    if spec.stride == 1 and spec.out == x.channels:
        y = nb.add(x, y, name="add")
    return y


def _se(nb: NetBuilder, x: T, block_in: int, kind: str, name: str) -> T:
    """Squeeze-and-excitation on the expanded map ``x`` (``block_in``: the block's input)."""
    if kind == "mobilenet_v3":  # torchvision: _make_divisible(expanded // 4, 8), hard sigmoid
        return squeeze_excitation(nb, x, make_divisible(x.channels // 4, 8), act="relu",
                                  gate="hardsigmoid", name=name)
    # EfficientNet: max(1, block input // 4), SiLU, sigmoid
    return squeeze_excitation(nb, x, max(1, block_in // 4), act="silu", gate="sigmoid",
                              name=name)


def shuffle_unit(nb: NetBuilder, x: T, spec: BlockSpec, layout: Layout) -> T:
    """ShuffleNetV2's unit (Ma et al. 2018, Fig. 3c/d), named as torchvision's
    ``InvertedResidual``: ``branch1`` and ``branch2`` (``nn.Sequential`` indices).

    Stride 1 and the width kept: the channels are split in halves (a slice each); one half
    passes through, the other goes through 1x1 conv-BN-act, kxk depthwise conv-BN, 1x1
    conv-BN-act (``branch2``), and the halves are concatenated. Otherwise (a stride, or a new
    width) both branches read all of ``x``: ``branch1`` is kxk depthwise conv-BN, 1x1
    conv-BN-act. Then a channel shuffle with 2 groups mixes the halves for the next unit.
    (C, H, W) -> (2 (C_out // 2), H/s, W/s). ``expand`` is not used; SE, when asked for, gates
    ``branch2``'s output.
    """
    half, k, s, act = spec.out // 2, spec.kernel, spec.stride, spec.act
    eps, momentum = layout.eps, layout.momentum
    split = s == 1 and x.channels == 2 * half
    if split:
        keep = nb.slice_channels(x, 0, half, name="split0")  # (C/2, H, W)
        y = nb.slice_channels(x, half, x.channels, name="split1")
    else:
        with nb.scope("branch1"):
            keep = nb.conv(x, x.channels, k, s, k // 2, groups=x.channels, bias=False, name="0")
            keep = nb.bn(keep, eps=eps, momentum=momentum, name="1")
            keep = nb.conv(keep, half, 1, bias=False, name="2")
            keep = nb.act(nb.bn(keep, eps=eps, momentum=momentum, name="3"), act, name="4")
        y = x
    with nb.scope("branch2"):
        y = nb.conv(y, half, 1, bias=False, name="0")
        y = nb.act(nb.bn(y, eps=eps, momentum=momentum, name="1"), act, name="2")
        y = nb.conv(y, half, k, s, k // 2, groups=half, bias=False, name="3")  # depthwise
        y = nb.bn(y, eps=eps, momentum=momentum, name="4")
        y = nb.conv(y, half, 1, bias=False, name="5")
        y = nb.act(nb.bn(y, eps=eps, momentum=momentum, name="6"), act, name="7")
        if spec.se != "none":
            y = _se(nb, y, half, spec.se, "se")
    return nb.shuffle(nb.concat([keep, y], name="concat"), 2, name="shuffle")


BlockBuilder = Callable[[NetBuilder, T, BlockSpec, Layout], T]
BLOCK_BUILDERS: dict[str, BlockBuilder] = {
    "depthwise_separable": depthwise_separable,
    "inverted_residual": inverted_residual,
    "shuffle": shuffle_unit,
}


# --- the space -------------------------------------------------------------------------------


def _stage_decisions(i: int) -> tuple[Decision, ...]:
    s = f"stage{i + 1}"
    return (
        Decision(f"{s}_kind", BLOCKS, f"{s}: block kind (v1 separable or inverted residual)"),
        Decision(f"{s}_depth", DEPTHS, f"{s}: number of blocks (0 leaves the stage out)"),
        Decision(f"{s}_width", STAGE_WIDTHS[i], f"{s}: output channels of its blocks"),
        Decision(f"{s}_stride", STRIDES, f"{s}: stride of its first block"),
        Decision(f"{s}_kernel", KERNELS, f"{s}: depthwise kernel size"),
        Decision(f"{s}_expand", EXPANSIONS,
                 f"{s}: expansion ratio t (inverted residual only)"),
        Decision(f"{s}_expand_first", EXPANSIONS, f"{s}: expansion ratio of its first block"),
        Decision(f"{s}_se", SE_KINDS, f"{s}: squeeze-and-excitation in its blocks"),
        Decision(f"{s}_act", ACTIVATIONS, f"{s}: non-linearity of its blocks"),
    )


_DECISIONS: tuple[Decision, ...] = (
    Decision("stem_width", STEM_WIDTHS, "channels of the 3x3 stride-2 stem conv"),
    Decision("stem_pool", (False, True), "a 3x3/2 max pool after the stem conv (ShuffleNet)"),
    Decision("activation", ACTIVATIONS, "non-linearity of the stem and the head"),
    *(d for i in range(NUM_STAGES) for d in _stage_decisions(i)),
    Decision("head_width", HEAD_WIDTHS, "channels of the 1x1 head conv (0: no head conv)"),
    Decision("head_fc", HEAD_FCS, "units of a hidden linear layer after pooling (0: none)"),
)


@register_space
class MobileNetSpace(Space):
    """Stem, up to seven stages of separable / inverted-residual blocks, head; see the module.

    Options: ``dropout`` -- the probability of the dropout before the classifier (torchvision's
    0.2 by default); ``layout`` -- whose module names (:data:`LAYOUTS`); ``bn_eps`` and
    ``bn_momentum`` -- the batch norms' settings. None is a searched decision.
    """

    name = "mobilenet"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        p = self.options["dropout"]
        if not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise GenomeError(f"space 'mobilenet' option dropout must be a number in [0, 1), "
                              f"got {p!r}")
        if self.options["layout"] not in LAYOUTS:
            raise GenomeError(f"space 'mobilenet' option layout cannot be "
                              f"{self.options['layout']!r}; allowed: {', '.join(LAYOUTS)}")
        self.layout = Layout(self.options["layout"], float(self.options["bn_eps"]),
                             float(self.options["bn_momentum"]))

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {
            "dropout": 0.2,  # before the classifier (torchvision's V2, V3 and B0: 0.2)
            "layout": "mobilenet_v2",  # module names: see LAYOUTS
            "bn_eps": 1e-5,  # PyTorch's default; MobileNetV3: 0.001
            "bn_momentum": 0.1,  # PyTorch's default; MobileNetV3: 0.01
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return _DECISIONS

    # --- genome <-> stages ---------------------------------------------------------------

    @staticmethod
    def stages(genome: Genome) -> list[Stage]:
        """The genome's seven stages (including left-out ones, with depth 0)."""

        def get(i: int, what: str) -> Any:
            return genome[f"stage{i + 1}_{what}"]

        return [Stage(get(i, "kind"), get(i, "depth"), get(i, "width"), get(i, "stride"),
                      get(i, "kernel"), get(i, "expand"), get(i, "expand_first"),
                      get(i, "se"), get(i, "act")) for i in range(NUM_STAGES)]

    def genome_from_stages(self, stem_width: int, stages: Sequence[Stage | None],
                           head_width: int, activation: str, head_fc: int = 0,
                           stem_pool: bool = False) -> Genome:
        """A validated genome from a stage table (how the classics are written down).

        ``stages`` lists at most seven entries; a missing entry or ``None`` leaves that stage
        out (depth 0, every other decision at its first option). A stage's ``act`` defaults to
        ``activation`` and its ``expand_first`` to its ``expand``.
        """
        if len(stages) > NUM_STAGES:
            raise GenomeError(f"mobilenet has at most {NUM_STAGES} stages, got {len(stages)}")
        values: dict[str, Value] = {"stem_width": stem_width, "stem_pool": stem_pool,
                                    "activation": activation}
        for i in range(NUM_STAGES):
            stage = stages[i] if i < len(stages) else None
            if stage is None:
                stage = Stage(BLOCKS[0], 0, STAGE_WIDTHS[i][0], STRIDES[0], KERNELS[0],
                              EXPANSIONS[0], EXPANSIONS[0], SE_KINDS[0], ACTIVATIONS[0])
            s = f"stage{i + 1}"
            first = stage.expand if stage.expand_first is None else stage.expand_first
            values |= {f"{s}_kind": stage.kind, f"{s}_depth": stage.depth,
                       f"{s}_width": stage.width, f"{s}_stride": stage.stride,
                       f"{s}_kernel": stage.kernel, f"{s}_expand": stage.expand,
                       f"{s}_expand_first": first, f"{s}_se": stage.se,
                       f"{s}_act": stage.act or activation}
        values |= {"head_width": head_width, "head_fc": head_fc}
        return self.genome(values)

    # --- genome -> network ---------------------------------------------------------------

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        act, layout = str(genome["activation"]), self.layout
        shufflenet = layout.names == "shufflenet_v2"  # conv1, stage2.0 .., conv5, fc
        # (3, H, W) -> (stem, H/2, W/2) [-> max pool (stem, H/4, W/4)]
        y = conv_bn_act(nb, x, int(genome["stem_width"]), 3, 2, act=act,
                        name="conv1" if shufflenet else "features.0", layout=layout)
        if genome["stem_pool"]:
            y = nb.maxpool(y, 3, 2, 1, name="maxpool" if shufflenet else "features.pool")
        index = 1  # the next features.N (ShuffleNetV2: the stage number, counted in strides)
        block = 0  # ShuffleNetV2: the block within its stage
        for stage in self.stages(genome):
            if not stage.depth:
                continue
            build = BLOCK_BUILDERS[stage.kind]
            if shufflenet and stage.stride == 2:
                index, block = index + 1, 0
            for b in range(stage.depth):
                first = stage.expand if stage.expand_first is None else stage.expand_first
                spec = BlockSpec(stage.width, stage.stride if b == 0 else 1, stage.kernel,
                                 first if b == 0 else stage.expand, stage.se, stage.act or act)
                # EfficientNet nests a stage's blocks (features.S.B); V2 and V3 number them;
                # ShuffleNetV2 numbers stages from the stride-2 ones (stage2 ..): a stride-1
                # stage continues the one before (its 8-block stage is two of ours)
                if shufflenet:
                    scope, block = f"stage{index}.{block}", block + 1
                elif layout.names == "efficientnet":
                    scope = f"features.{index}.{b}"
                else:
                    scope = f"features.{index + b}"
                with nb.scope(scope):
                    y = build(nb, y, spec, layout)
            if not shufflenet:
                index += 1 if layout.names == "efficientnet" else stage.depth
        head = int(genome["head_width"])
        if head:
            y = conv_bn_act(nb, y, head, 1, act=act,
                            name="conv5" if shufflenet else f"features.{index}", layout=layout)
        # (C, h, w) -> (C, 1, 1) -> (C,) -> [hidden] -> (num_classes,)
        y = nb.flatten(nb.global_avgpool(y, name="avgpool"), name="flatten")
        p = float(self.options["dropout"])
        if shufflenet:  # torchvision's ShuffleNetV2: no hidden layer, no dropout at p = 0
            if int(genome["head_fc"]):
                y = nb.act(nb.linear(y, int(genome["head_fc"]), name="hidden"), act,
                           name="hidden_act")
            return nb.linear(nb.dropout(y, p, name="dropout") if p else y, num_classes,
                             name="fc")
        with nb.scope("classifier"):
            if int(genome["head_fc"]):  # MobileNetV3: linear, act, dropout, linear
                y = nb.act(nb.linear(y, int(genome["head_fc"]), name="0"), act, name="1")
                y = nb.dropout(y, p, name="2")
                return nb.linear(y, num_classes, name="3")
            y = nb.dropout(y, p, name="0")
            return nb.linear(y, num_classes, name="1")

    def init_weights(self, module: nn.Module) -> None:
        """torchvision's MobileNetV2/V3 initialisation.

        Convs: He normal with ``fan_out``; BN: weight 1, bias 0; linear: N(0, 0.01), bias 0.
        With the same seed, the MobileNetV2 genome starts from exactly torchvision's weights.
        """
        kaiming_init(module, conv_mode="fan_out")  # leaky_relu(a=0) gain == relu gain
