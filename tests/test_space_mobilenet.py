"""The ``mobilenet`` space: its vocabulary, its two block kinds and the lecture's cost rule."""

from __future__ import annotations

import dataclasses
import random
from fractions import Fraction

import pytest
import torch
from torch import nn
from torchvision.models._utils import _make_divisible

from nas.core.cost import layer_table
from nas.core.errors import GenomeError, NasError
from nas.core.genome import Genome
from nas.core.netgraph import NetBuilder, NetGraph
from nas.core.space import create_space, get_space
from search_spaces.mobilenet import (
    BLOCK_BUILDERS,
    BLOCKS,
    NUM_STAGES,
    STAGE_WIDTHS,
    MobileNetSpace,
    Stage,
)

SPACE = MobileNetSpace()


def one_stage(stage: Stage, *, stem: int = 32, head: int = 0, act: str = "relu6") -> Genome:
    """A genome whose only stage is ``stage``, placed in stage 3 (its widths fit most tests)."""
    return SPACE.genome_from_stages(stem, [None, None, stage], head_width=head, activation=act)


def attrs(net: NetGraph, layer: str) -> dict:
    return net.graph.nodes[layer]


# --- vocabulary --------------------------------------------------------------------------------


def test_decisions_are_flat_categorical_and_per_stage() -> None:
    assert isinstance(get_space("mobilenet"), MobileNetSpace)
    names = [d.name for d in SPACE.decisions]
    assert names[:3] == ["stem_width", "stem_pool", "activation"]
    assert names[-2:] == ["head_width", "head_fc"]
    per_stage = ["kind", "depth", "width", "stride", "kernel", "expand", "expand_first", "se",
                 "act"]
    assert names[3:-2] == [f"stage{i}_{w}" for i in range(1, NUM_STAGES + 1) for w in per_stage]
    assert SPACE.decision("stage4_kernel").options == (3, 5, 7)
    assert SPACE.decision("stage1_kind").options == BLOCKS == tuple(BLOCK_BUILDERS)


@pytest.mark.parametrize("stage", range(NUM_STAGES))
def test_stage_widths_are_v2_width_multipliers_plus_v1(stage: int) -> None:
    """Each stage offers MobileNetV2's width at multipliers 0.35-1, v1's where it has one, and
    MobileNetV3-Large's, EfficientNet-B0's and ShuffleNetV2's."""
    v2 = (16, 24, 32, 64, 96, 160, 320)[stage]
    v1 = (64, 128, 256, None, 512, 512, 1024)[stage]
    v3 = (16, 24, 40, 80, 80, 112, 160)[stage]
    b0 = (16, 24, 40, 80, 112, 192, 320)[stage]
    shuffle = (None, None, None, 116, 232, 232, 464)[stage]
    expected = {_make_divisible(v2 * a, 8) for a in (0.35, 0.5, 0.75, 1.0)} | {v3, b0}
    if shuffle is not None:
        expected.add(shuffle)
    if v1 is not None:
        expected.add(v1)
    assert STAGE_WIDTHS[stage] == tuple(sorted(expected))


def test_genome_from_stages_round_trips_and_fills_left_out_stages() -> None:
    stage = Stage("inverted_residual", 2, 24, 2, 5, 3)
    genome = one_stage(stage)
    stages = MobileNetSpace.stages(genome)
    # the defaults are filled in: the first block expands as the others, the network's act
    assert stages[2] == dataclasses.replace(stage, expand_first=3, act="relu6")
    assert [s.depth for s in stages] == [0, 0, 2, 0, 0, 0, 0]
    with pytest.raises(GenomeError, match="at most 7 stages"):
        SPACE.genome_from_stages(32, [stage] * 8, head_width=0, activation="relu")
    with pytest.raises(GenomeError, match="stage3_width"):
        one_stage(Stage("inverted_residual", 2, 25, 2))


def test_dropout_is_a_checked_space_option() -> None:
    genome = one_stage(Stage("depthwise_separable", 1, 32, 1))
    model = create_space("mobilenet", dropout=0.5).build(genome)
    assert isinstance(model.get_submodule("classifier.0"), nn.Dropout)
    assert model.get_submodule("classifier.0").p == 0.5
    with pytest.raises(NasError, match="dropout must be a number in"):
        create_space("mobilenet", dropout=1.5)


# --- blocks ------------------------------------------------------------------------------------


