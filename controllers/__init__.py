"""The built-in controllers; importing this package registers them all.

``create_controller(name, space, seed=0, **options)`` is the way in; ``list_controllers()``
names them: ``rl`` (Zoph & Le's policy gradient), ``optuna`` (TPE by default, CMA-ES, GP,
random, NSGA-II), ``evolution`` (regularized evolution) and ``random``.
"""

from controllers.base import (
    CONTROLLERS,
    Controller,
    create_controller,
    list_controllers,
    register_controller,
)
from controllers.evolution import EvolutionConfig, RegularizedEvolution
from controllers.optuna_sampler import OptunaConfig, OptunaController
from controllers.random_search import RandomSearch
from controllers.rl import PolicyGradient, RLConfig

__all__ = [
    "CONTROLLERS",
    "Controller",
    "EvolutionConfig",
    "OptunaConfig",
    "OptunaController",
    "PolicyGradient",
    "RLConfig",
    "RandomSearch",
    "RegularizedEvolution",
    "create_controller",
    "list_controllers",
    "register_controller",
]
