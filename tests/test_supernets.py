"""Supernets: the conformance suite on each cell space, and the shared machinery's parts."""

from __future__ import annotations

import random
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F

from nas import create_space
from nas.core.genome import Genome
from nas.core.space import Space
from nas.core.supernet import (
    MixedEdge,
    Piece,
    Supernet,
    SupernetError,
    channel_shuffle,
    create_supernet,
    edge_index,
    gumbel_hard,
    strongest_inputs,
    supernet_spaces,
)
from nas.testing.supernets import (
    SupernetConformance,
    check_path_is_fixed_network,
    one_hot_weights,
)
from search_spaces import darts, nasnet
from search_spaces.classics import darts_cells


def inputs_in_order(space: Space, genome: Genome, nodes: int, prefix: str) -> Genome:
    """Each node's two (input, op) slots sorted by input: how DARTS's rule reads a one-hot
    genome back (equal strengths: the lower input first)."""
    values = genome.as_dict()
    for cell in ("normal", "reduce"):
        for j in range(nodes):
            k = f"{cell}_{prefix}{j}"
            slots = sorted([(values[f"{k}_in_a"], values[f"{k}_op_a"]),
                            (values[f"{k}_in_b"], values[f"{k}_op_b"])], key=lambda s: s[0])
            (values[f"{k}_in_a"], values[f"{k}_op_a"]), (values[f"{k}_in_b"],
                                                         values[f"{k}_op_b"]) = slots
    return space.genome(values)


def expressible(space: Space, genome: Genome, nodes: int, prefix: str) -> Genome:
    """``genome`` with two different inputs for every node and no ``none`` op: the genomes
    DARTS's rule (two distinct strongest inputs, never ``none``) can read back."""
    values = genome.as_dict()
    for cell in ("normal", "reduce"):
        for j in range(nodes):
            k = f"{cell}_{prefix}{j}"
            if values[f"{k}_in_a"] == values[f"{k}_in_b"]:
                values[f"{k}_in_b"] = (int(values[f"{k}_in_a"]) + 1) % (2 + j)
            for slot in ("op_a", "op_b"):
                if values[f"{k}_{slot}"] == "none":
                    values[f"{k}_{slot}"] = "skip_connect"
    return space.genome(values)


class TestNasBench201Supernet(SupernetConformance):
    space_name = "nasbench201"
    space_options: ClassVar[dict[str, Any]] = {"channels": 8, "cells_per_stage": 1}
    genomes = 10


class TestDartsSupernet(SupernetConformance):
    space_name = "darts"
    space_options: ClassVar[dict[str, Any]] = {"channels": 4, "cells": 3}
    genomes = 6

    def expressible(self, space: Space, genome: Genome) -> Genome:
        return expressible(space, genome, darts.NODES, "n")

    def canonical(self, space: Space, genome: Genome) -> Genome:
        return inputs_in_order(space, genome, darts.NODES, "n")


class TestNasNetSupernet(SupernetConformance):
    space_name = "nasnet"
    space_options: ClassVar[dict[str, Any]] = {"cells": 1, "width": 4, "reductions": 1}
    genomes = 5
    rebuild = False  # 780 compiled candidates: the seed check runs in the slow test below

    def expressible(self, space: Space, genome: Genome) -> Genome:
        return expressible(space, genome, nasnet.BLOCKS, "b")

    def canonical(self, space: Space, genome: Genome) -> Genome:
        return inputs_in_order(space, genome, nasnet.BLOCKS, "b")


# --- the published cells and the default-sized networks --------------------------------------


def test_published_darts_cells_are_paths_of_the_supernet() -> None:
    space = create_space("darts", channels=4, cells=3)
    net = create_supernet(space, (3, 16, 16), seed=1)
    for baseline in (darts_cells.DARTS_V1, darts_cells.DARTS_V2, darts_cells.GDAS,
                     darts_cells.PC_DARTS, darts_cells.PDARTS):
        check_path_is_fixed_network(space, net, baseline.genome)
        # DARTS's rule reads the cell back from one-hot weights (inputs in order)
        back = net.genome_from_weights(one_hot_weights(net, baseline.genome))
        assert back == inputs_in_order(space, baseline.genome, darts.NODES, "n")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "options"), [
    ("nasbench201", {"channels": 8, "cells_per_stage": 2}),
    ("darts", {"channels": 8, "cells": 5}),
    ("nasnet", {"cells": 1, "width": 8}),
])
def test_many_paths_are_fixed_networks(name: str, options: dict[str, Any]) -> None:
    """The conformance check over 100 genomes at 32x32, at the recommended CPU sizes."""
    space = create_space(name, **options)
    net = create_supernet(space, (3, 32, 32), seed=0)
    again = create_supernet(space, (3, 32, 32), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                 again.state_dict().values(), strict=True))
    rng = random.Random(10)
    for i in range(100):
        check_path_is_fixed_network(space, net, space.sample(rng), batch=2, seed=i)


# --- machinery ---------------------------------------------------------------------------------


def test_spaces_with_a_supernet_and_the_error_for_others() -> None:
    assert supernet_spaces() == ["darts", "nasbench201", "nasnet"]
    with pytest.raises(SupernetError, match=r"space 'vgg' has no supernet; spaces with one: "
                                            r"darts, nasbench201, nasnet"):
        create_supernet("vgg")
    with pytest.raises(SupernetError, match="partial_channels=3 does not divide"):
        create_supernet("nasbench201", partial_channels=3, channels=8, cells_per_stage=1)
    with pytest.raises(SupernetError, match="an even number of"):
        create_supernet("darts", partial_channels=4, channels=4, cells=3)
    with pytest.raises(SupernetError, match="partial_channels must be an integer >= 1"):
        create_supernet("nasbench201", partial_channels=0)
    with pytest.raises(SupernetError, match=r"no squeeze-and-excitation \(space option se"):
        create_supernet("nasnet", se=True)


