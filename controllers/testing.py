"""The conformance suite every controller runs, on every space (like Optuna's ``testing``).

Each check takes a controller name, a space and the controller's options, and raises
``AssertionError`` with a message naming what broke:

* :func:`check_proposals` -- proposals are valid genomes of the space (in decision order,
  JSON round trip); single and batched proposals; failed children and genomes the controller
  did not propose can be told;
* :func:`check_seeds` -- the same seed and the same results give the same proposals, another
  seed gives other proposals;
* :func:`check_state_round_trip` -- a controller restored from a pickled ``state_dict`` in a
  fresh object proposes exactly what the original proposes next, including with proposals
  still open (asynchronous search);
* :func:`check_learns` -- on a synthetic reward where one option of every decision is right,
  the controller proposes right options more often after learning than a uniform proposer.

:func:`synthetic_metrics` is that reward: accuracy = 100 x the fraction of decisions set to
their target option (targets drawn from a seeded RNG, so never simply "option 0"), with
constant costs so that cost-aware controllers see the same ranking.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controllers.base import Controller, create_controller
from nas.core.genome import Genome
from nas.core.objective import Objective
from nas.core.space import Space

Metrics = Callable[[Genome], dict[str, float] | None]


def targets(space: Space, seed: int = 1234) -> list[int]:
    """The synthetic reward's right option index per decision (seeded, fixed per space)."""
    rng = random.Random(seed)
    return [rng.randrange(len(d.options)) for d in space.decisions]


def match_fraction(space: Space, genome: Genome, target: Sequence[int]) -> float:
    """The fraction of ``genome``'s decisions that take their target option."""
    indices = space.to_indices(genome)
    return sum(i == t for i, t in zip(indices, target, strict=True)) / len(target)


def synthetic_metrics(space: Space, seed: int = 1234) -> Metrics:
    """A reward where each decision has one right option (see the module docstring)."""
    target = targets(space, seed)

    def metrics(genome: Genome) -> dict[str, float]:
        return {"accuracy": 100.0 * match_fraction(space, genome, target),
                "flops": 1e6, "params": 1e5, "latency_ms": 1.0}

    return metrics


def tell(controller: Controller, genome: Genome, metrics: Mapping[str, float] | None) -> None:
    """Tell ``controller`` a result the way a search does: with the reward the run's objective
    gives (here the plain accuracy) and the metrics."""
    controller.tell(genome, Objective().reward(metrics), metrics)


def drive(controller: Controller, metrics: Metrics, steps: int) -> list[Genome]:
    """``steps`` rounds of propose then tell; returns the proposals."""
    proposed = []
    for _ in range(steps):
        genome = controller.propose()
        tell(controller, genome, metrics(genome))
        proposed.append(genome)
    return proposed


def check_proposals(name: str, space: Space, options: Mapping[str, Any] | None = None,
                    steps: int = 12) -> None:
    options = dict(options or {})
    controller = create_controller(name, space, seed=0, **options)
    metrics = synthetic_metrics(space)
    for genome in [*drive(controller, metrics, steps), *controller.propose_batch(3)]:
        assert genome.space == space.name, f"{name} proposed a {genome.space} genome"
        assert space.validate(genome) == genome, f"{name}: {genome} is not in decision order"
        assert Genome.from_json(genome.to_json()) == genome, f"{name}: JSON changed {genome}"
    # a failed child, and a result for a genome this controller never proposed
    tell(controller, controller.propose(), None)
    tell(controller, space.sample(random.Random(7)), metrics(space.sample(random.Random(7))))
    assert space.validate(controller.propose()) is not None


def check_seeds(name: str, space: Space, options: Mapping[str, Any] | None = None,
                steps: int = 12) -> None:
    options = dict(options or {})
    metrics = synthetic_metrics(space)
    runs = [drive(create_controller(name, space, seed=s, **options), metrics, steps)
            for s in (3, 3, 4)]
    assert runs[0] == runs[1], f"{name} on {space.name}: seed 3 twice gave different genomes"
    if space.size() > steps:
        assert runs[0] != runs[2], f"{name} on {space.name}: seeds 3 and 4 gave the same run"


def check_state_round_trip(name: str, space: Space, options: Mapping[str, Any] | None = None,
                           steps: int = 12, after: int = 6) -> None:
    """Snapshot after ``steps`` results with two proposals still open; compare ``after`` more."""
    options = dict(options or {})
    metrics = synthetic_metrics(space)
    original = create_controller(name, space, seed=5, **options)
    drive(original, metrics, steps)
    open_ = [original.propose(), original.propose()]  # asked, not yet told
    state = pickle.loads(pickle.dumps(original.state_dict()))

    def finish(c: Controller) -> list[Genome]:
        for genome in reversed(open_):  # results arrive out of order
            tell(c, genome, metrics(genome))
        return drive(c, metrics, after)

    expected = finish(original)
    restored = create_controller(name, space, seed=999, **options)  # the seed is restored too
    restored.load_state_dict(state)
    assert finish(restored) == expected, (
        f"{name} on {space.name}: the restored controller proposes differently")


@dataclass
class Learning:
    """How often a controller's proposals hit the synthetic reward's target options."""

    uniform: float  # expected fraction of decisions on target for a uniform proposer
    observed: float  # the fraction in the probe proposals
    z: float  # (observed - uniform) in standard errors of a uniform proposer's fraction


def check_learns(name: str, space: Space, options: Mapping[str, Any] | None = None,
                 steps: int = 60, probe: int = 20, seed: int = 0) -> Learning:
    """Learn for ``steps`` results, then measure ``probe`` proposals (told, as in a search).

    The caller asserts on the evidence it needs, e.g. ``z > 4`` for a learner (a uniform
    proposer exceeds 4 standard errors with probability ~3e-5) and ``|z| < 4`` for random
    search. The z-score counts every decision of every probe as one trial, which is right
    for a proposer that ignores results and conservative for one that does not.
    """
    options = dict(options or {})
    metrics = synthetic_metrics(space)
    target = targets(space)
    controller = create_controller(name, space, seed=seed, **options)
    drive(controller, metrics, steps)
    probes = drive(controller, metrics, probe)
    hit = [1 / len(d.options) for d in space.decisions]  # P(on target) if uniform
    uniform = sum(hit) / len(hit)
    observed = sum(match_fraction(space, g, target) for g in probes) / len(probes)
    # the fraction's standard error under the uniform proposer: a mean of probe * D
    # independent Bernoulli(hit_t) draws
    std = math.sqrt(sum(p * (1 - p) for p in hit) * probe) / (probe * len(hit))
    return Learning(uniform, observed, (observed - uniform) / std if std > 0 else 0.0)
