"""Regularized (aging) evolution (Real, Aggarwal, Huang & Le, AAAI 2019).

A population of the ``population_size`` most recent results; each new child copies the best of
``sample_size`` members drawn at random (a tournament) and changes one decision to a different
option. The child joins the population and the *oldest* member dies, whatever its fitness:
ageing keeps the search from resting on one lucky architecture and makes it robust to noisy
rewards. Until ``population_size`` children have been proposed, children are random; results
told for genomes it did not propose (a warm start: the best cells of a proxy prefilter,
:mod:`nas.search.prefilter`, as Abdelfattah et al. 2021 seed the population) take the place
of as many random ones.

Fitness is the reward the controller is told (validation accuracy, or accuracy traded against a
cost: :mod:`nas.core.objective`); a failed child has fitness 0 and simply ages out.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Mapping
from typing import Any

from controllers.base import (
    Controller,
    checked_indices,
    register_controller,
    rng_state,
    set_rng_state,
)
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.objective import FAILED_REWARD
from nas.core.space import Space


@dataclasses.dataclass
class EvolutionConfig:
    population_size: int = 20  # P: results kept alive; the first P children are random
    sample_size: int = 5  # S: tournament size; larger S exploits the best members more

    def __post_init__(self) -> None:
        if self.population_size < 1 or self.sample_size < 1:
            raise NasError("evolution: population_size and sample_size must be >= 1")


@register_controller
class RegularizedEvolution(Controller):
    name = "evolution"
    Config = EvolutionConfig
    config: EvolutionConfig

    def __init__(self, space: Space, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, seed=seed, **options)
        self.rng = random.Random(self.seed)
        # (option indices, fitness), oldest first
        self.population: deque[tuple[tuple[int, ...], float]] = deque()
        self.proposed = 0
        self.asked: dict[tuple[int, ...], int] = {}  # proposed, result not told yet: how often
        self.given = 0  # results told for genomes it did not propose (a warm start)
        # decisions with a real choice: mutating a one-option decision would change nothing
        self._mutable = [i for i, d in enumerate(space.decisions) if len(d.options) > 1]

    def propose(self) -> Genome:
        self.proposed += 1
        if self.proposed + self.given <= self.config.population_size or not self.population:
            genome = self.space.sample(self.rng)
        else:
            k = min(self.config.sample_size, len(self.population))
            # max() keeps the first of equals, so ties go to the earlier draw: repeatable
            parent, _ = max(self.rng.sample(list(self.population), k), key=lambda m: m[1])
            genome = self.space.from_indices(self.mutate(parent))
        indices = tuple(self.space.to_indices(genome))
        self.asked[indices] = self.asked.get(indices, 0) + 1
        return genome

    def mutate(self, indices: tuple[int, ...]) -> list[int]:
        """``indices`` with one decision moved to a different option, chosen uniformly."""
        child = list(indices)
        if not self._mutable:  # a space of one genome: nothing to mutate
            return child
        i = self.rng.choice(self._mutable)
        n = len(self.space.decisions[i].options)
        child[i] = (child[i] + self.rng.randrange(1, n)) % n  # any option but the current one
        return child

    def tell(self, genome: Genome, reward: float | None,
             metrics: Mapping[str, float] | None = None) -> None:
        indices = tuple(self.space.to_indices(self.space.validate(genome)))
        if self.asked.get(indices, 0) > 0:
            self.asked[indices] -= 1
            if not self.asked[indices]:
                del self.asked[indices]
        else:
            self.given += 1
        self.population.append((indices, FAILED_REWARD if reward is None else float(reward)))
        while len(self.population) > self.config.population_size:
            self.population.popleft()  # the oldest dies, however fit

    def _state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng),
                "population": [[list(i), f] for i, f in self.population],  # oldest first
                "proposed": self.proposed, "given": self.given,
                "asked": [[list(i), n] for i, n in self.asked.items()]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.population = deque((tuple(checked_indices(self.space, i)), float(f))
                                for i, f in state["population"])
        self.proposed = int(state["proposed"])
        self.given = int(state.get("given", 0))  # states saved before warm starts: none
        self.asked = {tuple(checked_indices(self.space, i)): int(n)
                      for i, n in state.get("asked", [])}
