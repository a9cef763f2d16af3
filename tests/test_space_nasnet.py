"""The nasnet space: NASNet-A as a genome, the concat rule, exact op costs, option handling."""

from __future__ import annotations

import dataclasses
import importlib.util
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import search_spaces.classics.nasnets  # noqa: F401  (registers the nasnet_a baseline)
from nas import GenomeError, NetBuilder, ShapeError, create_space, get_baseline, totals
from nas.core.codegen import module_file
from nas.core.netgraph import NetGraph
from nas.testing.spaces import check_space
from search_spaces.classics.nasnets import NASNET_A_NORMAL, NASNET_A_REDUCE
from search_spaces.nasnet import (
    BLOCKS,
    OPS,
    PRIMITIVES,
    NasNetSpace,
    cell_blocks,
    concatenated,
    factorized_reduce,
    genome_from_pairs,
    unused_blocks,
)

NASNET_A_PARAMS = 3_328_234  # N=6, F=32, 10 classes, TF's concat; see classics/nasnets.py
DARTS_CONCAT_PARAMS = 3_061_738  # the same cells with the space's default concatenation
PAPER_PARAMS = 3_300_000  # Zoph et al. 2018, Table 1: NASNet-A (6 @ 768)


# --- NASNet-A --------------------------------------------------------------------------------


def nasnet_a_space() -> NasNetSpace:
    space = get_baseline("nasnet_a").space()
    assert isinstance(space, NasNetSpace)
    return space


def test_nasnet_a_is_a_genome_that_builds_and_runs_at_cifar_size() -> None:
    baseline = get_baseline("nasnet_a")
    assert nasnet_a_space().plan() == [False] * 6 + [True] + [False] * 6 + [True] + [False] * 6
    graph = baseline.graph((3, 32, 32), 10)
    # The paper's 3.3M counts TF's wider concat (6C / 4C cells); the space's default
    # concatenates exactly the unused blocks (5C / 3C).
    assert totals(graph).params == NASNET_A_PARAMS
    assert abs(NASNET_A_PARAMS - PAPER_PARAMS) / PAPER_PARAMS < 0.01
    darts = dataclasses.replace(baseline, space_options={
        **baseline.space_options, "extra_concat": {}})
    assert totals(darts.graph()).params == DARTS_CONCAT_PARAMS
    # 6 @ 768 in the paper's notation: the last cell is 6 states x 4F = 768 channels.
    assert graph.graph.nodes["classifier"]["in_features"] == 6 * 4 * 32 == 768

    torch.manual_seed(0)
    model = graph.to_module()
    assert sum(p.numel() for p in model.parameters()) == NASNET_A_PARAMS
    assert "cells.0.b0.op_a.sep.0.dw.weight" in model.state_dict()  # readable module paths
    assert "cells.6.b0.op_b.sep.1.pw.weight" in model.state_dict()  # 7x7 sep in the reduction
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(1, 3, 32, 32))
    assert y.shape == (1, 10) and torch.isfinite(y).all()


def test_nasnet_a_cells_read_as_published() -> None:
    genome = get_baseline("nasnet_a").genome
    normal, reduce = cell_blocks(genome, "normal"), cell_blocks(genome, "reduce")
    assert unused_blocks(normal) == (0, 1, 2, 3, 4)  # DARTS: normal_concat = [2, 3, 4, 5, 6]
    assert unused_blocks(reduce) == (2, 3, 4)  # DARTS: reduce_concat = [4, 5, 6]
    assert [(b.op_a, b.in_a, b.op_b, b.in_b) for b in reduce][3] == ("identity", 3,
                                                                     "avg_pool_3x3", 2)
    assert genome_from_pairs(NASNET_A_NORMAL, NASNET_A_REDUCE) == genome
    with pytest.raises(GenomeError, match="10 \\(op, input\\) pairs, got 9"):
        genome_from_pairs(NASNET_A_NORMAL[:9], NASNET_A_REDUCE)


# --- the concat rule -------------------------------------------------------------------------


