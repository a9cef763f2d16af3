"""The nasbench201 space: arch strings, the benchmark's network, the shipped table."""

from __future__ import annotations

import csv

import pytest
import torch

from nas import GenomeError, get_space
from nas.core.cost import totals
from nas.evaluators.table import shipped_table

SPACE = get_space("nasbench201")
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")  # the table's optimum, 94.37 %
ALL_CONV = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
            "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_arch_string_round_trips_over_the_whole_table() -> None:
    with shipped_table("nasbench201").open(newline="") as f:
        archs = [row["arch"] for row in csv.DictReader(f)]
    assert len(archs) == 15625 == SPACE.size()
    genomes = {SPACE.from_arch_str(a) for a in archs}
    assert len(genomes) == 15625  # every cell of the space, each once
    for arch in archs:
        assert SPACE.to_arch_str(SPACE.from_arch_str(arch)) == arch


def test_decisions_follow_the_arch_string() -> None:
    genome = SPACE.from_arch_str(BEST)
    assert [d.name for d in SPACE.decisions] == [
        "edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"]
    assert genome["edge_0_3"] == "skip_connect" and genome["edge_2_3"] == "nor_conv_1x1"
    assert SPACE.decisions[0].options == (
        "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@pytest.mark.parametrize(("text", "why"), [
    ("", "1 node group"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "2 node group"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|none~0|none~1|none~2|", "node 2 must have 2"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'op~0'"),
    ("|none~0|+|none~0|none~1|+|none~0|none~2|none~1|", "expected 'op~1'"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '|'"),
])
def test_malformed_arch_strings_say_why(text: str, why: str) -> None:
    with pytest.raises(GenomeError, match=why):
        SPACE.from_arch_str(text)


def test_network_matches_the_benchmark() -> None:
    # NAS-Bench-201's largest and smallest CIFAR-10 networks: 1.53 M and 0.07 M parameters
    assert totals(SPACE.graph(SPACE.from_arch_str(ALL_CONV))).params == 1_531_546
    assert totals(SPACE.graph(SPACE.from_arch_str(ALL_NONE))).params == 73_306
    model = SPACE.build(SPACE.from_arch_str(BEST))
    keys = set(model.state_dict())
    # xautodl's module names: cell 0's edge 5 conv, the first reduction block, the head
    assert {"stem.0.weight", "cells.0.layers.5.op.1.weight", "cells.5.conv_a.op.1.weight",
            "cells.5.downsample.1.weight", "lastact.0.weight", "classifier.weight"} <= keys
    assert not any(k.startswith("cells.0.layers.3.") for k in keys)  # a skip has no weights
    assert sum(p.numel() for p in model.parameters()) == totals(SPACE.graph(
        SPACE.from_arch_str(BEST))).params


def test_cut_cells_build_and_output_zeros() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)  # small images keep the test fast; the cells are the same
    # node 1 gets no input, but its conv to node 3 still exists (and reads zeros)
    partly = SPACE.from_arch_str(
        "|none~0|+|skip_connect~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    model = SPACE.build(partly, (3, 16, 16))
    assert "cells.0.layers.4.op.1.weight" in model.state_dict()
    y = model(x)
    y.sum().backward()
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    # every path cut: each cell outputs zeros, so the logits do not depend on the image
    model = SPACE.build(SPACE.from_arch_str(ALL_NONE), (3, 16, 16)).eval()
    with torch.no_grad():
        y1, y2 = model(x), model(torch.randn(2, 3, 16, 16))
    assert torch.equal(y1, y2)
