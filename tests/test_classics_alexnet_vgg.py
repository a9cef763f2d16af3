"""AlexNet and VGG as genomes of the ``vgg`` space: torchvision's models exactly, and the
lectures' tables reproduced by the cost model.

The torchvision comparisons build both models on the ``meta`` device where only structure is
checked (parameter counts, state_dict keys and shapes), so all nine classics stay fast; the
logits comparison runs real weights for AlexNet, VGG-11-BN and VGG-16 at batch 1.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nas import Baseline, get_baseline, layer_table, list_baselines, totals
from nas.core.cost import Row
from search_spaces.classics.alexnet_vgg import VGG_CONVS, vgg_genome
from search_spaces.vgg import VggSpace

CLASSICS = ["alexnet", *(f"{n}{bn}" for n in VGG_CONVS for bn in ("", "_bn"))]


def _torchvision(baseline: Baseline) -> nn.Module:
    assert baseline.torchvision is not None
    return getattr(torchvision.models, baseline.torchvision)(weights=None)


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- torchvision ---------------------------------------------------------------------------


def test_every_classic_is_registered() -> None:
    assert set(CLASSICS) <= set(list_baselines())
    for name in CLASSICS:
        baseline = get_baseline(name)
        assert baseline.genome.space == "vgg" and baseline.torchvision == name
        assert baseline.doc


@pytest.mark.parametrize("name", CLASSICS)
def test_structure_equals_torchvision(name: str) -> None:
    """Same parameter count (graph and module), same state_dict keys and shapes, same layer
    types under the same names; torchvision's ``avgpool`` (identity at 224) is the only
    module we leave out."""
    baseline = get_baseline(name)
    with torch.device("meta"):  # structure only: no memory, no initialisation cost
        ours, theirs = baseline.build(), _torchvision(baseline)
    assert totals(baseline.graph()).params == _numel(ours) == _numel(theirs)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    assert [v.shape for v in ours_sd.values()] == [v.shape for v in theirs_sd.values()]
    ours.load_state_dict(theirs_sd, strict=True)
    ours_types = {n: type(m) for n, m in ours.named_modules() if not list(m.children())}
    theirs_types = {n: type(m) for n, m in theirs.named_modules()
                    if not list(m.children()) and n != "avgpool"}
    assert ours_types == theirs_types


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn", "vgg16"])
def test_torchvision_weights_give_the_same_logits(name: str) -> None:
    baseline = get_baseline(name)
    torch.manual_seed(0)
    theirs = _torchvision(baseline).eval()
    for m in theirs.modules():  # non-trivial batch-norm statistics, so their order matters
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            for t in (m.weight, m.bias, m.running_mean):
                nn.init.uniform_(t, -0.5, 0.5)
            nn.init.uniform_(m.running_var, 0.5, 2.0)
    ours = baseline.build().eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == (1, 1000)
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5 * scale)


# --- lecture 002: AlexNet layer by layer at 227x227 ---------------------------------------

# Lecture 002's table (around its line 400): layer, input C and H/W, filters, kernel, stride,
# pad, output C and H/W, memory (KB), params (k), flop (M). None where the slide is blank.
ALEXNET_LECTURE = [
    ("conv1", 3, "227", 64, "11", 4, "2", 64, "56", 784, 23, 73),
    ("pool1", 64, "56", None, "3", 2, "0", 64, "27", 182, 0, 0),
    ("conv2", 64, "27", 192, "5", 1, "2", 192, "27", 547, 307, 224),
    ("pool2", 192, "27", None, "3", 2, "0", 192, "13", 127, 0, 0),
    ("conv3", 192, "13", 384, "3", 1, "1", 384, "13", 254, 664, 112),
    ("conv4", 384, "13", 256, "3", 1, "1", 256, "13", 169, 885, 145),
    ("conv5", 256, "13", 256, "3", 1, "1", 256, "13", 169, 590, 100),
    ("pool5", 256, "13", None, "3", 2, "0", 256, "6", 36, 0, 0),
    ("flatten", 256, "6", None, "", None, "", 9216, "", 36, 0, 0),
    ("fc6", 9216, "", 4096, "", None, "", 4096, "", 16, 37_749, 38),
    ("fc7", 4096, "", 4096, "", None, "", 4096, "", 16, 16_777, 17),
    ("fc8", 4096, "", 1000, "", None, "", 1000, "", 4, 4_096, 4),
]

# Our exact values, from the lecture's formulas: (module, bytes, params, multiply-adds).
ALEXNET_EXACT = [
    ("features.0", 64 * 56 * 56 * 4, 64 * 3 * 11 * 11 + 64, 56 * 56 * 64 * 3 * 11 * 11),
    ("features.2", 64 * 27 * 27 * 4, 0, 64 * 27 * 27 * 3 * 3),
    ("features.3", 192 * 27 * 27 * 4, 192 * 64 * 5 * 5 + 192, 27 * 27 * 192 * 64 * 5 * 5),
    ("features.5", 192 * 13 * 13 * 4, 0, 192 * 13 * 13 * 3 * 3),
    ("features.6", 384 * 13 * 13 * 4, 384 * 192 * 9 + 384, 13 * 13 * 384 * 192 * 9),
    ("features.8", 256 * 13 * 13 * 4, 256 * 384 * 9 + 256, 13 * 13 * 256 * 384 * 9),
    ("features.10", 256 * 13 * 13 * 4, 256 * 256 * 9 + 256, 13 * 13 * 256 * 256 * 9),
    ("features.12", 256 * 6 * 6 * 4, 0, 256 * 6 * 6 * 3 * 3),
    ("flatten", 9216 * 4, 0, 0),
    ("classifier.1", 4096 * 4, 9216 * 4096 + 4096, 9216 * 4096),
    ("classifier.4", 4096 * 4, 4096 * 4096 + 4096, 4096 * 4096),
    ("classifier.6", 1000 * 4, 4096 * 1000 + 1000, 4096 * 1000),
]


@pytest.fixture(scope="module")
def alexnet_227() -> list[Row]:
    return layer_table(get_baseline("alexnet").graph((3, 227, 227), 1000))


def test_alexnet_rows_are_exact(alexnet_227: list[Row]) -> None:
    assert [(r.layer, r.memory, r.params, r.macs) for r in alexnet_227] == ALEXNET_EXACT


@pytest.mark.parametrize("lecture", ALEXNET_LECTURE, ids=[row[0] for row in ALEXNET_LECTURE])
def test_alexnet_row_matches_lecture_002(alexnet_227: list[Row], lecture: tuple) -> None:
    name, in_c, in_hw, filters, kernel, stride, pad, out_c, out_hw, kb, params_k, flop_m = lecture
    row = alexnet_227[[r[0] for r in ALEXNET_LECTURE].index(name)]
    assert (row.in_c, row.in_hw, row.filters, row.kernel, row.stride, row.pad) == (
        in_c, in_hw, filters, kernel, stride, pad)
    assert (row.out_c, row.out_hw) == (out_c, out_hw)
    assert round(row.memory_kb) == kb  # the slide rounds KB to integers
    if name.startswith("fc"):
        # Discrepancy 1: the slide prints fc params without the bias (its own formula two lines
        # up has "+ C_out"): 9216*4096 = 37,748,736 -> 37,749k, ours 37,752,832 -> 37,753k.
        assert row.filters is not None and row.params == (row.in_c + 1) * row.filters
        assert round((row.params - row.filters) / 1000) == params_k
    else:
        assert round(row.params / 1000) == params_k
    if name == "conv4":
        # Discrepancy 2: the slide prints 145 but 13*13*256 * 384*3*3 = 149,520,384 (150M).
        assert row.macs == 149_520_384
        assert abs(row.macs / 1e6 - flop_m) < 5
    else:
        assert round(row.macs / 1e6) == flop_m


def test_alexnet_totals_match_lecture_002(alexnet_227: list[Row]) -> None:
    """'AlexNet total: 1.9 MB, 61M, 0.7 GFLOP': the slide's totals sum conv and fc rows."""
    weighted = [r for r in alexnet_227 if r.op in ("conv", "linear")]
    assert round(sum(r.memory for r in weighted) / 2**20, 1) == 1.9  # 1,958 KB
    assert sum(r.params for r in alexnet_227) == 61_100_840  # torchvision's count: "61M"
    assert round(sum(r.macs for r in weighted) / 1e9, 1) == 0.7  # 716.8M multiply-adds


