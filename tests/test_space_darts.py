"""The darts space: the published cells at their exact sizes, DARTS's NetworkCIFAR itself."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from nas import GenomeError, NetBuilder, create_space, get_baseline, totals
from search_spaces.classics.darts_cells import DARTS_V2_NORMAL, DARTS_V2_REDUCE
from search_spaces.darts import (
    NODES,
    OPS,
    PRIMITIVES,
    DartsSpace,
    cell_nodes,
    genome_from_genotype,
    genotype,
)

# NetworkCIFAR(C=36, layers=20, auxiliary=False), 10 classes: counted with DARTS's own code
# for DARTS V1, V2 and GDAS (the figures); PC-DARTS and P-DARTS as their papers round.
PARAMS = {"darts_v1": 3_169_414, "darts_v2": 3_349_342, "gdas": 3_368_782,
          "pc_darts": 3_634_678, "pdarts": 3_433_798}
PAPER = {"darts_v1": 3.3e6, "darts_v2": 3.3e6, "gdas": 3.4e6, "pc_darts": 3.6e6,
         "pdarts": 3.4e6}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_published_cells_have_their_exact_parameter_counts(name: str) -> None:
    params = totals(get_baseline(name).graph((3, 32, 32), 10)).params
    assert params == PARAMS[name]
    assert abs(params - PAPER[name]) / PAPER[name] < 0.05


def test_darts_v2_is_the_default_space_and_builds_with_dartss_keys() -> None:
    baseline = get_baseline("darts_v2")
    assert baseline.space().options == create_space("darts").options  # the defaults
    model = baseline.build((3, 32, 32), 10)
    assert sum(p.numel() for p in model.parameters()) == PARAMS["darts_v2"]
    keys = model.state_dict()
    for key in ("stem.0.weight", "cells.0.preprocess0.op.1.weight",
                "cells.0._ops.0.op.5.weight",  # normal node 0: sep_conv_3x3, second dw conv
                "cells.7.preprocess0.conv_2.weight",  # after the reduction at 6: factorized
                "cells.19._ops.7.op.1.weight",  # normal node 3: dil_conv_3x3 on node 0
                "classifier.weight"):
        assert key in keys, key
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(1, 3, 32, 32))
    assert y.shape == (1, 10) and torch.isfinite(y).all()


# --- a reference: DARTS's cnn/operations.py and cnn/model.py, as the paper's code builds them ---


class _ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False),
                                nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class _FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class _Conv(nn.Module):  # SepConv (twice=True) and DilConv
    def __init__(self, c: int, k: int, stride: int, dilation: int, twice: bool) -> None:
        super().__init__()
        pad = dilation * (k - 1) // 2
        layers: list[nn.Module] = [nn.ReLU(), nn.Conv2d(c, c, k, stride, pad, dilation, c,
                                                        bias=False),
                                   nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]
        if twice:
            layers += [nn.ReLU(), nn.Conv2d(c, c, k, 1, pad, groups=c, bias=False),
                       nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _op(name: str, c: int, stride: int) -> nn.Module:
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else _FactorizedReduce(c, c)
    k = int(name[-1])
    return _Conv(c, k, stride, 2 if name.startswith("dil") else 1, name.startswith("sep"))


class _Cell(nn.Module):
    def __init__(self, pairs: list[tuple[str, int]], c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.preprocess0 = _FactorizedReduce(c_pp, c) if reduction_prev else _ReLUConvBN(c_pp, c)
        self.preprocess1 = _ReLUConvBN(c_p, c)
        self.indices = [i for _, i in pairs]
        self._ops = nn.ModuleList(_op(n, c, 2 if reduction and i < 2 else 1) for n, i in pairs)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j in range(len(self.indices) // 2):
            h1 = self._ops[2 * j](states[self.indices[2 * j]])
            h2 = self._ops[2 * j + 1](states[self.indices[2 * j + 1]])
            states.append(h1 + h2)
        return torch.cat(states[2:], dim=1)


class _NetworkCIFAR(nn.Module):
    def __init__(self, c: int, layers: int, normal: list[tuple[str, int]],
                 reduce: list[tuple[str, int]]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(3 * c))
        c_pp, c_p, c_cur = 3 * c, 3 * c, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            c_cur *= 2 if reduction else 1
            self.cells.append(_Cell(reduce if reduction else normal, c_pp, c_p, c_cur,
                                    reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))


@pytest.mark.parametrize("name", ["darts_v1", "darts_v2", "gdas", "pc_darts", "pdarts"])
def test_the_network_is_dartss_network_cifar(name: str) -> None:
    """DARTS's own model (re-written above from cnn/model.py) loads our weights by key, and
    both give the same logits (small C and depth: the structure is the same at any size)."""
    genome = get_baseline(name).genome
    cells = genotype(genome)
    torch.manual_seed(0)
    ours = create_space("darts", channels=8, cells=5).build(genome, (3, 16, 16), 10)
    ref = _NetworkCIFAR(8, 5, cells["normal"], cells["reduce"])
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(4, 3, 16, 16)
    for train in (True, False):
        ours.train(train)
        ref.train(train)
        with torch.no_grad():
            assert torch.allclose(ours(x), ref(x), atol=1e-5)


# --- decisions, genotypes, options ------------------------------------------------------------


def test_decisions_and_genotypes() -> None:
    space = create_space("darts")
    names = [d.name for d in space.decisions]
    assert len(names) == 2 * NODES * 4 == 32
    assert names[:4] == ["normal_n0_in_a", "normal_n0_in_b", "normal_n0_op_a", "normal_n0_op_b"]
    assert space.decision("reduce_n3_in_b").options == (0, 1, 2, 3, 4)
    assert space.decision("normal_n0_op_a").options == PRIMITIVES and len(PRIMITIVES) == 8
    genome = genome_from_genotype(DARTS_V2_NORMAL, DARTS_V2_REDUCE)
    assert genome == get_baseline("darts_v2").genome
    assert genotype(genome)["reduce"] == list(DARTS_V2_REDUCE)
    assert cell_nodes(genome, "normal")[3] == (0, 2, "skip_connect", "dil_conv_3x3")
    with pytest.raises(GenomeError, match=r"8 \(op, input\) pairs, got 7"):
        genome_from_genotype(DARTS_V2_NORMAL[:7], DARTS_V2_REDUCE)
    with pytest.raises(GenomeError, match="normal_n0_in_a"):
        genome_from_genotype([("sep_conv_3x3", 2), *DARTS_V2_NORMAL[1:]], DARTS_V2_REDUCE)


@pytest.mark.parametrize(("options", "message"), [
    ({"channels": 7}, "channels must be even"),
    ({"cells": 0}, "cells must be an integer >= 1"),
    ({"stem_multiplier": 1.5}, "stem_multiplier must be an integer"),
    ({"width": 3}, "no option"),
])
def test_bad_options_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(GenomeError, match=message):
        create_space("darts", **options)


def test_reductions_at_a_third_and_two_thirds() -> None:
    assert DartsSpace(cells=20).plan().count(True) == 2
    assert [i for i, r in enumerate(DartsSpace(cells=20).plan()) if r] == [6, 13]
    assert [i for i, r in enumerate(DartsSpace(cells=5).plan()) if r] == [1, 3]


def test_none_ops_leave_a_node_out_or_make_it_zeros() -> None:
    space = create_space("darts", channels=4, cells=3)
    genome = get_baseline("darts_v2").genome.replace(
        normal_n1_op_a="none",  # node 1 keeps only op_b
        reduce_n0_op_a="none", reduce_n0_op_b="none")  # reduction node 0: zeros, halved
    graph = space.graph(genome, (3, 16, 16))
    g = graph.graph
    assert "cells.0._ops.2.op.1" not in g and "cells.0._ops.3.op.1" in g
    assert "cells.0.node1" not in g  # a single op: nothing to add
    zero = g.nodes["cells.1.node0"]
    assert zero["op"] == "zero" and zero["out_shape"] == (8, 8, 8)  # C=8 at 16x16 -> 8x8
    model = space.build(genome, (3, 16, 16))
    assert sum(p.numel() for p in model.parameters()) == totals(graph).params
    model.eval()
    assert torch.isfinite(model(torch.randn(2, 3, 16, 16))).all()


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("op", [p for p in PRIMITIVES if p != "none"])
def test_each_op_costs_what_dartss_op_does(op: str, stride: int) -> None:
    c = 6
    nb = NetBuilder((c, 8, 8))
    factory = OPS[op]
    assert factory is not None
    y = factory("_ops.0", nb, nb.input(), c, stride)
    assert y.shape == (c, 8 // stride, 8 // stride)
    expected = {"sep_conv_3x3": 2 * (9 * c + c * c + 2 * c),
                "sep_conv_5x5": 2 * (25 * c + c * c + 2 * c),
                "dil_conv_3x3": 9 * c + c * c + 2 * c, "dil_conv_5x5": 25 * c + c * c + 2 * c,
                "skip_connect": (c * c + 2 * c) if stride == 2 else 0}.get(op, 0)
    assert totals(nb.build(y)).params == expected


def test_cells_draw_the_four_nodes_and_skip_none() -> None:
    space = create_space("darts")
    genome = get_baseline("darts_v2").genome.replace(normal_n1_op_a="none")
    cells = space.cells(genome)
    normal = cells["normal"]
    assert "n1.op_a" not in normal and "n1.op_b" in normal
    assert sorted(normal.predecessors("out")) == ["n0", "n1", "n2", "n3"]
    assert normal.nodes["n3.op_b"]["label"] == "dil_conv_3x3"
    assert cells["reduce"].nodes["n0.op_a"]["label"] == "max_pool_3x3\nstride 2"
    rng = random.Random(0)
    for _ in range(20):  # every sampled genome draws (columns never point backwards)
        g = space.cells(space.sample(rng))["reduce"]
        assert all(g.nodes[u]["layer"] < g.nodes[v]["layer"] for u, v in g.edges)