def test_depthwise_separable_block_is_dw_conv_bn_relu_then_pw_conv_bn_relu() -> None:
    genome = one_stage(Stage("depthwise_separable", 2, 256, 2, kernel=5), act="relu")
    net = SPACE.graph(genome, (3, 32, 32))
    dw, pw = attrs(net, "features.1.conv.0.0"), attrs(net, "features.1.conv.1.0")
    # stem: 32 x 16 x 16; depthwise: one 5x5 filter per channel, stride 2, padding 2
    assert (dw["in_channels"], dw["out_channels"], dw["groups"]) == (32, 32, 32)
    assert (dw["kernel"], dw["stride"], dw["padding"], dw["out_shape"]) == (
        (5, 5), 2, (2, 2), (32, 8, 8))
    assert (pw["kernel"], pw["groups"], pw["out_shape"]) == ((1, 1), 1, (256, 8, 8))
    assert attrs(net, "features.1.conv.0.2")["kind"] == "relu"
    assert attrs(net, "features.1.conv.1.2")["kind"] == "relu"
    assert not [n for n, a in net.nodes if a["op"] == "add"], "v1 blocks have no shortcut"
    model = SPACE.build(genome)
    assert isinstance(model.get_submodule("features.2.conv.1.2"), nn.ReLU)


def test_inverted_residual_expands_filters_depthwise_then_projects_linearly() -> None:
    genome = one_stage(Stage("inverted_residual", 3, 32, 2, kernel=7, expand=6), stem=16)
    net = SPACE.graph(genome, (3, 32, 32))
    # block 1: 16 -> expand 96 (16x16) -> depthwise 7x7 stride 2 (8x8) -> project 32
    assert attrs(net, "features.1.conv.0.0")["out_shape"] == (96, 16, 16)
    dw = attrs(net, "features.1.conv.1.0")
    assert (dw["groups"], dw["kernel"], dw["padding"], dw["out_shape"]) == (
        96, (7, 7), (3, 3), (96, 8, 8))
    assert attrs(net, "features.1.conv.2")["out_shape"] == (32, 8, 8)
    assert attrs(net, "features.1.conv.3")["op"] == "bn"
    # the projection is linear: its BN feeds the next block's expansion and shortcut directly
    after = [net.graph.nodes[s]["op"] for s in net.graph.successors("features.1.conv.3")]
    assert sorted(after) == ["add", "conv"]
    # the shortcut: not on the stride-2 block, on the two stride-1 blocks (32 -> 32 channels)
    adds = [n for n, a in net.nodes if a["op"] == "add"]
    assert adds == ["features.2.add", "features.3.add"]
    assert attrs(net, "features.2.add")["inputs"] == ["features.1.conv.3", "features.2.conv.3"]


def test_inverted_residual_with_t1_has_no_expansion_conv_as_torchvision() -> None:
    genome = one_stage(Stage("inverted_residual", 1, 32, 1, expand=1))
    net = SPACE.graph(genome)
    layers = [n for n, a in net.nodes if n.startswith("features.1.")]
    assert layers == ["features.1.conv.0.0", "features.1.conv.0.1", "features.1.conv.0.2",
                      "features.1.conv.1", "features.1.conv.2", "features.1.add"]
    assert attrs(net, "features.1.conv.0.0")["groups"] == 32


