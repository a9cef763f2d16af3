"""A search's configuration: what ``config.json`` in the run directory holds, and how it is
resolved (defaults, the dataset's recipe, the flags given to ``--resume``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nas.core.errors import NasError
from nas.core.metrics import metric_name
from nas.core.objective import Objective
from nas.evaluators.cluster import Resources
from nas.evaluators.early_stop import PRUNERS
from nas.evaluators.proxies import parse_combination
from nas.training.data import DataSplits, load_dataset
from nas.training.recipe import Recipe

STATE_FORMAT = 2  # 2: the evaluator's state is saved beside the controller's
#: Why regularized evolution is the default controller: it is asynchronous by nature (each
#: result updates the population alone; nothing waits for a batch), has no learning rate or
#: baseline to tune, keeps a tiny state, and matched or beat RL at every budget in Real et al.
#: (2019) and on NAS-Bench-201 (Dong & Yang 2020). ``--controller rl`` is Zoph & Le's method.
DEFAULT_CONTROLLER = "evolution"
#: Proposals in a row that were all answered from known results before the search concludes
#: that the controller has nothing new to propose (a converged policy or a tiny space).
REVISIT_LIMIT = 200


@dataclass
class SearchConfig:
    """A search, resolved: what ``config.json`` in the run directory holds.

    The first group defines the search and is fixed for the life of a run; the second says how
    to run it and may change when a run is resumed (another cluster, more GPUs); the third is
    filled by the search once its data are loaded, so that what reads a run later (``nas
    report``, ``nas export``) knows the input shape without loading the data.
    """

    space: str = "nasnet"  # the search space (`nas spaces` lists them): the lectures' NAS cell
    space_options: dict[str, Any] = field(default_factory=dict)  # network-level options
    controller: str = DEFAULT_CONTROLLER  # rl, optuna, evolution or random (see DEFAULT_CONTROLLER)
    controller_options: dict[str, Any] = field(default_factory=dict)
    evaluator: str = "train"  # how a child is judged (`nas evaluators`): trained from scratch
    evaluator_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"  # the bundled offline digits unless told otherwise
    data_dir: str | None = None  # where cifar10 / imagefolder data live
    trials: int | None = 12  # children to train, counted over the whole run
    time_budget: float | None = None  # seconds; no child starts after it (whole run)
    epochs: float = 2.0  # each child's training budget (2 on digits: 90-97 % for good cells)
    recipe: dict[str, Any] = field(default_factory=dict)  # Recipe fields to override
    seed: int = 0  # the controller's seed; the recipe's own seed stays the recipe's
    cost: str | None = None  # macs, params or latency_ms: traded against accuracy
    cost_target: float | None = None  # the cost at which the reward is plain accuracy
    early_stop: str | None = None  # stop weak children early: one of PRUNERS
    limit: int | None = None  # cap on training images (tests, smoke runs)
    storage: str | None = None  # an Optuna storage URL; None: study.db in the run directory
    #: stage one of a proxy-prefiltered search (nas.search.prefilter): a proxy, or a rank
    #: combination "meco:4,synflow", scores random cells; None: no stage one
    prefilter: str | None = None
    prefilter_cells: int = 1000  # random cells stage one scores
    prefilter_top: int = 8  # the best of them, judged first by the run's evaluator
    prefilter_batch_size: int = 64  # images in stage one's minibatch
    # --- how to run it (may change on resume) ---
    gpus: float | None = None  # GPUs to use; None: every GPU Ray sees (none: CPU workers)
    gpus_per_trial: float = 1.0  # a share < 1 packs several small children per GPU
    cpus_per_trial: float | None = None  # None: 1 per CPU child, <= 1 per GPU child
    address: str | None = None  # an existing Ray cluster ("auto" or HOST:PORT)
    max_retries: int = 2  # times a child is run again when its worker or node dies
    listen_all: bool = False  # a Ray started here listens on every interface (default: localhost)
    # --- what the search found its data to be (report and export read these, never the data)
    input_shape: list[int] | None = None  # (C, H, W) of the images; None until searched
    num_classes: int | None = None  # classes of the dataset; None until searched

    FIXED = ("space", "space_options", "controller", "controller_options", "evaluator",
             "evaluator_options", "dataset", "data_dir", "epochs", "recipe", "seed", "cost",
             "cost_target", "early_stop", "limit", "storage", "prefilter", "prefilter_cells",
             "prefilter_top", "prefilter_batch_size")

    def __post_init__(self) -> None:
        if self.cost is not None:  # runs saved when multiply-adds were called flops
            self.cost = metric_name(self.cost)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def objective(self) -> Objective:
        """What the run maximises: the reward every controller is told and the study records."""
        return Objective(cost=self.cost, cost_target=self.cost_target)

    def resources(self) -> Resources:
        """Where the children run (the how-to-run flags)."""
        return Resources(gpus=self.gpus, gpus_per_trial=self.gpus_per_trial,
                         cpus_per_trial=self.cpus_per_trial, address=self.address,
                         max_retries=self.max_retries, listen_all=self.listen_all)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        if isinstance(fields.get("early_stop"), bool):  # runs saved when it was on/off
            fields["early_stop"] = "sha" if fields["early_stop"] else None
        return cls(**fields)

    def check(self) -> None:
        """Budget and resource flags that cannot work, as one-line errors."""
        if self.trials is None and self.time_budget is None:
            raise NasError("give a budget: --trials N or --time-budget T")
        if self.trials is not None and self.trials < 1:
            raise NasError(f"--trials must be at least 1, got {self.trials}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise NasError(f"--time-budget must be positive, got {self.time_budget}")
        if self.epochs <= 0:
            raise NasError(f"--epochs must be positive, got {self.epochs}")
        if self.early_stop is not None and self.early_stop not in PRUNERS:
            raise NasError(f"--early-stop {self.early_stop}: unknown; known: "
                           f"{', '.join(PRUNERS)}")
        if self.gpus is not None and self.gpus < 0:
            raise NasError(f"--gpus must be >= 0, got {self.gpus}")
        if not 0 < self.gpus_per_trial <= 1:
            raise NasError(f"--gpus-per-trial must be in (0, 1] (a child trains on one "
                           f"device), got {self.gpus_per_trial}")
        if self.cpus_per_trial is not None and self.cpus_per_trial <= 0:
            raise NasError(f"--cpus-per-trial must be positive, got {self.cpus_per_trial}")
        self.objective()  # an unknown cost metric, or a cost without a target: one line
        if self.prefilter is not None:
            self.check_prefilter()

    def check_prefilter(self) -> None:
        parse_combination(self.prefilter or "")  # an unknown proxy lists the known ones
        if self.evaluator == "proxy":
            raise NasError("--prefilter scores cells with a proxy before the run's evaluator "
                           "judges the best; with --evaluator proxy there is nothing to "
                           "prefilter for: drop one of them")
        if self.prefilter_cells < 1:
            raise NasError(f"--prefilter-cells must be at least 1, got {self.prefilter_cells}")
        if not 1 <= self.prefilter_top <= self.prefilter_cells:
            raise NasError(f"--prefilter-top must be between 1 and --prefilter-cells "
                           f"({self.prefilter_cells}), got {self.prefilter_top}")
        if self.prefilter_batch_size < 2:
            raise NasError(f"--prefilter-batch-size must be at least 2, got "
                           f"{self.prefilter_batch_size}")


def parse_duration(text: str) -> float:
    """``"90"`` or ``"90s"`` -> 90.0; ``"30m"`` -> 1800.0; ``"2h"`` -> 7200.0; ``"1h30m"``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.fullmatch(r"\s*((?:\d+(?:\.\d+)?[smhd]?\s*)+)", text.lower())
    if not parts:
        raise NasError(f"bad duration {text!r}: use seconds (3600) or 90s, 30m, 2h, 1h30m")
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)([smhd]?)", text.lower()):
        total += float(number) * units[unit or "s"]
    return total


#: Recipe defaults per dataset, under the config's own ``recipe``. digits has 1,295 training
#: images: at the trainer's batch of 128 an epoch is 10 steps and a 2-epoch child stays near
#: chance (10-57 % measured); at 32 it is 40 steps and children reach 90-97 %.
DATASET_RECIPES: dict[str, dict[str, Any]] = {"digits": {"batch_size": 32}}


def resolve_recipe(config: SearchConfig) -> dict[str, Any]:
    """The trainer's default recipe, the dataset's defaults, then the config's overrides."""
    fields = {**DATASET_RECIPES.get(config.dataset, {}), **config.recipe}
    return Recipe.from_dict({**Recipe().to_dict(), **fields}).to_dict()


def load_data(config: SearchConfig) -> DataSplits:
    return load_dataset(config.dataset, config.data_dir, limit=config.limit)


