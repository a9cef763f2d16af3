"""LeNet-5 and ZFNet as ``convnet`` genomes reproduce the lectures' descriptions layer by layer.

Lecture 004 ("Case study: LeNet-5"): "Conv filters were 5x5, applied at stride 1; subsampling
(pooling) layers were 2x2, applied at stride 2; i.e. architecture is
[CONV-POOL-CONV-POOL-CONV-FC]" on a 32x32x1 input (lecture 003 draws the same network as
[CONV-POOL-CONV-POOL-FC-FC]: its third conv reads a 5x5 map with a 5x5 filter, a fully
connected layer in all but name). The sizes are LeCun et al.'s (C1 28x28x6 ... F6 84).

Lectures 000, 002, 003 ("ZFNet"): "AlexNet but: CONV1 change from (11x11 stride 4) to (7x7
stride 2); CONV3,4,5: instead of 384, 384, 256 filters use 512, 1024, 512"; lecture 000 adds
"CONV2: change from (5x5 stride 1) to (5x5 stride 2)". Zeiler & Fergus's Fig. 3 gives the map
sizes (224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6).
"""

from __future__ import annotations

import pytest
import torch

from nas import get_baseline, get_space, layer_table, totals
from nas.core.cost import Row
from search_spaces.convnet import ConvNetSpace

# LeNet-5, the lecture's pattern with LeCun et al.'s sizes: layer, op, in C, in H/W, filters,
# kernel, stride, pad, out C, out H/W, params (exact, full C3 connections), multiply-adds
LENET5 = [
    ("conv1", "conv", 1, "32", 6, "5", 1, "0", 6, "28", 6 * 25 + 6, 28 * 28 * 6 * 25),  # C1
    ("pool1", "avgpool", 6, "28", None, "2", 2, "0", 6, "14", 0, 14 * 14 * 6 * 4),  # S2
    ("conv2", "conv", 6, "14", 16, "5", 1, "0", 16, "10", 16 * 150 + 16, 100 * 16 * 150),  # C3
    ("pool2", "avgpool", 16, "10", None, "2", 2, "0", 16, "5", 0, 25 * 16 * 4),  # S4
    ("conv3", "conv", 16, "5", 120, "5", 1, "0", 120, "1", 120 * 400 + 120, 120 * 400),  # C5
    ("flatten", "flatten", 120, "1", None, "", None, "", 120, "", 0, 0),
    ("fc1", "linear", 120, "", 84, "", None, "", 84, "", 120 * 84 + 84, 120 * 84),  # F6
    ("classifier", "linear", 84, "", 10, "", None, "", 10, "", 84 * 10 + 10, 840),  # output
]


@pytest.fixture(scope="module")
def lenet_rows() -> list[Row]:
    return layer_table(get_baseline("lenet5").graph())


def test_lenet5_is_conv_pool_conv_pool_conv_fc_on_32x32x1(lenet_rows: list[Row]) -> None:
    b = get_baseline("lenet5")
    assert (b.input_shape, b.num_classes) == ((1, 32, 32), 10)
    convs_and_pools = [r.op for r in lenet_rows if r.op in ("conv", "avgpool", "linear")]
    assert convs_and_pools == ["conv", "avgpool", "conv", "avgpool", "conv", "linear", "linear"]
    assert all((r.kernel, r.stride) == ("5", 1) for r in lenet_rows if r.op == "conv")
    assert all((r.kernel, r.stride) == ("2", 2) for r in lenet_rows if r.op == "avgpool")


@pytest.mark.parametrize("row", LENET5, ids=[r[0] for r in LENET5])
def test_lenet5_layer_table(lenet_rows: list[Row], row: tuple) -> None:
    layer, op, in_c, in_hw, filters, kernel, stride, pad, out_c, out_hw, params, macs = row
    r = next(r for r in lenet_rows if r.layer == layer)
    assert (r.op, r.in_c, r.in_hw, r.filters, r.kernel, r.stride, r.pad, r.out_c, r.out_hw) == (
        op, in_c, in_hw, filters, kernel, stride, pad, out_c, out_hw)
    assert (r.params, r.macs) == (params, macs)


