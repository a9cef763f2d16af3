"""The conformance tests every controller passes, as classes to subclass (like Optuna's
``optuna.testing.pytest_samplers``).

A controller's author (a plug-in's too) subclasses :class:`ControllerTests` in a test module,
names the controller and its options, and pytest collects the inherited tests, once per space::

    class TestMyController(ControllerTests):
        controller = "mine"
        # small settings, to reach the learning phase in a few steps
        options: ClassVar[dict[str, Any]] = {"population_size": 5}
        spaces = ("nasbench201",)  # default: every registered space

The tests (each calls a check below, which raises ``AssertionError`` naming what broke):

* :func:`check_proposals` -- proposals are valid genomes of the space (in decision order,
  JSON round trip); single and batched proposals; failed children and genomes the controller
  did not propose can be told;
* :func:`check_seeds` -- the same seed and the same results give the same proposals, another
  seed gives other proposals;
* :func:`check_state_round_trip` -- ``state_dict`` is plain data and tensors, saved to real
  files (:mod:`nas.core.statefile`, no pickle) and loaded back equal; a fresh controller
  restored from it has the same state and proposes exactly what the original proposes next,
  including with proposals still open (asynchronous search);
* :func:`check_learns` -- on a synthetic reward where one option of every decision is right,
  the controller proposes right options more often after learning than a uniform proposer
  (``learns = False``: no more often, for a controller that ignores results).

:func:`synthetic_metrics` is that reward: accuracy = 100 x the fraction of decisions set to
their target option (targets drawn from a seeded RNG, so never simply "option 0"), with
constant costs so that cost-aware controllers see the same ranking. :func:`tell` and
:func:`drive` tell a controller results the way a search does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from controllers.base import Controller, create_controller
from nas.core import statefile
from nas.core.genome import Genome
from nas.core.objective import Objective
from nas.core.space import Space, create_space, list_spaces

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
                "macs": 1e6, "params": 1e5, "latency_ms": 1.0}

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


def check_state_round_trip(name: str, space: Space, directory: str | Path,
                           options: Mapping[str, Any] | None = None, steps: int = 12,
                           after: int = 6) -> None:
    """Snapshot after ``steps`` results with two proposals still open, through the state
    files in ``directory``; compare ``after`` more proposals of the original and a restored
    controller."""
    options = dict(options or {})
    metrics = synthetic_metrics(space)
    original = create_controller(name, space, seed=5, **options)
    drive(original, metrics, steps)
    open_ = [original.propose(), original.propose()]  # asked, not yet told
    state = original.state_dict()
    path = Path(directory) / "state.json"
    try:
        statefile.save(path, state)
    except TypeError as e:
        raise AssertionError(f"{name}: state_dict is not plain data and tensors: {e}") from None
    loaded = statefile.load(path)
    assert same_state(loaded, state), f"{name}: the state changed on its way through the files"

    def finish(c: Controller) -> list[Genome]:
        for genome in reversed(open_):  # results arrive out of order
            tell(c, genome, metrics(genome))
        return drive(c, metrics, after)

    expected = finish(original)
    restored = create_controller(name, space, seed=999, **options)  # the seed is restored too
    restored.load_state_dict(loaded)
    assert same_state(restored.state_dict(), state), (
        f"{name} on {space.name}: the restored controller's state_dict differs from the saved")
    assert finish(restored) == expected, (
        f"{name} on {space.name}: the restored controller proposes differently")


def same_state(a: Any, b: Any) -> bool:
    """Whether two states are equal: same structure and types, tensors equal in dtype, shape
    and every element (NaN equal to NaN)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
                and a.dtype == b.dtype and a.shape == b.shape
                and (torch.equal(a, b) or (a.is_floating_point()  # NaN == NaN here
                                           and torch.equal(a.isnan(), b.isnan())
                                           and torch.equal(a.nan_to_num(), b.nan_to_num()))))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


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


# --- the tests to subclass ---------------------------------------------------------------------


class ControllerTests:
    """The conformance tests of one controller; subclass it as ``Test...`` (see the module
    docstring). Set :attr:`controller` and :attr:`options`; the other attributes tune the
    checks. To test fewer spaces, set :attr:`spaces`; to mark a test (e.g. slow), override it
    and call ``super()``.
    """

    controller: ClassVar[str]  # the registered name
    options: ClassVar[dict[str, Any]] = {}  # the controller's options in every test
    spaces: ClassVar[Sequence[str]] = ()  # the spaces to test on; () for every registered one
    steps: ClassVar[int] = 12  # results told before proposals, seeds and state are checked
    after: ClassVar[int] = 6  # proposals compared after a state round trip
    learns: ClassVar[bool] = True  # learns from results (False: must ignore them, as random)
    learn_steps: ClassVar[int] = 60  # results to learn from before the probe
    learn_probe: ClassVar[int] = 20  # proposals measured after learning
    min_z: ClassVar[float] = 3.0  # learning: hits above uniform, in standard errors

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = list(cls.spaces) or list_spaces()

        # one fixture per subclass, so that each can choose its spaces
        @pytest.fixture(params=names)
        def space(self: ControllerTests, request: pytest.FixtureRequest) -> Space:
            return create_space(request.param)

        cls.space = space  # type: ignore[attr-defined]

    def test_proposals(self, space: Space) -> None:
        check_proposals(self.controller, space, self.options, steps=self.steps)

    def test_seeds(self, space: Space) -> None:
        check_seeds(self.controller, space, self.options, steps=self.steps)

    def test_state_round_trip(self, space: Space, tmp_path: Path) -> None:
        check_state_round_trip(self.controller, space, tmp_path, self.options,
                               steps=self.steps, after=self.after)

    def test_learns(self, space: Space) -> None:
        learned = check_learns(self.controller, space, self.options, steps=self.learn_steps,
                               probe=self.learn_probe)
        if self.learns:
            assert learned.z > self.min_z, f"{self.controller} on {space.name}: {learned}"
        else:  # a uniform proposer passes 4 standard errors with probability ~6e-5
            assert abs(learned.z) < 4, f"{self.controller} on {space.name}: {learned}"
