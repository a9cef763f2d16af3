"""The ``convnet`` space: every genome builds at every input size (see its padding rule)."""

from __future__ import annotations

import random

import pytest

from nas import get_space, totals


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 8), (3, 224, 224)])
def test_every_sampled_genome_builds(shape: tuple[int, int, int]) -> None:
    space = get_space("convnet")
    rng = random.Random(0)
    for _ in range(300):
        space.graph(space.sample(rng), shape, 10)


def test_decisions_and_the_median_sample_at_cifar_size() -> None:
    space = get_space("convnet")
    names = [d.name for d in space.decisions]
    assert names[:6] == ["layers", "conv1_filters", "conv1_kernel", "conv1_stride", "conv1_pad",
                         "conv1_pool"]
    assert names[-4:] == ["activation", "fc_layers", "fc_width", "dropout"]
    rng = random.Random(1)
    params = sorted(totals(space.graph(space.sample(rng), (3, 32, 32), 10)).params
                    for _ in range(200))
    assert params[100] < 5_000_000