# --- lecture 004: VGG-16's memory and parameters per layer at 224x224 ----------------------

# Lecture 004 (around its line 560): layer kind, output C and H=W, memory (element count, as
# printed: "3.2M", "800K" ...), params "not counting biases" (exact, as printed).
VGG16_LECTURE = [
    ("conv", 64, 224, 3.2e6, 1_728),
    ("conv", 64, 224, 3.2e6, 36_864),
    ("maxpool", 64, 112, 800e3, 0),
    ("conv", 128, 112, 1.6e6, 73_728),
    ("conv", 128, 112, 1.6e6, 147_456),
    ("maxpool", 128, 56, 400e3, 0),
    ("conv", 256, 56, 800e3, 294_912),
    ("conv", 256, 56, 800e3, 589_824),
    ("conv", 256, 56, 800e3, 589_824),
    ("maxpool", 256, 28, 200e3, 0),
    ("conv", 512, 28, 400e3, 1_179_648),
    ("conv", 512, 28, 400e3, 2_359_296),
    ("conv", 512, 28, 400e3, 2_359_296),
    ("maxpool", 512, 14, 100e3, 0),
    ("conv", 512, 14, 100e3, 2_359_296),
    ("conv", 512, 14, 100e3, 2_359_296),
    ("conv", 512, 14, 100e3, 2_359_296),
    ("maxpool", 512, 7, 25e3, 0),
    ("linear", 4096, 1, 4096, 102_760_448),
    ("linear", 4096, 1, 4096, 16_777_216),
    ("linear", 1000, 1, 1000, 4_096_000),
]


