"""Every genome a space offers a controller must build: the invalid fraction of uniformly
random genomes, per space, at CIFAR-10's input (3x32x32, 10 classes). Goal: 0.

The default suite tries 250 genomes per space; the slow test the issue's 10,000. Spaces that
still offer invalid genomes on this branch are marked xfail with what fails, so that the
fraction shows in the test output until their fix lands (none today: resnet's group widths
are a ratio of the block's width, and vgg pads a pool whose map is smaller than its window).
"""

from __future__ import annotations

import random

import pytest

from nas.core.errors import NasError
from nas.core.space import create_space, list_spaces

INPUT = (3, 32, 32)
CLASSES = 10
#: spaces that offer invalid genomes at INPUT on this branch, and why
KNOWN: dict[str, str] = {}


def invalid_fraction(space_name: str, n: int, seed: int = 0) -> tuple[float, list[str]]:
    space = create_space(space_name)
    rng = random.Random(seed)
    reasons: list[str] = []
    for _ in range(n):
        genome = space.sample(rng)
        try:
            space.graph(genome, INPUT, CLASSES)
        except NasError as e:
            reasons.append(str(e))
    return len(reasons) / n, reasons


def _spaces() -> list[object]:
    return [pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN[name], strict=False))
            if name in KNOWN else name for name in list_spaces()]


def _check(space_name: str, n: int) -> None:
    fraction, reasons = invalid_fraction(space_name, n)
    print(f"{space_name}: {len(reasons)} of {n} random genomes invalid ({fraction:.2%})")
    assert fraction == 0, (f"{space_name}: {len(reasons)} of {n} random genomes do not build "
                           f"at {INPUT}, e.g. {reasons[0]}")


@pytest.mark.parametrize("space_name", _spaces())
def test_random_genomes_build(space_name: str) -> None:
    _check(space_name, 250)


@pytest.mark.slow
@pytest.mark.parametrize("space_name", _spaces())
def test_10000_random_genomes_build(space_name: str) -> None:
    _check(space_name, 10_000)
