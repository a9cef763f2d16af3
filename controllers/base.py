"""The controller interface: propose genomes, be told their results, save and load state.

A controller is the search strategy. It sees a space only through its decisions (each a
categorical :class:`~nas.core.space.Decision` with a fixed option list) and the space's
``from_indices`` / ``to_indices`` / ``sample``, so any controller drives any space and never
imports a concrete one (DESIGN.md, choice 7).

The protocol is ask-and-tell, as in Optuna, and asynchronous: the search driver may ``propose``
several genomes before any result comes back, and results may be ``tell``-ed in any order.

Duplicates. A controller may propose a genome that it has already been told about (TPE and
aging evolution do, by design). Whoever evaluates it is expected to answer such a revisit from
its cache of results instead of training the child again, and ``tell`` it again: a controller
treats every ``tell`` as one more observation, whether or not it proposed that genome (a
driver may also seed a search with known genomes, e.g. the classics). The tabular benchmark
(:mod:`nas.search.benchmark`) follows the NAS-Bench-201 convention: a query is the evaluation
of a *distinct* architecture; revisits are served from the cache and are not counted.

Every controller is reproducible: the same space, seed and sequence of ``tell`` calls give
the same proposals, and ``load_state_dict(state_dict())`` on a fresh controller continues
exactly where the old one stopped (same next proposals).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from nas.core.config import make_config
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.registry import Registry
from nas.core.space import Space


@dataclasses.dataclass
class NoOptions:
    """The options of a controller that has none."""


class Controller(ABC):
    """Proposes genomes of ``space`` and learns from their results.

    Subclasses set ``name`` (their registered name) and ``Config`` (a dataclass of options with
    a commented default per field); ``__init__`` turns ``**options`` into ``self.config`` and
    rejects unknown ones with a :class:`~nas.core.errors.NasError` that lists the known ones.
    """

    name: ClassVar[str]
    Config: ClassVar[type[Any]] = NoOptions
    batch_size: int = 1  # results per learning step (rl: per policy update)

    def __init__(self, space: Space, *, seed: int = 0, **options: Any) -> None:
        self.space = space
        self.seed = int(seed)
        self.config = make_config(self.Config, options, f"controller {self.name!r}")

    # --- ask and tell --------------------------------------------------------------------

    @abstractmethod
    def propose(self) -> Genome:
        """A genome to evaluate next (ask)."""

    def propose_batch(self, n: int) -> list[Genome]:
        """``n`` genomes to evaluate concurrently (all proposed before any result is told)."""
        return [self.propose() for _ in range(n)]

    @abstractmethod
    def tell(self, genome: Genome, reward: float | None,
             metrics: Mapping[str, float] | None = None) -> None:
        """Learn from ``genome``'s result.

        ``reward`` is the run's objective value for the child (:mod:`nas.core.objective`:
        validation accuracy in %, or accuracy traded against a cost), exactly the value the
        run's study records; None when the child failed (a controller that needs a number uses
        ``FAILED_REWARD``). ``metrics`` are the child's measurements (``"accuracy"`` and
        usually ``"macs"``, ``"params"``, ``"latency_ms"``), for controllers with more than
        one objective (optuna's nsga2); None when it failed. The genome need not have been
        proposed by this controller, and may have been told before (see the module docstring).
        """

    def pruner(self) -> str | None:
        """The early stopping this controller asks the search for (one of
        ``nas.evaluators.early_stop.PRUNERS``), or None. ``nas search --early-stop`` chooses
        it for any controller; this lets a controller's own options choose it (optuna's
        ``pruner``)."""
        return None

    def required_metrics(self) -> tuple[str, ...]:
        """Metrics ``tell`` needs besides the reward (an evaluator that computes costs only on
        request, such as a table, computes these)."""
        return ()

    # --- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as plain data (:mod:`nas.core.statefile`: dicts with
        str keys, lists, str, int, float, bool, None and tensors; no tuples): a snapshot that
        later calls do not change.

        Its public keys are ``controller``, ``space``, ``seed``, ``config`` and ``describe``
        (:meth:`describe`, for reports); the rest is the controller's own (:meth:`_state`).
        """
        own = self._state()
        clash = sorted(set(own) & set(PUBLIC_KEYS))
        if clash:
            raise TypeError(f"{type(self).__name__}._state uses the public key(s) {clash}")
        return {"controller": self.name, "space": self.space.name, "seed": self.seed,
                "config": _plain(dataclasses.asdict(self.config)), "describe": self.describe(),
                **own}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from a controller of the same name, space and options).

        The state may come from a file someone else wrote: anything that does not fit this
        controller raises one NasError line.
        """
        for key, mine in (("controller", self.name), ("space", self.space.name)):
            if state.get(key) != mine:
                raise NasError(f"cannot load a state saved by {key} {state.get(key)!r} into "
                               f"{key} {mine!r}")
        options = _plain(dataclasses.asdict(self.config))
        if state.get("config") != options:
            raise NasError(f"controller {self.name!r}: the saved state has options "
                           f"{state.get('config')}, this controller {options}; create it with the "
                           f"saved options to resume")
        try:
            self.seed = int(state["seed"])
            self._load_state(state)
        except NasError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            what = f"{type(e).__name__}: {e}".splitlines()[0]
            raise NasError(f"controller {self.name!r}: the saved state is damaged ({what}); "
                           "start a new run") from None

    def describe(self) -> dict[str, Any]:
        """What reports show about this controller, as JSON data (e.g. rl's entropy per
        update). Public and read by reports; :meth:`_state` is not. Nothing by default."""
        return {}

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The subclass's part of :meth:`state_dict` (copied; plain data and tensors)."""

    @abstractmethod
    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore the subclass's part of the state (exactly: the same next proposals)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, seed={self.seed}, {self.config})"