def _bias(row: Row) -> int:
    return row.out_c if row.op in ("conv", "linear") else 0


def test_vgg16_table_matches_lecture_004() -> None:
    rows = [r for r in layer_table(get_baseline("vgg16").graph((3, 224, 224), 1000))
            if r.op != "flatten"]  # the slide goes from the last pool straight to FC
    assert len(rows) == len(VGG16_LECTURE)
    for row, (op, c, hw, printed, params) in zip(rows, VGG16_LECTURE, strict=True):
        elements = c * hw * hw
        assert (row.op, row.out_c, row.memory // 4) == (op, c, elements), row.layer
        # the slide writes 224*224*64 = 3,211,264 as "3.2M" and 802,816 as "800K": < 0.5% off
        assert abs(elements - printed) / elements < 0.005, row.layer
        assert row.params - _bias(row) == params, row.layer
    # "TOTAL params: 138M parameters (not counting biases)"; torchvision's exact count with them
    assert sum(r.params for r in rows) == 138_357_544
    no_bias = sum(r.params - _bias(r) for r in rows)
    assert no_bias == 138_344_128 and round(no_bias / 1e6) == 138
    # The slide's "TOTAL memory: 24M * 4 bytes ~= 93MB" is not the sum of its own rows, which
    # (input included) is 15.2M elements: we assert the sum.
    assert 3 * 224 * 224 + sum(r.memory // 4 for r in rows) == 15_237_608


# --- lecture 002: VGG-16 "from 224 to 28" next to GoogLeNet's stem -------------------------


def test_vgg16_early_layers_match_lecture_002_comparison() -> None:
    """Lecture 002 compares GoogLeNet's stem with 'VGG-16: Memory 42.9 MB, Params 1.1M, MFLOP
    7485' for the layers from 224 to 28. Those are exactly the sums over VGG-16's first six
    convs, conv1_1 .. conv3_2 (features.0 .. features.12), pools not counted: the slide's
    VGG-16 has the two-conv stage 3 of its own design-rule slide ('Stage 3: conv-conv-pool'),
    while the real one has three. Its whole-network totals ('48.6 MB', '13.6 GFLOP') are that
    VGG-16 too (conv and fc rows); the real VGG-16 needs 51.7 MB and 15.5 GFLOP."""
    rows = layer_table(get_baseline("vgg16").graph((3, 224, 224), 1000))
    convs = [r for r in rows if r.op == "conv"]
    first_six = convs[:6]
    assert [r.layer for r in first_six] == [f"features.{i}" for i in (0, 2, 5, 7, 10, 12)]
    assert sum(r.memory for r in first_six) == 43_904 * 1024  # KB -> 42.875 MB: "42.9 MB"
    assert round(sum(r.memory for r in first_six) / 2**20, 1) == 42.9
    assert sum(r.params for r in first_six) == 1_145_408  # "1.1M"
    assert round(sum(r.macs for r in first_six) / 1e6) == 7485

    # All of stages 1-3 of the real VGG-16 (seven convs): 45.9 MB, 1.7M, 9335 MFLOP.
    stages_1_3 = [r for r in convs if int(r.out_hw) >= 56]
    assert len(stages_1_3) == 7
    assert round(sum(r.memory for r in stages_1_3) / 2**20, 1) == 45.9
    assert round(sum(r.macs for r in stages_1_3) / 1e6) == 9335

    def conv_fc_totals(genome_rows: list[Row]) -> tuple[float, float]:
        """(MB, GFLOP) summed over conv and fc rows, as the slide's totals are."""
        weighted = [r for r in genome_rows if r.op in ("conv", "linear")]
        return sum(r.memory for r in weighted) / 2**20, sum(r.macs for r in weighted) / 1e9

    slide_vgg16 = vgg_genome((2, 2, 2, 3, 3), bn=False)
    memory, gflop = conv_fc_totals(
        layer_table(VggSpace().graph(slide_vgg16, (3, 224, 224), 1000)))
    # 48.652 MB: the slide prints 48.6 (truncated, or without the fc rows' 0.035 MB)
    assert abs(memory - 48.6) < 0.06 and round(gflop, 1) == 13.6
    memory, gflop = conv_fc_totals(rows)
    assert round(memory, 1) == 51.7 and round(gflop, 1) == 15.5


def test_vgg_parameter_counts_match_the_paper() -> None:
    """Simonyan & Zisserman's Table 2 (lecture 004): 133, 133, 138, 144 million for A, B, D, E."""
    paper = {"vgg11": 133, "vgg13": 133, "vgg16": 138, "vgg19": 144}
    for name, millions in paper.items():
        assert round(totals(get_baseline(name).graph()).params / 1e6) == millions