def test_stage_depth_zero_leaves_it_out_and_features_are_numbered_on() -> None:
    genome = SPACE.genome_from_stages(
        24, [Stage("inverted_residual", 2, 16, 1, expand=3), None,
             Stage("depthwise_separable", 1, 32, 2)], head_width=640, activation="relu6")
    model = SPACE.build(genome, (3, 32, 32), 7)
    names = [n for n, _ in model.named_children()]
    assert names == ["features", "avgpool", "classifier"]
    blocks = [n for n, _ in model.get_submodule("features").named_children()]
    assert blocks == ["0", "1", "2", "3", "4"]  # stem, 2 + 1 blocks, head
    head = model.get_submodule("features.4.0")
    assert isinstance(head, nn.Conv2d) and (head.in_channels, head.out_channels) == (32, 640)
    assert model.get_submodule("classifier.1").in_features == 640
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_any_kernel_keeps_or_halves_the_resolution(kernel: int, stride: int) -> None:
    genome = one_stage(Stage("inverted_residual", 1, 32, stride, kernel, 3))
    net = SPACE.graph(genome, (3, 64, 64))  # stem: 32 x 32 x 32
    assert attrs(net, "features.1.conv.3")["out_shape"] == (32, 32 // stride, 32 // stride)


# --- the lecture's cost rule -------------------------------------------------------------------


def test_depthwise_separable_cost_rule_on_the_layer_table() -> None:
    """A depthwise kxk conv: C*k*k params, H'W'C*k*k mult-adds, groups = C (lecture rule).

    The layer table folds BN (2 params per channel) and ReLU into the conv's row.
    """
    c, c_out, k = 32, 256, 3
    genome = one_stage(Stage("depthwise_separable", 1, c_out, 1, k), stem=c)
    net = SPACE.graph(genome, (3, 32, 32))  # the block sees 32 x 16 x 16
    rows = {r.layer: r for r in layer_table(net)}
    dw, pw = rows["features.1.conv.0.0"], rows["features.1.conv.1.0"]
    h = w = 16
    assert attrs(net, dw.layer)["groups"] == c
    assert (dw.in_c, dw.filters, dw.kernel, dw.out_hw) == (c, c, "3", "16")
    assert dw.params == c * k * k + 2 * c
    assert dw.macs == h * w * c * k * k
    assert pw.params == c * c_out + 2 * c_out
    assert pw.macs == h * w * c * c_out
    # together they cost 1/C_out + 1/k^2 of a standard kxk conv (Howard et al. eq. 5)
    standard = h * w * c * c_out * k * k
    assert Fraction(dw.macs + pw.macs, standard) == Fraction(1, c_out) + Fraction(1, k * k)


# --- the built module ----------------------------------------------------------------------------


def test_weights_are_initialised_as_torchvision_does() -> None:
    torch.manual_seed(0)
    genome = one_stage(Stage("inverted_residual", 2, 256, 1, 3, 6), head=1280)
    model = SPACE.build(genome)
    conv = model.get_submodule("features.1.conv.0.0")  # 1x1, 32 -> 192: fan_out = 192
    bn = model.get_submodule("features.1.conv.0.1")
    fc = model.get_submodule("classifier.1")
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
    assert isinstance(fc, nn.Linear)
    assert conv.weight.std().item() == pytest.approx((2 / 192) ** 0.5, rel=0.05)
    assert torch.equal(bn.weight, torch.ones(192)) and torch.equal(bn.bias, torch.zeros(192))
    assert fc.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.equal(fc.bias, torch.zeros(10))


def test_activation_decision_sets_every_nonlinearity() -> None:
    for act, cls in (("relu", nn.ReLU), ("relu6", nn.ReLU6)):
        genome = one_stage(Stage("inverted_residual", 1, 32, 2, 3, 6), head=640, act=act)
        kinds = {type(m) for m in SPACE.build(genome).modules()
                 if isinstance(m, nn.ReLU | nn.ReLU6)}
        assert kinds == {cls}


def test_shuffle_unit_splits_shuffles_and_keeps_the_width() -> None:
    """ShuffleNetV2's unit: stride 1 splits the channels in halves, one half untouched; a
    stride (or a new width) runs both branches on all of the input; a 2-group shuffle ends it."""
    genome = one_stage(Stage("shuffle", 2, 32, 2, 3), act="relu")
    net = SPACE.graph(genome)
    g = net.graph
    assert attrs(net, "features.1.branch1.0")["groups"] == 32  # depthwise on the whole input
    assert attrs(net, "features.1.branch2.0")["in_channels"] == 32
    assert attrs(net, "features.2.split0")["out_shape"] == (16, 8, 8)
    assert attrs(net, "features.2.branch2.0")["inputs"] == ["features.2.split1"]
    assert attrs(net, "features.2.concat")["inputs"] == ["features.2.split0",
                                                       "features.2.branch2.7"]
    assert attrs(net, "features.2.shuffle")["groups"] == 2
    assert "features.2.branch1.0" not in g
    model = SPACE.build(genome)
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    nb = NetBuilder((4, 1, 1))
    out = nb.shuffle(nb.input(), 2, name="shuffle")
    model = nb.build(out).to_module()
    x = torch.arange(4.0).view(1, 4, 1, 1)
    assert model(x).flatten().tolist() == [0.0, 2.0, 1.0, 3.0]


def test_stem_pool_and_the_shufflenet_layout() -> None:
    genome = get_space("mobilenet").sample(random.Random(0)).replace(stem_pool=True)
    names = set(create_space("mobilenet", layout="shufflenet_v2").graph(genome).graph)
    assert {"conv1.0", "maxpool", "fc"} <= names
    assert "features.pool" in SPACE.graph(genome).graph
