"""Conformance checks that every space ships with (like Optuna's ``testing`` suites).

``check_space(space)`` samples genomes and checks that each either builds, runs forward and
backward with finite outputs and gradients, counts the same parameters in the graph as in the
module, and round-trips through JSON, or is rejected up front with a clear
:class:`~nas.core.errors.NasError` (never a shape error from deep inside torch).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from nas.core.cost import totals
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import Space


@dataclass
class ConformanceReport:
    built: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)  # a few rejection messages, for the log


def check_genome(space: Space, genome: Genome, input_shape: tuple[int, int, int] = (3, 32, 32),
                 num_classes: int = 10, batch: int = 2) -> bool:
    """Check one genome; return False when the space rejected it up front (a NasError)."""
    again = Genome.from_json(genome.to_json())
    assert again == genome and again.id == genome.id, "JSON round-trip changed the genome"
    try:
        graph = space.graph(genome, input_shape, num_classes)
    except NasError as e:
        assert str(e), "a rejection must say why"
        return False
    model = space.build(genome, input_shape, num_classes)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == totals(graph).params, (
        f"{genome}: module has {n_params} parameters, cost model says {totals(graph).params}")
    model.train()
    x = torch.randn(batch, *input_shape)
    y = model(x)
    assert y.shape == (batch, num_classes), f"{genome}: output shape {tuple(y.shape)}"
    assert torch.isfinite(y).all(), f"{genome}: non-finite output"
    y.float().pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), f"{genome}: bad grad in {name}"
    return True


def check_space(space: Space, n: int = 200, seed: int = 0,
                input_shape: tuple[int, int, int] = (3, 32, 32),
                num_classes: int = 10) -> ConformanceReport:
    """Run :func:`check_genome` on ``n`` genomes sampled with a seeded RNG."""
    rng = random.Random(seed)
    report = ConformanceReport()
    for _ in range(n):
        genome = space.sample(rng)
        try:
            ok = check_genome(space, genome, input_shape, num_classes)
        except NasError as e:  # rejected at build time with a clear message: also fine
            ok = False
            report.reasons.append(str(e))
        if ok:
            report.built += 1
        else:
            report.rejected += 1
    return report
