"""Random search: every decision uniformly at random, independently of every result.

The reference every other controller must beat (Li & Talwalkar 2019; Yu et al. 2020), and the
shortest implementation of the interface, like Optuna's ``RandomSampler``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from controllers.base import Controller, register_controller, rng_state, set_rng_state
from nas.core.genome import Genome
from nas.core.space import Space


@register_controller
class RandomSearch(Controller):
    name = "random"

    def __init__(self, space: Space, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, seed=seed, **options)
        self.rng = random.Random(self.seed)

    def propose(self) -> Genome:
        return self.space.sample(self.rng)

    def tell(self, genome: Genome, reward: float | None,
             metrics: Mapping[str, float] | None = None) -> None:
        self.space.validate(genome)  # results are ignored, but a foreign genome is an error

    def _state(self) -> dict[str, Any]:
        return {"rng": rng_state(self.rng)}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
