"""Every registered space passes the conformance suite on sampled genomes."""

from __future__ import annotations

import random

import pytest
import torch

from nas import GenomeError, UnknownNameError, create_space, get_space, list_spaces
from nas.core.genome import Genome
from nas.core.space import validate_genome
from nas.testing.spaces import check_space

SPACES = list_spaces()
# Network-level options that keep 200 forward/backward passes cheap without changing the
# decisions: NAS-Bench-201's full 15-cell network is checked in tests/test_nasbench201.py.
CHEAP = {"nasbench201": {"channels": 8, "cells_per_stage": 1},
         "darts": {"channels": 4, "cells": 3}}
# Samples per space (default 200): fewer for the spaces whose uniform samples are the most
# expensive to build and run (darts compiles ~130 layers per genome; Inception-ResNet's
# 20-module groups, DenseNets at full CIFAR resolution, wide plain convnets); each of them
# builds every sample (tests/test_space_*.py check more genomes, as graphs only), so fewer
# samples still cover every kind of block.
SAMPLES = {"darts": 50, "inception": 60, "densenet": 60, "convnet": 80, "resnet": 100}
#: The default suite's share of those samples (the slow suite builds them all; every space's
#: 500 random genomes are checked as graphs in tests/test_space_validity.py)
QUICK = 10


@pytest.mark.parametrize("name", SPACES)
def test_sampled_genomes_build_or_are_rejected_clearly(name: str) -> None:
    _check_sampled(name, SAMPLES.get(name, 200) // QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
def test_all_sampled_genomes_build_or_are_rejected_clearly(name: str) -> None:
    _check_sampled(name, SAMPLES.get(name, 200))


def _check_sampled(name: str, n: int) -> None:
    torch.manual_seed(0)
    report = check_space(create_space(name, **CHEAP.get(name, {})), n=n, seed=0)
    assert report.built + report.rejected == n
    assert report.built >= n // 2, f"{name}: only {report.built}/{n} sampled genomes build"
    if name in SAMPLES:  # these spaces reject no genome at all (at 3x32x32)
        assert report.built == n, report.reasons[:3]


@pytest.mark.parametrize("name", SPACES)
def test_genome_validation_names_the_decision(name: str) -> None:
    space = get_space(name)
    genome = space.sample(random.Random(1))
    first = space.decisions[0]
    with pytest.raises(GenomeError, match=first.name):
        space.validate(genome.replace(**{first.name: "not-an-option"}))
    values = genome.as_dict()
    del values[first.name]
    with pytest.raises(GenomeError, match=f"missing decision '{first.name}'"):
        validate_genome(Genome.from_dict({"space": name, "values": values}))
    with pytest.raises(GenomeError, match="unknown decision 'bogus'"):
        validate_genome(Genome.from_dict({"space": name,
                                          "values": {**genome.as_dict(), "bogus": 1}}))


@pytest.mark.parametrize("name", SPACES)
def test_space_size_and_indices(name: str) -> None:
    space = get_space(name)
    assert space.size() >= 2
    genome = space.sample(random.Random(2))
    assert space.from_indices(space.to_indices(genome)) == genome


def test_unknown_space_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"known: .*resnet"):
        create_space("resnett")
    with pytest.raises(UnknownNameError, match="unknown space 'nope'"):
        validate_genome(Genome.from_json('{"space": "nope", "values": {}}'))


def test_genome_id_is_stable_and_json_exact() -> None:
    space = get_space(SPACES[0])
    genome = space.sample(random.Random(3))
    assert Genome.from_json(genome.to_json()) == genome
    assert genome.id == Genome.from_json(genome.to_json(indent=2)).id
    assert len(genome.id) == 12