def test_lenet5_totals_and_the_papers_60k(lenet_rows: list[Row]) -> None:
    """61,706 parameters with full connections; the paper's "60,000 trainable parameters"
    (its sparse C3 has 1,516 instead of 2,416, its subsampling 12 + 32 coefficients, its RBF
    output 840): within 3%."""
    total = sum(r.params for r in lenet_rows)
    assert total == 61_706
    assert abs(total - 60_000) / 60_000 < 0.03
    model = get_baseline("lenet5").build()
    assert sum(p.numel() for p in model.parameters()) == total
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_lenet5_squashes_with_the_sigmoid() -> None:
    acts = {a["kind"] for _, a in get_baseline("lenet5").graph().nodes if a["op"] == "act"}
    assert acts == {"sigmoid"}


# ZFNet per layer at 224: layer, in C, in H/W, filters, kernel, stride, pad, out C, out H/W
ZFNET = [
    ("conv1", 3, "224", 96, "7", 2, "1", 96, "110"),
    ("pool1", 96, "110", None, "3", 2, "0", 96, "55"),
    ("conv2", 96, "55", 256, "5", 2, "0", 256, "26"),
    ("pool2", 256, "26", None, "3", 2, "0", 256, "13"),
    ("conv3", 256, "13", 512, "3", 1, "1", 512, "13"),
    ("conv4", 512, "13", 1024, "3", 1, "1", 1024, "13"),
    ("conv5", 1024, "13", 512, "3", 1, "1", 512, "13"),
    ("pool5", 512, "13", None, "3", 2, "0", 512, "6"),
]


def test_zfnet_layer_table_is_the_lectures_changes_to_alexnet() -> None:
    rows = {r.layer: r for r in layer_table(get_baseline("zfnet").graph())}
    for layer, in_c, in_hw, filters, kernel, stride, pad, out_c, out_hw in ZFNET:
        r = rows[layer]
        assert (r.in_c, r.in_hw, r.filters, r.kernel, r.stride, r.pad, r.out_c, r.out_hw) == (
            in_c, in_hw, filters, kernel, stride, pad, out_c, out_hw), layer
    assert [rows[f"fc{i}"].filters for i in (1, 2)] == [4096, 4096]
    assert rows["fc1"].in_c == 512 * 6 * 6
    # AlexNet's (lecture 002's) conv1 is 11x11/4 and conv3-5 have 384, 256, 256 filters
    alexnet = [r for r in layer_table(get_baseline("alexnet").graph()) if r.op == "conv"]
    assert (alexnet[0].kernel, alexnet[0].stride) == ("11", 4)
    assert [r.filters for r in alexnet[2:]] == [384, 256, 256]
    assert totals(get_baseline("zfnet").graph()).params == 107_627_624


# --- the convnet space ---------------------------------------------------------------------


def test_valid_padding_is_the_least_the_stride_needs() -> None:
    """(W - F + 2P) / S + 1 whole: 7x7/2 on 224 needs P = 1 (the lecture's formula); on 225
    none; a filter larger than the map is padded to give 1x1."""
    space = get_space("convnet")
    assert isinstance(space, ConvNetSpace)
    for size, pad, out in ((224, "1", "110"), (225, "0", "110")):
        genome = space.genome_from_layers([{"filters": 16, "kernel": 7, "stride": 2}],
                                          activation="relu", fc_layers=0, fc_width=84,
                                          dropout=0.0)
        row = layer_table(space.graph(genome, (3, size, size), 10))[0]
        assert (row.pad, row.out_hw) == (pad, out)
    tiny = space.genome_from_layers([{"filters": 16, "kernel": 7, "pool": "max2"}],
                                    activation="relu", fc_layers=0, fc_width=84, dropout=0.0)
    rows = layer_table(space.graph(tiny, (3, 4, 4), 10))
    assert (rows[0].pad, rows[0].out_hw) == ("2", "2")  # 4 + 2*2 - 7 + 1 = 2
    rows = layer_table(space.graph(tiny, (3, 1, 1), 10))
    assert rows[0].out_hw == "1" and rows[1].op == "flatten"  # a 2x2 pool on 1x1: left out


def test_same_padding_and_unused_layers() -> None:
    space = get_space("convnet")
    assert isinstance(space, ConvNetSpace)
    genome = space.genome_from_layers([{"filters": 32, "kernel": 5, "pad": "same"}],
                                      activation="relu", fc_layers=0, fc_width=84, dropout=0.0)
    other = genome.replace(conv3_filters=512, conv5_kernel=7)  # layers beyond `layers`
    a, b = space.graph(genome, (3, 32, 32), 10), space.graph(other, (3, 32, 32), 10)
    assert list(a.graph.nodes(data=True)) == list(b.graph.nodes(data=True))
    assert layer_table(a)[0].out_hw == "32"