def check_cells_concat_unused_blocks(space: NasNetSpace, graph: NetGraph) -> int:
    """Every built cell's output is its unused blocks (and the space's ``extra_concat``
    states), concatenated in state order; returns the number of cells checked."""
    genome = space.genome(graph.meta["genome"]["values"])
    g, checked = graph.graph, 0
    for i, (reduction, channels) in enumerate(zip(space.plan(), space.cell_channels())):
        if f"cells.{i}.b0.add" not in g:
            continue  # a cell the logits do not depend on
        cell = "reduce" if reduction else "normal"
        states = concatenated(cell_blocks(genome, cell),
                              space.options["extra_concat"].get(cell, ()))
        assert set(states) >= {2 + j for j in unused_blocks(cell_blocks(genome, cell))}
        names = [f"cells.{i}.b{s - 2}.add" if s >= 2 else
                 f"cells.{i}.{'concat_in' if reduction else 'pre'}{s}.bn" for s in states]
        if len(states) == 1:  # nothing to concatenate: the block's sum is the output
            assert f"cells.{i}.concat" not in g
            out = g.nodes[names[0]]
        else:
            out = g.nodes[f"cells.{i}.concat"]
            assert out["inputs"] == names
            assert [g.nodes[a]["out_shape"][0] for a in names] == [channels] * len(states)
        assert out["out_shape"][0] == len(states) * channels
        checked += 1
    return checked


def test_cell_output_concatenates_the_unused_blocks_and_the_extra_states() -> None:
    nasnet_a = get_baseline("nasnet_a")
    checked = check_cells_concat_unused_blocks(nasnet_a_space(), nasnet_a.graph((3, 32, 32)))
    assert checked == 20
    space = NasNetSpace(cells=1)
    rng = random.Random(5)
    singles = 0
    for _ in range(30):
        genome = space.sample(rng)
        graph = space.graph(genome, (3, 32, 32), 10)
        checked += check_cells_concat_unused_blocks(space, graph)
        singles += len(unused_blocks(cell_blocks(genome, "normal"))) == 1
    assert checked > 20 + 100 and singles > 0  # both branches of the check ran


# --- the op vocabulary -----------------------------------------------------------------------


def sep(k: int) -> Callable[[int], int]:
    return lambda c: 2 * (k * k * c + c * c)  # two (depthwise k x k + pointwise 1x1) halves


# Conv weights of each op on C channels (BN adds 2C for each BN, listed apart below). Every
# conv in these ops produces an output of the op's resolution H'W' (the stride sits in the
# first conv), so the op's multiply-adds are H'W' times these weights.
WEIGHTS: dict[str, Callable[[int], int]] = {
    "identity": lambda c: c * c,  # stride 2: two 1x1 convs C -> C/2 (stride 1: none)
    "conv_1x3_3x1": lambda c: 3 * c * c + 3 * c * c,
    "conv_1x7_7x1": lambda c: 7 * c * c + 7 * c * c,
    "dil_conv_3x3": lambda c: 9 * c * c,
    "avg_pool_3x3": lambda c: 0,
    "max_pool_3x3": lambda c: 0,
    "max_pool_5x5": lambda c: 0,
    "max_pool_7x7": lambda c: 0,
    "conv_1x1": lambda c: c * c,
    "conv_3x3": lambda c: 9 * c * c,
    "sep_conv_3x3": sep(3),
    "sep_conv_5x5": sep(5),
    "sep_conv_7x7": sep(7),
}
BATCH_NORMS = {"identity": 1, "sep_conv_3x3": 2, "sep_conv_5x5": 2, "sep_conv_7x7": 2,
               **{p: 0 for p in PRIMITIVES if "pool" in p},
               **{p: 1 for p in ("conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "conv_1x1",
                                 "conv_3x3")}}
POOL_WINDOW = {"avg_pool_3x3": 9, "max_pool_3x3": 9, "max_pool_5x5": 25, "max_pool_7x7": 49}


