"""Conformance suite every supernet ships with (a reusable test class, as Optuna's
``testing/pytest_samplers.py``).

Subclass :class:`SupernetConformance` in a test module, name the space and its (CPU-small)
options, and pytest runs every check on that space's supernet::

    class TestDartsSupernet(SupernetConformance):
        space_name = "darts"
        space_options = {"channels": 4, "cells": 3}

The central check: a single path through the supernet is exactly the network the space builds
for that genome. The path's weights (:meth:`~nas.core.supernet.Supernet.fixed_state_dict`)
load into ``space.build(genome)`` with ``strict=True`` and both give equal logits, in eval mode
and in train mode (batch statistics), over random genomes. The others: every forward mode
runs and reaches the arch weights; partial channels run; a seed fixes the weights; the
genome read back from one-hot weights is the genome (DARTS's rule, where it can express it);
bad arch weights are a clear error.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import pytest
import torch

from nas.core.genome import Genome
from nas.core.space import Space, create_space
from nas.core.supernet import (
    AllPaths,
    HardPath,
    Supernet,
    SupernetError,
    create_supernet,
    gumbel_hard,
)


def check_path_is_fixed_network(space: Space, supernet: Supernet, genome: Genome,
                                batch: int = 4, seed: int = 0) -> None:
    """The path of ``genome`` and ``space.build(genome)`` with its weights: equal logits in
    eval mode and in train mode (which also updates both networks' batch-norm statistics)."""
    fixed = space.build(genome, supernet.input_shape, supernet.num_classes)
    fixed.load_state_dict(supernet.fixed_state_dict(genome), strict=True)
    x = torch.randn(batch, *supernet.input_shape,
                    generator=torch.Generator().manual_seed(seed))
    was_training = supernet.training
    try:
        for train in (False, True):
            supernet.train(train)
            fixed.train(train)
            with torch.no_grad():
                got, want = supernet(x, genome), fixed(x)
            assert torch.equal(got, want), (
                f"{genome}: supernet path and fixed network differ by "
                f"{(got - want).abs().max().item():.3g} ({'train' if train else 'eval'} mode)")
    finally:
        supernet.train(was_training)


def one_hot_weights(supernet: Supernet, genome: Genome) -> dict[str, torch.Tensor]:
    """Arch weights with 1 on every (edge, op) the genome's path uses, 0 elsewhere."""
    out = {g: torch.zeros(n, len(ops)) for g, (n, ops) in supernet.groups.items()}
    for g, edges in supernet.path(genome).items():
        for e, ops in enumerate(edges):
            for k in ops:
                out[g][e, k] = 1.0
    return out


class SupernetConformance:
    """The checks; subclass with ``space_name`` and ``space_options`` (keep them small)."""

    space_name: ClassVar[str]
    space_options: ClassVar[dict[str, Any]] = {}
    input_shape: ClassVar[tuple[int, int, int]] = (3, 16, 16)
    num_classes: ClassVar[int] = 10
    genomes: ClassVar[int] = 6  # random genomes for the path == fixed network check
    partial_channels: ClassVar[int] = 2  # K for the partial-channel check
    rebuild: ClassVar[bool] = True  # build a second supernet to check that a seed fixes it

    @pytest.fixture(scope="class")
    def space(self) -> Space:
        return create_space(self.space_name, **self.space_options)

    @pytest.fixture(scope="class")
    def supernet(self, space: Space) -> Supernet:
        return create_supernet(space, self.input_shape, self.num_classes, seed=0)

    def test_single_path_is_the_fixed_network(self, space: Space, supernet: Supernet) -> None:
        rng = random.Random(0)
        for i in range(self.genomes):
            check_path_is_fixed_network(space, supernet, space.sample(rng), seed=i)

    def test_all_paths_and_hard_path_reach_the_arch_weights(self, supernet: Supernet) -> None:
        x = torch.randn(2, *self.input_shape, generator=torch.Generator().manual_seed(0))
        supernet.eval()  # batch norm with running statistics: no scale invariance
        alpha = supernet.arch_parameters(torch.Generator().manual_seed(0))
        for g, (n, ops) in supernet.groups.items():
            assert alpha[g].shape == (n, len(ops)) and alpha[g].requires_grad
        assert not any(a is p for a in alpha.values() for p in supernet.parameters())
        supernet.zero_grad()
        soft = AllPaths({g: a.softmax(-1) for g, a in alpha.items()})
        y = supernet(x, soft)
        assert y.shape == (2, self.num_classes) and torch.isfinite(y).all()
        y.square().mean().backward()
        for g, a in alpha.items():
            assert a.grad is not None and a.grad.abs().sum() > 0, g
        assert all(p.grad is not None for p in supernet.parameters())  # every op ran

        alpha = supernet.arch_parameters(torch.Generator().manual_seed(1))
        hard = {g: gumbel_hard(a, 5.0, torch.Generator().manual_seed(2))
                for g, a in alpha.items()}
        for h in hard.values():
            assert torch.allclose(h.detach().sum(-1), torch.ones(h.shape[0]))
            assert ((h.detach() - 0.5).abs() > 0.49).all()  # one-hot in value
        y = supernet(x, HardPath(hard))
        assert torch.isfinite(y).all()
        y.square().mean().backward()
        for g, a in alpha.items():
            assert a.grad is not None and a.grad.abs().sum() > 0, g
        supernet.zero_grad()

    def test_partial_channels_mix_a_fraction_of_each_edge(self, space: Space,
                                                          supernet: Supernet) -> None:
        k = self.partial_channels
        pc = create_supernet(space, self.input_shape, self.num_classes, partial_channels=k,
                             seed=0)
        full = sum(p.numel() for p in supernet.parameters())
        assert sum(p.numel() for p in pc.parameters()) < full
        alpha = pc.arch_parameters(torch.Generator().manual_seed(0))
        x = torch.randn(2, *self.input_shape)
        edge_w = {g: torch.ones(n) for g, (n, _) in pc.groups.items()}
        y = pc(x, AllPaths({g: a.softmax(-1) for g, a in alpha.items()}, edge_w))
        y.square().mean().backward()
        assert all(a.grad is not None for a in alpha.values())
        genome = space.sample(random.Random(2))
        assert torch.isfinite(pc(x, genome)).all()
        with pytest.raises(SupernetError, match="not fixed networks"):
            pc.fixed_state_dict(genome)

    def test_a_seed_fixes_the_weights(self, space: Space, supernet: Supernet) -> None:
        if not self.rebuild:
            pytest.skip(f"{self.space_name}: a second build is left to the slow checks")
        state = torch.random.get_rng_state()
        again = create_supernet(space, self.input_shape, self.num_classes, seed=0)
        assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
        # parameters only: the other checks ran the fixture in train mode (batch-norm stats)
        a, b = dict(supernet.named_parameters()), dict(again.named_parameters())
        assert list(a) == list(b)
        assert all(torch.equal(a[k], b[k]) for k in a)

    def test_genome_from_one_hot_weights_is_the_genome(self, space: Space,
                                                       supernet: Supernet) -> None:
        rng = random.Random(3)
        for _ in range(20):
            genome = space.sample(rng)  # any genome reads back as a valid one
            back = supernet.genome_from_weights(one_hot_weights(supernet, genome))
            assert space.validate(back) == back
            genome = self.expressible(space, genome)  # one the rule can read back exactly
            back = supernet.genome_from_weights(one_hot_weights(supernet, genome))
            assert back == self.canonical(space, genome), genome

    def test_bad_arch_weights_are_clear_errors(self, supernet: Supernet) -> None:
        x = torch.randn(1, *self.input_shape)
        with pytest.raises(SupernetError, match="must have groups"):
            supernet(x, AllPaths({"bogus": torch.zeros(1, 1)}))
        (g, (n, ops)), *_ = supernet.groups.items()
        wrong = {h: torch.zeros(m, len(o)) for h, (m, o) in supernet.groups.items()}
        wrong[g] = torch.zeros(n + 1, len(ops))
        with pytest.raises(SupernetError, match=rf"weights\['{g}'\] must be"):
            supernet(x, HardPath(wrong))

    # --- hooks for spaces whose genomes one-hot weights cannot always express ---------------

    def expressible(self, space: Space, genome: Genome) -> Genome:
        """``genome`` changed into one that DARTS's rule reads back from its one-hot weights
        (e.g. no ``none`` op, two different inputs per node); by default, itself."""
        return genome

    def canonical(self, space: Space, genome: Genome) -> Genome:
        """``genome`` as the rule reads it back (e.g. the two inputs of a node in order)."""
        return genome