#: the keys of :meth:`Controller.state_dict` that are the interface, not the controller's own
PUBLIC_KEYS = ("controller", "space", "seed", "config", "describe")


def _plain(options: Mapping[str, Any]) -> Any:
    """Options as JSON gives them back (tuples as lists), so that saved and current compare."""
    return json.loads(json.dumps(options))


def checked_indices(space: Space, indices: Any) -> list[int]:
    """``indices`` if they are option indices of ``space`` (one in range per decision), else
    ValueError: for a state read from a file."""
    ok = (isinstance(indices, list) and len(indices) == len(space.decisions)
          and all(type(i) is int and 0 <= i < len(d.options)
                  for i, d in zip(indices, space.decisions)))
    if not ok:
        raise ValueError(f"{str(indices)[:60]} are not option indices of space {space.name!r}")
    return list(indices)


def rng_state(rng: random.Random) -> list[Any]:
    """``rng``'s state as plain data: [version, [625 ints], gauss_next]."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: Sequence[Any]) -> None:
    """Restore a state from :func:`rng_state` (``random`` checks its shape and types)."""
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


def optimizer_state(optimizer: Any) -> dict[str, Any]:
    """A torch optimizer's ``state_dict`` as plain data (a copy): per-parameter state keyed by
    str, tuples (Adam's betas) as lists."""
    sd = optimizer.state_dict()
    return {"state": {str(k): copy.deepcopy(dict(v)) for k, v in sd["state"].items()},
            "param_groups": [_lists(g) for g in sd["param_groups"]]}


def load_optimizer_state(optimizer: Any, state: Mapping[str, Any]) -> None:
    """Restore a state from :func:`optimizer_state`: keys back to ints, and back to tuples
    where the optimizer's own groups have tuples."""
    now = optimizer.state_dict()["param_groups"]
    groups = [{k: tuple(v) if isinstance(mine.get(k), tuple) else v for k, v in saved.items()}
              for saved, mine in zip(state["param_groups"], now, strict=True)]
    optimizer.load_state_dict({"state": {int(k): dict(v) for k, v in state["state"].items()},
                               "param_groups": groups})


def _lists(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _lists(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_lists(v) for v in obj]
    return obj


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread for the duration (the caller's setting is restored after).

    A controller's models are tiny (a ~50k-parameter LSTM fed one step at a time, a Gaussian
    process over a few hundred points): no op is big enough to gain from threads, and on a
    busy machine (a driver next to training workers) waking torch's thread pool costs 10-20x
    the work itself.
    """
    # imports torch: loaded here, where used, for start-up time
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


CONTROLLERS: Registry[type[Controller]] = Registry("controller", ("controllers",))


def register_controller(cls: type[Controller]) -> type[Controller]:
    """Class decorator: register a controller under its ``name``."""
    CONTROLLERS.register(cls.name, cls)
    return cls


def create_controller(name: str, space: Space, seed: int = 0, **options: Any) -> Controller:
    """The controller ``name`` for ``space``; unknown names and options raise NasError."""
    return CONTROLLERS.get(name)(space, seed=seed, **options)


def list_controllers() -> list[str]:
    return CONTROLLERS.names()
