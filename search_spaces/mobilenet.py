"""The ``mobilenet`` space: the lectures' efficient networks, MobileNet v1 and MobileNetV2.

A network is a stem convolution (3x3, stride 2), up to seven stages of blocks, an optional 1x1
head convolution, global average pooling and a dropout + linear classifier. A stage is
``depth`` blocks of one kind; the first block of a stage may halve the resolution. Two block
kinds, looked up by name in :data:`BLOCK_BUILDERS`:

* ``depthwise_separable`` (MobileNet v1): a kxk depthwise conv-BN-act (``groups = C``: one
  filter per channel) then a 1x1 pointwise conv-BN-act that mixes channels. The lecture's cost
  rule: the depthwise conv has ``C*k*k`` parameters and ``H'W'C*k*k`` multiply-adds, so the
  pair costs ``1/C_out + 1/k^2`` of a standard kxk convolution.
* ``inverted_residual`` (MobileNetV2): a 1x1 expansion to ``t * C_in`` channels (left out when
  ``t == 1``), a kxk depthwise conv, then a 1x1 *linear* projection (BN, no activation), with
  an identity shortcut when the stride is 1 and the channel count is unchanged.

The searched decisions, in the order a controller emits them: ``stem_width``, ``activation``
(ReLU for v1, ReLU6 for V2; used by every non-linear layer), then per stage ``stageI_kind``,
``stageI_depth`` (0 skips the stage), ``stageI_width``, ``stageI_stride``, ``stageI_kernel``
(3/5/7) and ``stageI_expand`` (the expansion ratio ``t``; ignored by depthwise-separable
blocks), and finally ``head_width`` (0: no head conv). Widths are chosen per stage from lists
that grow with depth and contain both classics' widths (:data:`STAGE_WIDTHS`).

Module names follow torchvision's MobileNetV2 exactly -- ``features.0`` the stem
(``features.0.0`` conv, ``.1`` bn, ``.2`` act), ``features.N.conv.*`` the blocks as
``Conv2dNormActivation`` sequences, the head conv as the last ``features`` entry, and
``classifier.0`` dropout / ``classifier.1`` linear -- so torchvision's ``state_dict`` loads into
the V2 genome with no key mapping. Weights are initialised as torchvision initialises them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.core.errors import GenomeError
from nas.core.genome import Genome, Value
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, kaiming_init, register_space

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn

# --- the vocabulary --------------------------------------------------------------------------

BLOCKS = ("depthwise_separable", "inverted_residual")  # MobileNet v1's block, MobileNetV2's
ACTIVATIONS = ("relu", "relu6")  # v1 uses ReLU; V2 uses ReLU6 (robust in low precision)
KERNELS = (3, 5, 7)  # depthwise kernel size (padding k // 2 keeps the resolution)
EXPANSIONS = (1, 3, 6)  # inverted-residual expansion ratio t (V2: 1 in stage 1, else 6)
DEPTHS = (0, 1, 2, 3, 4)  # blocks per stage (MnasNet's 1-4); 0 leaves the stage out
STRIDES = (1, 2)  # stride of a stage's first block
STEM_WIDTHS = (16, 24, 32)  # 32 at width multipliers 0.35-1 (both classics: 32)
HEAD_WIDTHS = (0, 640, 1280)  # 1x1 conv before pooling: 0 none (v1), 1280 (V2), or half

# Per stage: MobileNetV2's width c at its published width multipliers 0.35, 0.5, 0.75 and 1
# (rounded to multiples of 8 as torchvision rounds them; repeats dropped), plus MobileNet v1's
# width where v1 uses that stage (stages 1-3 and 5-7). The narrow options keep sampled networks
# cheap; widths grow with depth, the lectures' "more channels as the resolution drops".
STAGE_WIDTHS: tuple[tuple[int, ...], ...] = (
    (8, 16, 64),  # stage 1: V2 16, v1 64
    (8, 16, 24, 128),  # stage 2: V2 24, v1 128
    (16, 24, 32, 256),  # stage 3: V2 32, v1 256
    (24, 32, 48, 64),  # stage 4: V2 64
    (32, 48, 72, 96, 512),  # stage 5: V2 96, v1 512
    (56, 80, 120, 160, 512),  # stage 6: V2 160, v1 512
    (112, 160, 240, 320, 1024),  # stage 7: V2 320, v1 1024
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
    expand: int = 1  # expansion ratio t (inverted residual only)


# --- layers and blocks -----------------------------------------------------------------------


def conv_bn_act(nb: NetBuilder, x: T, out_channels: int, kernel: int, stride: int = 1, *,
                groups: int = 1, act: str, name: str) -> T:
    """torchvision's ``Conv2dNormActivation``: ``name.0`` conv (no bias), ``.1`` bn, ``.2`` act.

    Padding is ``k // 2``, so a stride-1 conv keeps H x W and a stride-2 conv halves it.
    """
    with nb.scope(name):
        y = nb.conv(x, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False,
                    name="0")
        return nb.act(nb.bn(y, name="1"), act, name="2")


def depthwise_separable(nb: NetBuilder, x: T, out_channels: int, stride: int, kernel: int,
                        expand: int, act: str) -> T:
    """MobileNet v1's block: kxk depthwise conv-BN-act, then 1x1 pointwise conv-BN-act.

    (C, H, W) -> (C, H/s, W/s) -> (C_out, H/s, W/s). ``expand`` is not used: the block has no
    expansion. Layers ``conv.0`` (depthwise) and ``conv.1`` (pointwise), in the V2 naming style.
    """
    del expand
    with nb.scope("conv"):
        y = conv_bn_act(nb, x, x.channels, kernel, stride, groups=x.channels, act=act, name="0")
        return conv_bn_act(nb, y, out_channels, 1, act=act, name="1")


def inverted_residual(nb: NetBuilder, x: T, out_channels: int, stride: int, kernel: int,
                      expand: int, act: str) -> T:
    """MobileNetV2's block, named exactly as torchvision's ``InvertedResidual``.

    (C, H, W) -> 1x1 expand (tC, H, W) -> kxk depthwise (tC, H/s, W/s) -> 1x1 linear project
    (C_out, H/s, W/s) [+ x when s == 1 and C_out == C]. With ``t == 1`` there is no expansion
    conv, so the depthwise conv is ``conv.0`` and the projection ``conv.1``/``conv.2``, as in
    torchvision. The projection is linear because a ReLU on the narrow bottleneck destroys
    information (Sandler et al. 2018, section 3.2).
    """
    hidden = x.channels * expand
    with nb.scope("conv"):
        y, i = x, 0
        if expand != 1:
            y = conv_bn_act(nb, y, hidden, 1, act=act, name="0")
            i = 1
        y = conv_bn_act(nb, y, hidden, kernel, stride, groups=hidden, act=act, name=str(i))
        y = nb.conv(y, out_channels, 1, bias=False, name=str(i + 1))
        y = nb.bn(y, name=str(i + 2))
    if stride == 1 and out_channels == x.channels:
        y = nb.add(x, y, name="add")
    return y


BlockBuilder = Callable[[NetBuilder, T, int, int, int, int, str], T]
BLOCK_BUILDERS: dict[str, BlockBuilder] = {
    "depthwise_separable": depthwise_separable,
    "inverted_residual": inverted_residual,
}


# --- the space -------------------------------------------------------------------------------


def _stage_decisions(i: int) -> tuple[Decision, ...]:
    s = f"stage{i + 1}"
    return (
        Decision(f"{s}_kind", BLOCKS, f"{s}: block kind (v1 separable or V2 inverted residual)"),
        Decision(f"{s}_depth", DEPTHS, f"{s}: number of blocks (0 leaves the stage out)"),
        Decision(f"{s}_width", STAGE_WIDTHS[i], f"{s}: output channels of its blocks"),
        Decision(f"{s}_stride", STRIDES, f"{s}: stride of its first block"),
        Decision(f"{s}_kernel", KERNELS, f"{s}: depthwise kernel size"),
        Decision(f"{s}_expand", EXPANSIONS,
                 f"{s}: expansion ratio t (inverted residual only)"),
    )


_DECISIONS: tuple[Decision, ...] = (
    Decision("stem_width", STEM_WIDTHS, "channels of the 3x3 stride-2 stem conv"),
    Decision("activation", ACTIVATIONS, "non-linearity of every conv-BN-act layer"),
    *(d for i in range(NUM_STAGES) for d in _stage_decisions(i)),
    Decision("head_width", HEAD_WIDTHS, "channels of the 1x1 head conv (0: no head conv)"),
)


@register_space
class MobileNetSpace(Space):
    """Stem, up to seven stages of separable / inverted-residual blocks, head; see the module.

    Options: ``dropout`` -- the probability of the dropout before the classifier (torchvision's
    0.2 by default); it is a network-level option, not a searched decision.
    """

    name = "mobilenet"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        p = self.options["dropout"]
        if not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise GenomeError(f"space 'mobilenet' option dropout must be a number in [0, 1), "
                              f"got {p!r}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"dropout": 0.2}

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
                      get(i, "kernel"), get(i, "expand")) for i in range(NUM_STAGES)]

    def genome_from_stages(self, stem_width: int, stages: Sequence[Stage | None],
                           head_width: int, activation: str) -> Genome:
        """A validated genome from a stage table (how the classics are written down).

        ``stages`` lists at most seven entries; a missing entry or ``None`` leaves that stage
        out (depth 0, every other decision at its first option).
        """
        if len(stages) > NUM_STAGES:
            raise GenomeError(f"mobilenet has at most {NUM_STAGES} stages, got {len(stages)}")
        values: dict[str, Value] = {"stem_width": stem_width, "activation": activation}
        for i in range(NUM_STAGES):
            stage = stages[i] if i < len(stages) else None
            if stage is None:
                stage = Stage(BLOCKS[0], 0, STAGE_WIDTHS[i][0], STRIDES[0], KERNELS[0],
                              EXPANSIONS[0])
            s = f"stage{i + 1}"
            values |= {f"{s}_kind": stage.kind, f"{s}_depth": stage.depth,
                       f"{s}_width": stage.width, f"{s}_stride": stage.stride,
                       f"{s}_kernel": stage.kernel, f"{s}_expand": stage.expand}
        values["head_width"] = head_width
        return self.genome(values)

    # --- genome -> network ---------------------------------------------------------------

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        act = str(genome["activation"])
        # (3, H, W) -> (stem, H/2, W/2)
        y = conv_bn_act(nb, x, int(genome["stem_width"]), 3, 2, act=act, name="features.0")
        index = 1  # the next features.N
        for stage in self.stages(genome):
            build = BLOCK_BUILDERS[stage.kind]
            for b in range(stage.depth):
                with nb.scope(f"features.{index}"):
                    y = build(nb, y, stage.width, stage.stride if b == 0 else 1, stage.kernel,
                              stage.expand, act)
                index += 1
        head = int(genome["head_width"])
        if head:
            y = conv_bn_act(nb, y, head, 1, act=act, name=f"features.{index}")
        # (C, h, w) -> (C, 1, 1) -> (C,) -> (num_classes,)
        y = nb.flatten(nb.global_avgpool(y, name="avgpool"), name="flatten")
        y = nb.dropout(y, float(self.options["dropout"]), name="classifier.0")
        return nb.linear(y, num_classes, name="classifier.1")

    def init_weights(self, module: nn.Module) -> None:
        """torchvision's MobileNetV2 initialisation.

        Convs: He normal with ``fan_out``; BN: weight 1, bias 0; linear: N(0, 0.01), bias 0.
        With the same seed, the MobileNetV2 genome starts from exactly torchvision's weights.
        """
        kaiming_init(module, conv_mode="fan_out")  # leaky_relu(a=0) gain == relu gain