def test_vocabulary_is_the_papers_thirteen_ops() -> None:
    assert tuple(OPS) == PRIMITIVES and len(PRIMITIVES) == 13
    assert set(WEIGHTS) == set(PRIMITIVES) == set(BATCH_NORMS)


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("op", PRIMITIVES)
def test_each_op_describes_its_exact_cost(op: str, stride: int, size: int) -> None:
    c = 6
    nb = NetBuilder((c, size, size))
    y = OPS[op]("op_a", nb, nb.input(), c, stride)
    out = -(-size // stride)  # ceil(H / stride): every op pads to keep or halve the size
    assert y.shape == (c, out, out)
    graph = nb.build(y)
    cost = totals(graph)
    if op == "identity" and stride == 1:
        assert graph.graph.number_of_nodes() == 1  # the input itself, no layer
        return
    assert cost.params == WEIGHTS[op](c) + BATCH_NORMS[op] * 2 * c
    pooled = POOL_WINDOW.get(op, 0) * c  # a pool reads k*k inputs per output element
    assert cost.macs == out * out * (WEIGHTS[op](c) + pooled)
    assert all(name.startswith("op_a.") for name in graph.graph if name != "x")
    # torch agrees with the described shape (odd sizes and the shifted reduction included)
    module = graph.to_module()
    assert module(torch.randn(2, c, size, size)).shape == (2, c, out, out)
    assert sum(p.numel() for p in module.parameters()) == cost.params


def test_separable_conv_is_applied_twice_relu_conv_bn() -> None:
    nb = NetBuilder((4, 8, 8))
    with nb.scope("b0"):
        y = OPS["sep_conv_3x3"]("op_a", nb, nb.input(), 4, 2)
    layers = [(n, a["op"]) for n, a in nb.build(y).graph.nodes(data=True) if n != "x"]
    assert layers == [(f"b0.op_a.sep.{i}.{part}", op) for i in (0, 1)
                      for part, op in (("relu", "act"), ("dw", "conv"), ("pw", "conv"),
                                       ("bn", "bn"))]
    g = nb.graph
    assert g.nodes["b0.op_a.sep.0.dw"]["stride"] == 2 and g.nodes["b0.op_a.sep.1.dw"]["stride"] == 1
    assert g.nodes["b0.op_a.sep.0.dw"]["groups"] == 4


def test_factorized_reduce_reads_even_and_odd_pixels() -> None:
    nb = NetBuilder((1, 4, 4))
    y = factorized_reduce(nb, nb.input(), 2)
    module = nb.build(y).to_module()
    for name, p in module.named_parameters():  # 1x1 convs and BN scales 1, BN shifts 0
        if name.endswith("weight"):
            torch.nn.init.ones_(p)
        else:
            torch.nn.init.zeros_(p)
    module.eval()  # BN with its initial statistics: the identity (up to eps)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = module(x)
    assert torch.allclose(out[0, 0], x[0, 0, ::2, ::2], atol=1e-3)  # conv_1: pixels (2i, 2j)
    assert torch.allclose(out[0, 1], x[0, 0, 1::2, 1::2], atol=1e-3)  # conv_2: (2i+1, 2j+1)


# --- options and rejections ------------------------------------------------------------------


def test_options_do_not_change_decisions() -> None:
    default = create_space("nasnet")
    other = NasNetSpace(cells=3, width=24, reductions=1, stem_multiplier=1)
    assert default.decisions == other.decisions
    assert len(default.decisions) == 2 * BLOCKS * 5
    names = [d.name for d in default.decisions]
    assert names[:5] == ["normal_b0_in_a", "normal_b0_in_b", "normal_b0_op_a",
                         "normal_b0_op_b", "normal_b0_combine"]
    assert names[-1] == "reduce_b4_combine"
    assert default.decision("normal_b0_in_a").options == (0, 1)
    assert default.decision("reduce_b4_in_b").options == (0, 1, 2, 3, 4, 5)
    genome = default.sample(random.Random(0))
    assert other.validate(genome) == genome
    # the options change the network, not the genome
    small, big = default.graph(genome), other.graph(genome)
    assert totals(small).params != totals(big).params
    assert len(other.plan()) == 3 * 2 + 1


@pytest.mark.parametrize(("options", "message"), [
    ({"width": 2}, "width must be an integer >= 4"),
    ({"skeleton": "svhn"}, "skeleton cannot be 'svhn'"),
    ({"extra_concat": {"normal": [9]}}, "extra_concat must map"),
    ({"cells": 0}, "cells must be an integer >= 1"),
    ({"reductions": -1}, "reductions must be an integer >= 0"),
    ({"width": 16.0}, "width must be an integer"),
    ({"depth": 3}, "no option"),
])
def test_bad_options_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(GenomeError, match=message):
        create_space("nasnet", **options)


def test_too_many_reductions_for_the_input_is_a_shape_error() -> None:
    genome = get_baseline("nasnet_a").genome
    # 4x4 -> 2x2 -> 1x1: a third reduction (cells.5 with one normal cell per stage) cannot halve
    space = create_space("nasnet", cells=1, reductions=3)
    with pytest.raises(ShapeError, match=r"reduction cell cells\.5 cannot halve a 1x1 map"):
        space.graph(genome, (3, 4, 4))
    assert space.graph(genome, (3, 8, 8)).graph.nodes["cells.6.b0.add"]["out_shape"][1:] == (1, 1)
    with pytest.raises(ShapeError, match="use fewer reductions than 6"):
        create_space("nasnet", reductions=6).graph(genome, (3, 32, 32))
    # and the builder itself refuses to shift a 1x1 map away (never left to torch)
    nb = NetBuilder((4, 1, 1))
    with pytest.raises(ShapeError, match="leaves none of the image"):
        factorized_reduce(nb, nb.input(), 4)


def test_cells_the_logits_do_not_read_are_not_built() -> None:
    # A normal cell reading only input 0 skips its predecessor; so cells 0, 3 and 6 of the
    # 8-cell stack (N N R N N R N N) feed nothing and are left out, with their parameters.
    pairs = [("conv_3x3", 0)] * 2 * BLOCKS
    reduce = [("sep_conv_3x3", 1)] * 2 * BLOCKS
    genome = genome_from_pairs(pairs, reduce)
    space = NasNetSpace(cells=2)
    graph = space.graph(genome, (3, 8, 8))  # the structure does not depend on the size
    built = sorted({int(n.split(".")[1]) for n in graph.graph if n.startswith("cells.")})
    assert built == [1, 2, 4, 5, 7]
    assert "cells.7.pre1.conv" not in graph.graph and "cells.7.pre0.conv" in graph.graph
    assert graph.graph.nodes["cells.5.pre1.conv"]["in_channels"] == 5 * 32  # cell 4's 5C
    assert "cells.5.pre0.conv" not in graph.graph  # no reduction block reads input 0
    model = graph.to_module()
    assert sum(p.numel() for p in model.parameters()) == totals(graph).params
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # nothing dead remains


# --- the ImageNet skeleton: NASNet-A Mobile --------------------------------------------------


def test_nasnet_a_mobile_is_the_papers_imagenet_network() -> None:
    """Zoph et al. 2018, Table 2: NASNet-A (4 @ 1056), 5.3M parameters, 564M multiply-adds."""
    baseline = get_baseline("nasnet_a_mobile")
    space = baseline.space()
    assert isinstance(space, NasNetSpace)
    assert space.plan() == [True, True] + [False] * 4 + [True] + [False] * 4 + [True] + [
        False] * 4
    assert space.cell_channels() == [11, 22] + [44] * 4 + [88] * 5 + [176] * 5
    graph = baseline.graph()
    t = totals(graph)
    assert (t.params, t.macs) == (5_287_076, 567_067_936)
    assert abs(t.params / 5.3e6 - 1) < 0.01 and abs(t.macs / 564e6 - 1) < 0.01
    g = graph.graph
    # 224 -> crop 223 -> 3x3/2 VALID 111 -> stem cells 56, 28 -> 28, 14, 7
    assert g.nodes["stem.conv"]["out_shape"] == (32, 111, 111)
    assert g.nodes["cells.0.concat"]["out_shape"] == (4 * 11, 56, 56)
    assert g.nodes["cells.1.concat"]["out_shape"] == (4 * 22, 28, 28)
    assert g.nodes["cells.2.pre0.bn"]["inputs"] == ["cells.2.pre0.cat"]  # factorized: 56 -> 28
    assert g.nodes["classifier"]["in_features"] == 1056  # 6 states x 4F
    assert g.nodes["global_pool"]["inputs"] == ["relu"]
    # the CIFAR baseline stays the CIFAR skeleton; NASNet-A Mobile shares its cells
    assert baseline.genome == get_baseline("nasnet_a").genome
    assert get_baseline("nasnet_a").space().plan()[:2] == [False, False]


def test_imagenet_skeleton_builds_sampled_genomes_with_odd_stem_cells() -> None:
    """F/4 = 11 channels: a factorized reduction splits them 5 + 6."""
    space = NasNetSpace(cells=1, width=44, stem_multiplier=1, skeleton="imagenet")
    rng = random.Random(3)
    for _ in range(10):
        space.graph(space.sample(rng), (3, 64, 64), 10)
    nb = NetBuilder((8, 6, 6))
    out = factorized_reduce(nb, nb.input(), 11)
    assert out.shape == (11, 3, 3)
    assert [nb.graph.nodes[n]["out_channels"] for n in ("conv_1", "conv_2")] == [5, 6]


# --- squeeze-and-excitation on a cell's output (space option se) ------------------------------


def test_se_option_adds_two_decisions_and_leaves_the_default_genomes_alone() -> None:
    default, se = create_space("nasnet"), create_space("nasnet", se=True)
    assert se.decisions[:-2] == default.decisions
    assert [(d.name, d.options) for d in se.decisions[-2:]] == [
        ("normal_se", (False, True)), ("reduce_se", (False, True))]
    nasnet_a = get_baseline("nasnet_a").genome
    with pytest.raises(GenomeError, match="normal_se"):
        se.validate(nasnet_a)  # a genome of the SE space must say where SE goes
    off = se.genome({**nasnet_a.to_dict()["values"], "normal_se": False, "reduce_se": False})
    assert totals(se.graph(off)).params == totals(default.graph(nasnet_a)).params
    with pytest.raises(GenomeError):
        default.validate(off)  # and the paper's space has no SE decision


def test_se_gates_each_cell_output_with_hu_et_als_bottleneck() -> None:
    space = create_space("nasnet", se=True)  # cells=1, width=16: cells 0 (16), 1 (32, reduce)...
    base = space.sample(random.Random(3)).to_dict()["values"]
    plain = space.genome({**base, "normal_se": False, "reduce_se": False})
    normal = space.genome({**base, "normal_se": True, "reduce_se": False})
    graph = space.graph(normal)
    added = totals(graph).params - totals(space.graph(plain)).params
    expected = 0
    for i, reduction in enumerate(space.plan()):
        if reduction or not any(n.startswith(f"cells.{i}.") for n in graph.graph.nodes):
            continue  # a reduction cell, or a cell the logits do not read (not built)
        channels = graph.graph.nodes[f"cells.{i}.se.fc2"]["out_shape"][0]  # u C
        assert graph.graph.nodes[f"cells.{i}.se.scale"]["out_shape"][0] == channels
        squeeze = max(8, channels // 16)
        expected += 2 * channels * squeeze + channels + squeeze  # fc1, fc2 with biases
        assert graph.graph.nodes[f"cells.{i}.se.fc1"]["out_shape"][0] == squeeze
    assert added == expected > 0
    assert not any(".se." in n for n in graph.graph.nodes if n.startswith("cells.1."))
    assert space.cells(normal)["normal"].nodes["out"]["label"] == "concat + SE = c_{k}"
    assert space.cells(normal)["reduce"].nodes["out"]["label"] == "concat = c_{k}"
    torch.manual_seed(0)
    model = graph.to_module().eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    assert "cells.0.se.fc1.weight" in model.state_dict()


def test_se_option_must_be_a_boolean() -> None:
    with pytest.raises(GenomeError, match="option se must be true or false"):
        create_space("nasnet", se="yes")


def test_se_space_passes_conformance_and_exports_as_plain_torch(tmp_path: Path) -> None:
    space = create_space("nasnet", se=True)
    torch.manual_seed(0)
    report = check_space(space, n=4, seed=5)
    assert report.built == 4, report.reasons
    genome = space.genome({**space.sample(random.Random(1)).to_dict()["values"],
                           "normal_se": True, "reduce_se": True})
    graph = space.graph(genome)
    model = space.module(graph).eval()
    (tmp_path / "se_cell.py").write_text(module_file(graph, genome.to_dict(), class_name="Net"))
    spec = importlib.util.spec_from_file_location("se_cell", tmp_path / "se_cell.py")
    assert spec is not None and spec.loader is not None
    exported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exported)
    net = exported.Net().eval()
    net.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x))
