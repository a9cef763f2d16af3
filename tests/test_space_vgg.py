"""The ``vgg`` space: its rules, its generalisations, its heads and its shape rejections.

The shared conformance suite (tests/test_spaces.py) checks sampled genomes; these tests check
what this space promises on top: the lecture's VGG rules by default, AlexNet's generalisations
when asked, module names, initialisation and clear rejections.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from torch import nn

from nas import NetBuilder, ShapeError, create_space, get_baseline, get_space, totals
from nas.core.genome import Genome, Value
from nas.core.netgraph import NetGraph
from nas.testing.spaces import check_genome
from search_spaces.vgg import MAX_STAGES, VggSpace


def _genome(space: VggSpace, stages: int = 5, **changes: Value) -> Genome:
    """The lecture's rules everywhere (first option of each per-stage decision) plus changes."""
    values: dict[str, Value] = {d.name: d.options[0] for d in space.decisions}
    values.update({"width": 64, "stages": stages, "head": "gap", "fc_layers": 0})
    return space.genome({**values, **changes})


def _layers(graph: NetGraph, op: str) -> list[dict[str, Any]]:
    return [a for _, a in graph.nodes if a["op"] == op]


@pytest.fixture(scope="module")
def space() -> VggSpace:
    space = get_space("vgg")
    assert isinstance(space, VggSpace)
    return space


def test_per_stage_decisions_start_with_the_lecture_rule(space: VggSpace) -> None:
    for i in range(1, MAX_STAGES + 1):
        assert space.decision(f"stage{i}_kernel").options[0] == 3
        assert space.decision(f"stage{i}_widen").options[0] == 1.0
        assert space.decision(f"stage{i}_pool").options[0] is True
    assert space.decision("stem").options[0] == "plain"
    assert space.decision("pool_kernel").options[0] == 2