def test_genome_of_another_space_is_refused() -> None:
    net = create_supernet("nasbench201", (3, 8, 8), channels=4, cells_per_stage=1)
    genome = create_space("darts").sample(random.Random(0))
    with pytest.raises(SupernetError, match="genome of space 'darts'"):
        net(torch.randn(1, 3, 8, 8), genome)


def test_piece_keys_drop_the_scope_and_follow_swapped_layers() -> None:
    piece = Piece(lambda nb, x: darts.OPS["sep_conv_3x3"]("c", nb, x, 4, 1), (4, 6, 6), "c")
    assert list(piece.state_dict())[:2] == ["op.1.weight", "op.2.weight"]
    x = torch.randn(2, 4, 6, 6)
    piece.eval()
    before = piece(x)
    # swap a layer as SyncBatchNorm.convert_sync_batchnorm would: the compiled forward sees it
    bn = piece.get_submodule("op").get_submodule("7")
    replacement = torch.nn.BatchNorm2d(4).eval()
    replacement.load_state_dict(bn.state_dict())
    with torch.no_grad():
        replacement.bias.add_(1.0)
    piece.get_submodule("op").add_module("7", replacement)
    assert torch.allclose(piece(x), before + 1.0, atol=1e-6)
    fr = Piece(lambda nb, x: darts.OPS["skip_connect"]("c", nb, x, 4, 2), (4, 6, 6), "c")
    assert [n for n, _ in fr.named_children()] == ["relu", "conv_1", "shift", "conv_2", "bn"]
    fr.eval()
    before = fr(x)
    fr.bn = torch.nn.ReLU()  # a direct child swapped: the compiled forward sees it too
    assert (before < 0).any() and (fr(x) >= 0).all()
    with pytest.raises(AssertionError, match="outside the piece's scope"):
        Piece(lambda nb, x: nb.conv(x, 4, 1, name="stray"), (4, 6, 6), "c")


def test_channel_shuffle_interleaves_groups() -> None:
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


@pytest.mark.parametrize("stride", [1, 2])
def test_partial_channel_edge_is_pc_darts(stride: int) -> None:
    """Xu et al. 2020: mix the first C/K channels, pass the rest (2x2 max-pooled at stride
    2), concatenate, shuffle with K groups."""
    k, c = 4, 8

    def op(name: str) -> Piece:
        fn = darts.OPS[name]
        assert fn is not None
        return Piece(lambda nb, x: fn("c", nb, x, c // k, stride), (c // k, 6, 6), "c")

    edge = MixedEdge({"none": None, "max_pool_3x3": op("max_pool_3x3"),
                      "sep_conv_3x3": op("sep_conv_3x3")}, stride, partial_channels=k)
    x = torch.randn(2, c, 6, 6)
    w = torch.tensor([0.2, 0.3, 0.5])
    head, rest = x[:, : c // k], x[:, c // k:]
    mixed = 0.3 * edge.candidate(1)(head) + 0.5 * edge.candidate(2)(head)  # type: ignore[misc]
    if stride == 2:
        rest = F.max_pool2d(rest, 2, 2)
    want = torch.cat([mixed, rest], 1).view(2, k, c // k, *mixed.shape[2:]).transpose(1, 2)
    assert torch.allclose(edge.forward_weighted(x, w), want.reshape(2, c, *mixed.shape[2:]))


def test_gumbel_hard_is_one_hot_seeded_and_follows_the_logits() -> None:
    alpha = torch.tensor([[0.0, 5.0, 0.0], [4.0, 0.0, 0.0]], requires_grad=True)
    a = gumbel_hard(alpha, 1.0, torch.Generator().manual_seed(0))
    b = gumbel_hard(alpha, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    picks = [gumbel_hard(alpha, 1.0, torch.Generator().manual_seed(s)).argmax(-1).tolist()
             for s in range(200)]
    assert sum(p == [1, 0] for p in picks) > 150  # the strong ops win most draws
    (a * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_strongest_inputs_is_dartss_rule() -> None:
    w = torch.tensor([[0.9, 0.05, 0.05],  # source 0: strongest is "none" (excluded): 0.05
                      [0.1, 0.6, 0.3],  # source 1: op 1 at 0.6
                      [0.2, 0.3, 0.5]])  # source 2: op 2 at 0.5
    assert strongest_inputs(w, exclude=0) == [(1, 1), (2, 2)]
    assert strongest_inputs(w) == [(0, 0), (1, 1)]
    assert [edge_index(j, 0) for j in range(5)] == [0, 2, 5, 9, 14]


def test_supernet_trains_along_random_paths() -> None:
    """A few SPOS steps (Guo et al. 2019): each step a uniformly sampled path; only that
    path's weights move, and the loss on a fixed batch goes down."""
    space = create_space("nasbench201", channels=4, cells_per_stage=1)
    net: Supernet = create_supernet(space, (3, 8, 8), num_classes=3, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 8, 8, generator=gen), torch.randint(0, 3, (16,), generator=gen)
    rng = random.Random(0)
    genome = space.sample(rng)
    first = F.cross_entropy(net(x, genome), y).item()
    for _ in range(15):
        opt.zero_grad()
        F.cross_entropy(net(x, space.sample(rng)), y).backward()
        opt.step()
    assert F.cross_entropy(net(x, genome), y).item() < first
