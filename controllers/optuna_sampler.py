"""Any Optuna sampler as a controller, through ask-and-tell on an in-memory study.

Each decision is one parameter, suggested in decision order: a categorical parameter over the
decision's options for TPE (Bergstra et al. 2011; multivariate, Falkner et al. 2018), the
Gaussian process (``gp``), ``random`` and NSGA-II (Deb et al. 2002). CMA-ES (Hansen 2016) works
on numbers, and Optuna hands categorical parameters to a random fallback, so for ``cmaes``
each decision is the integer index of its option instead, with CMA-ES with margin (Hamano et
al. 2022) keeping every index reachable; the option order then acts as a (weak) neighbourhood.

Single-objective samplers maximise the reward they are told (accuracy, or accuracy traded
against a cost: :mod:`nas.core.objective`). ``nsga2`` optimises two objectives, the reward
(max) and a cost (min: its ``cost`` option, ``macs`` by default, ``params`` or
``latency_ms``), and keeps the Pareto front (:meth:`pareto_front`).

The ``pruner`` option (median, successive halving, Hyperband) is the early stopping the
search applies to this controller's children (:meth:`pruner`; the same as ``nas search
--early-stop``): Optuna's pruner, fed each child's per-epoch validation accuracy in the search's
early-stopping actor (:class:`nas.evaluators.early_stop.EarlyStopper`). A failed child is
told as the worst reward (0) so that the model learns to avoid it (for ``nsga2``, a failed trial).

This study lives in memory and belongs to the controller; the search driver's run study is a
separate record.

State. The controller records what it was asked and told, in order: ``["ask", indices]`` for
each proposal (the option index per decision) and ``["tell", indices, values]`` for each
result (``values`` None for a failed nsga2 trial). ``state_dict`` is that record, plain JSON;
``load_state_dict`` replays it on a fresh study with a fresh sampler of the same seed: the same
asks and tells in the same order make every sampler (its random states, CMA-ES's optimizer,
the GP's cached kernel, NSGA-II's generations) exactly what it was, so the restored controller
proposes exactly what the original would have. Nothing is pickled: Optuna's samplers keep
state in places a file would have to unpickle (CMA-ES keeps a pickled optimizer in the
trials' system attrs), and replaying rebuilds all of it from the seed. The price is time:
each recorded ask is asked again, so a restore takes about as long as the search's own asks
took (``bench/controller_state.py``: at 200 trials on nasbench201, under a second for TPE,
CMA-ES, NSGA-II and random, but 20 s to 2 min for the GP; on the 72-decision inception space,
8 s for TPE and 20 s for CMA-ES, on a busy 2-core machine). Each replayed ask is checked
against the record; if a sampler proposes otherwise (another Optuna version, other floating
point), the rest is replayed with the recorded parameters fixed, and a warning says that the
continuation is no longer exactly the original's.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

from controllers.base import Controller, checked_indices, one_thread, register_controller
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.metrics import metric_name
from nas.core.objective import COST_METRICS, FAILED_REWARD
from nas.core.objective import PRUNERS as EARLY_STOPPERS
from nas.core.space import Space

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "cmaes", "gp", "random", "nsga2")
PRUNERS = ("none", *EARLY_STOPPERS)  # none: only what nas search --early-stop says


@dataclasses.dataclass
class OptunaConfig:
    sampler: str = "tpe"  # one of SAMPLERS
    pruner: str = "none"  # one of PRUNERS: the search's early stopping (see pruner())
    n_startup_trials: int = 10  # random trials before the model is used (tpe, gp, cmaes)
    multivariate: bool = True  # tpe: one joint density over all decisions, not one each
    population_size: int = 20  # nsga2: children per generation
    cost: str = "macs"  # nsga2: the cost it minimises beside the reward (one of COST_METRICS)

    def __post_init__(self) -> None:
        self.cost = metric_name(self.cost)  # flops: the old name of macs
        if self.sampler not in SAMPLERS:
            raise NasError(f"optuna: unknown sampler {self.sampler!r}; known: "
                           f"{', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise NasError(f"optuna: unknown pruner {self.pruner!r}; known: "
                           f"{', '.join(PRUNERS)}")
        if self.cost not in COST_METRICS:
            raise NasError(f"optuna: unknown cost metric {self.cost!r}; known: "
                           f"{', '.join(COST_METRICS)}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the in-memory study's per-trial log lines and experimental-API warnings."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


@register_controller
class OptunaController(Controller):
    name = "optuna"
    Config = OptunaConfig
    config: OptunaConfig

    def __init__(self, space: Space, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, seed=seed, **options)
        self.multi_objective = self.config.sampler == "nsga2"
        self._by_index = self.config.sampler == "cmaes"
        self.distributions: dict[str, BaseDistribution] = {
            d.name: (IntDistribution(0, len(d.options) - 1) if self._by_index
                     else CategoricalDistribution(d.options))
            for d in space.decisions}
        self.study = self._new_study(self._make_sampler())
        self.pending: dict[Genome, list[int]] = {}  # genome -> numbers of its open trials
        # every ask and tell, in order: the state (see the module docstring)
        self.events: list[list[Any]] = []

    # --- construction --------------------------------------------------------------------

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        cfg, seed = self.config, self.seed
        with _quiet():
            if cfg.sampler == "tpe":
                return optuna.samplers.TPESampler(n_startup_trials=cfg.n_startup_trials,
                                                  multivariate=cfg.multivariate, seed=seed)
            if cfg.sampler == "cmaes":
                if importlib.util.find_spec("cmaes") is None:
                    raise NasError("optuna sampler 'cmaes' needs the cmaes package: "
                                   "pip install cmaes")
                return optuna.samplers.CmaEsSampler(n_startup_trials=cfg.n_startup_trials,
                                                    with_margin=True, seed=seed)
            if cfg.sampler == "gp":
                return optuna.samplers.GPSampler(n_startup_trials=cfg.n_startup_trials,
                                                 seed=seed)
            if cfg.sampler == "random":
                return optuna.samplers.RandomSampler(seed=seed)
            return optuna.samplers.NSGAIISampler(population_size=cfg.population_size,
                                                 seed=seed)

    def _new_study(self, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        directions: list[StudyDirection] = [StudyDirection.MAXIMIZE]
        if self.multi_objective:
            directions.append(StudyDirection.MINIMIZE)
        with _quiet():
            return optuna.create_study(sampler=sampler, pruner=optuna.pruners.NopPruner(),
                                       directions=directions)

    # --- ask and tell --------------------------------------------------------------------

    def propose(self) -> Genome:
        genome = self._ask()
        self.events.append(["ask", self.space.to_indices(genome)])
        return genome

    def _ask(self, fixed: Genome | None = None) -> Genome:
        """Ask the study for a trial (with ``fixed``'s parameters, if given: no sampling)."""
        with _quiet(), one_thread():  # one_thread: the gp sampler fits its model in torch
            if fixed is not None:
                self.study.enqueue_trial(self._params(fixed))
            # fixed distributions are suggested in dict order: the space's decision order
            trial = self.study.ask(self.distributions)
        genome = self._genome(trial.params)
        self.pending.setdefault(genome, []).append(trial.number)
        return genome

    def _genome(self, params: Mapping[str, Any]) -> Genome:
        if self._by_index:
            return self.space.from_indices([int(params[d.name]) for d in self.space.decisions])
        return self.space.genome({d.name: params[d.name] for d in self.space.decisions})

    def _params(self, genome: Genome) -> dict[str, Any]:
        if self._by_index:
            return dict(zip(self.distributions, self.space.to_indices(genome), strict=True))
        return genome.as_dict()

    def _values(self, reward: float | None,
                metrics: Mapping[str, float] | None) -> list[float] | None:
        """The objective value(s) of a result; None for a failed multi-objective trial."""
        if not self.multi_objective:
            return [FAILED_REWARD if reward is None else float(reward)]
        if reward is None or metrics is None:
            return None
        cost = self.config.cost
        if cost not in metrics:
            raise NasError(f"optuna nsga2 minimises {cost!r} but this result has only "
                           f"{', '.join(sorted(metrics))}")
        return [float(reward), float(metrics[cost])]

    def required_metrics(self) -> tuple[str, ...]:
        return (self.config.cost,) if self.multi_objective else ()

    def tell(self, genome: Genome, reward: float | None,
             metrics: Mapping[str, float] | None = None) -> None:
        genome = self.space.validate(genome)
        values = self._values(reward, metrics)
        self._tell(genome, values)
        self.events.append(["tell", self.space.to_indices(genome), values])

    def _tell(self, genome: Genome, values: list[float] | None) -> None:
        open_trials = self.pending.get(genome)
        with _quiet():
            if not open_trials:  # a result we did not ask for: record it as a finished trial
                state = TrialState.COMPLETE if values is not None else TrialState.FAIL
                self.study.add_trial(optuna.trial.create_trial(
                    state=state, values=values, params=self._params(genome),
                    distributions=self.distributions))
                return
            number = open_trials.pop(0)
            if not open_trials:
                del self.pending[genome]
            if values is None:
                self.study.tell(number, state=TrialState.FAIL)
            else:
                self.study.tell(number, values)

    def pruner(self) -> str | None:
        return None if self.config.pruner == "none" else self.config.pruner

    # --- results -------------------------------------------------------------------------

    def pareto_front(self) -> list[tuple[Genome, list[float]]]:
        """The non-dominated results (nsga2: reward vs cost; else the best one), by number."""
        best = self.study.best_trials if self.multi_objective else [self.study.best_trial]
        return [(self._genome(t.params), list(t.values)) for t in best]

    # --- state ---------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        # the record of asks and tells (see the module docstring); the Optuna version, to
        # explain a replay that goes differently
        return {"events": copy.deepcopy(self.events), "optuna": optuna.__version__}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        events = [self._checked_event(e) for e in state["events"]]
        saved_with = str(state["optuna"])
        if not self._replay(events, exact=True):
            log.warning("optuna %s: the %s sampler proposes differently from the saved record "
                        "(written with optuna %s): the restored controller knows every result "
                        "but no longer continues exactly as the original would have",
                        optuna.__version__, self.config.sampler, saved_with)
            self._replay(events, exact=False)
        self.events = events

    def _checked_event(self, event: Any) -> list[Any]:
        """One recorded event, checked (it comes from a file): ask or tell, valid indices,
        values of the right count."""
        if isinstance(event, list) and len(event) == 2 and event[0] == "ask":
            return ["ask", checked_indices(self.space, event[1])]
        if isinstance(event, list) and len(event) == 3 and event[0] == "tell":
            values = event[2]
            count = 2 if self.multi_objective else 1
            if values is not None and not (
                    isinstance(values, list) and len(values) == count
                    and all(isinstance(v, int | float) and not isinstance(v, bool)
                            for v in values)):
                raise ValueError(f"bad values {str(values)[:40]} in a recorded tell")
            if values is None and not self.multi_objective:
                raise ValueError("a recorded tell without values")
            return ["tell", checked_indices(self.space, event[1]),
                    None if values is None else [float(v) for v in values]]
        raise ValueError(f"{str(event)[:60]} is not a recorded ask or tell")

    def _replay(self, events: list[list[Any]], exact: bool) -> bool:
        """Rebuild the study from ``events`` on a fresh sampler of this seed. ``exact``: let
        the sampler propose each ask and stop (False) at the first that differs from the
        record; otherwise fix each ask's parameters to the recorded ones."""
        self.study = self._new_study(self._make_sampler())
        self.pending = {}
        for kind, indices, *rest in events:
            genome = self.space.from_indices(indices)
            if kind == "tell":
                self._tell(genome, rest[0])
            elif self._ask(None if exact else genome) != genome:
                return False
        return True