def test_rule_genome_follows_vgg_design_rules(space: VggSpace) -> None:
    """3x3/1/1 convs keep the size, 2x2/2 pools halve it, channels double after each pool
    (capped at max_width = 512)."""
    genome = _genome(space, **{f"stage{i}_convs": 2 for i in range(1, 6)})
    graph = space.graph(genome, (3, 64, 64), 10)
    for conv in _layers(graph, "conv"):
        assert (conv["kernel"], conv["stride"], conv["padding"]) == ((3, 3), 1, (1, 1))
        assert conv["out_shape"][1:] == conv["in_shape"][1:]
    for pool in _layers(graph, "maxpool"):
        assert (pool["kernel"], pool["stride"]) == ((2, 2), 2)
        c, h, w = pool["in_shape"]
        assert pool["out_shape"] == (c, h // 2, w // 2)
    widths = [conv["out_channels"] for conv in _layers(graph, "conv")][::2]
    assert widths == space.stage_widths(genome) == [64, 128, 256, 512, 512]
    capped = create_space("vgg", max_width=256)
    assert isinstance(capped, VggSpace)
    assert capped.stage_widths(genome) == [64, 128, 256, 256, 256]


def test_skipped_pool_keeps_width_and_resolution(space: VggSpace) -> None:
    genome = _genome(space, stages=3, stage1_pool=False, stage2_widen=1.5, stage3_widen=0.5)
    assert space.stage_widths(genome) == [64, 96, 64]  # rule: 64, 64, 128
    graph = space.graph(genome, (3, 32, 32), 10)
    assert [p["out_shape"] for p in _layers(graph, "maxpool")] == [(96, 16, 16), (64, 8, 8)]


def test_generalisations_stem_kernel_and_overlapping_pool(space: VggSpace) -> None:
    genome = _genome(space, stages=2, stem="7x7/2", stage1_convs=2, stage2_kernel=5,
                     pool_kernel=3)
    convs = _layers(space.graph(genome, (3, 64, 64), 10), "conv")
    # the stem replaces only the first conv; the rest of stage 1 keeps its 3x3 rule
    assert [(c["kernel"], c["stride"], c["padding"]) for c in convs] == [
        ((7, 7), 2, (3, 3)), ((3, 3), 1, (1, 1)), ((5, 5), 1, (2, 2))]
    pools = _layers(space.graph(genome, (3, 64, 64), 10), "maxpool")
    assert [p["out_shape"][1] for p in pools] == [15, 7]  # 32 -> 15 -> 7: floor((H - 3)/2) + 1


def test_unused_stage_decisions_are_ignored(space: VggSpace) -> None:
    genome = _genome(space, stages=2)
    other = genome.replace(stage3_convs=4, stage4_kernel=5, stage5_widen=1.5, stage5_pool=False)
    assert genome.id != other.id
    a, b = (space.graph(g, (3, 32, 32), 10).nodes for g in (genome, other))
    assert a == b


def test_module_names_number_like_torchvision_sequential(space: VggSpace) -> None:
    genome = _genome(space, stages=2, bn=True, stage2_pool=False, head="flatten",
                     fc_layers=1, fc_width=256, dropout="after")
    names = [n for n, a in space.graph(genome, (3, 8, 8), 10).nodes if a["op"] != "input"]
    assert names == [
        "features.0", "features.1", "features.2",  # conv, bn, relu
        "features.3",  # pool
        "features.4", "features.5", "features.6",  # conv, bn, relu (no pool: stage2_pool=False)
        "flatten",
        "classifier.0", "classifier.1", "classifier.2",  # linear, relu, dropout
        "classifier.3",  # logits
    ]
    before = genome.replace(dropout="before")
    names = [n for n, a in space.graph(before, (3, 8, 8), 10).nodes if a["op"] == "linear"]
    assert names == ["classifier.1", "classifier.3"]  # dropout, linear, relu, linear


def test_gap_head_fits_any_input_size_flatten_head_grows_with_it(space: VggSpace) -> None:
    """The small-image options: the gap head's parameters do not depend on the input size, so
    the same genome runs on 32x32 CIFAR and 8x8 digits; the flatten head reads C*H*W."""
    gap = _genome(space, stages=3, width=16, fc_layers=1, fc_width=256)
    flat = gap.replace(head="flatten")
    params = {(g.id, s): totals(space.graph(g, (c, s, s), 10)).params
              for g in (gap, flat) for c, s in ((3, 32), (1, 8))}
    assert params[gap.id, 32] - params[gap.id, 8] == 2 * 16 * 9  # only the first conv's C_in
    assert params[flat.id, 32] - params[flat.id, 8] == 2 * 16 * 9 + 64 * (16 - 1) * 256
    torch.manual_seed(0)
    assert check_genome(space, gap, input_shape=(1, 8, 8), num_classes=10)
    assert check_genome(space, gap, input_shape=(3, 32, 32), num_classes=10)


def test_sampled_genomes_on_digits_mostly_build(space: VggSpace) -> None:
    """On 8x8 digits, with at most three pools possible, most samples still build or are
    rejected up front (graphs only, nothing runs)."""
    rng, built = random.Random(0), 0
    for _ in range(200):
        try:
            space.graph(space.sample(rng), (1, 8, 8), 10)
            built += 1
        except ShapeError as e:
            assert "layer features." in str(e)
    assert built >= 100  # 121 of 200 with this seed


def test_init_weights_like_torchvision_vgg(space: VggSpace) -> None:
    torch.manual_seed(0)
    model = space.build(_genome(space, stages=2, bn=True, fc_layers=1, fc_width=512,
                                stage1_convs=2), (3, 16, 16), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:  # kaiming normal, fan_out, relu gain: std = sqrt(2 / (C_out * K * K))
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
        assert conv.bias is not None and not conv.bias.any()
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert bool((bn.weight == 1).all()) and not bn.bias.any()
    for linear in (m for m in model.modules() if isinstance(m, nn.Linear)):
        assert linear.weight.std().item() == pytest.approx(0.01, rel=0.1)
        assert not linear.bias.any()


# --- rejections ----------------------------------------------------------------------------


def test_lecture_stride_that_does_not_fit_is_rejected() -> None:
    """Lecture 001's example: a 7x7 input, 3x3 filter, stride 3 gives (7 - 3)/3 + 1 = 2.33.
    The space's strides are 1, 2 and 4 only, so the builder it uses is checked directly."""
    nb = NetBuilder((3, 7, 7), where="vgg")
    x = nb.input()
    assert nb.conv(x, 64, 3, stride=2, name="fits").shape == (64, 3, 3)  # (7 - 3)/2 + 1 = 3
    with nb.scope("features"), pytest.raises(
            ShapeError, match=r"^vgg layer features\.0: stride 3 does not fit: .* "
                              r"\(7 - 3 \+ 2\*0\) / 3 \+ 1 = 2\.33 on the height$"):
        nb.conv(x, 64, 3, stride=3, name="0")


def test_alexnet_stem_on_an_input_it_does_not_fit_names_the_layer() -> None:
    """(226 - 11 + 2*2) / 4 + 1 = 55.75: one real input column would never be read."""
    alexnet = get_baseline("alexnet")
    with pytest.raises(ShapeError, match=r"layer features\.0: stride 4 does not fit"):
        alexnet.graph((3, 226, 226), 1000)
    assert alexnet.graph((3, 224, 224), 1000).output_shape == (1000,)  # 55.25 -> padding only


def test_a_pool_on_a_map_smaller_than_its_window_keeps_1x1() -> None:
    """VGG-16 on 16x16: 16 -> 8 -> 4 -> 2 -> 1, and the fifth pool pads the 1x1 map instead
    of emptying it; the network is then the one VGG-16 is at 32x32 (same parameters)."""
    small = get_baseline("vgg16").graph((3, 16, 16), 10)
    assert totals(small).params == totals(get_baseline("vgg16").graph((3, 32, 32), 10)).params
    model = get_baseline("vgg16").build((3, 16, 16), 10)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)
