"""Controllers measured on a tabular benchmark: best accuracy found versus number of queries.

Each controller runs once per seed as a whole search (:func:`nas.search.loop.search_in_memory`,
the same loop as ``nas search``) with the ``table`` evaluator: propose, look the genome up,
tell, until it has spent its query budget. No Ray and no disk: a run takes a fraction of a
second. The measure is the best accuracy found so far after each query, summarised over seeds
at a few budgets: the mean, the spread (standard deviation over seeds) and a 95% confidence
interval of the mean (Student's t with seeds - 1 degrees of freedom; it is what says whether
two controllers' means differ). The plot draws the best-so-far curves (mean +- std) beside
the regret curves (optimum - best so far, mean with its 95% interval, on a log scale), where
differences near the optimum are visible.

Counting queries (NAS-Bench-201's convention). A query is the evaluation of a *distinct*
architecture. When a controller proposes an architecture it has already been answered for,
the answer comes from the cache, is told to the controller again (as a real search driver
would do), and costs nothing. The same rule holds for every controller. So that a controller
that has collapsed onto known architectures still ends, after ``max_revisits`` free revisits
in a row the next proposal is charged as a query whatever it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import Space, create_space
from nas.evaluators.table import Table, TableEvaluator
from nas.search.config import SearchConfig
from nas.search.loop import make_context, make_controller, search_in_memory

CHECKPOINTS = (10, 25, 50, 100)  # budgets at which the summary reports the best so far
MAX_REVISITS = 1000  # free revisits in a row before a revisit is charged as a query
REGRET_FLOOR = 0.01  # the regret plot is linear below this (a regret of 0 has no logarithm)


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` confidence interval of the mean of ``values`` (one per seed): mean +-
    t * std / sqrt(n), Student's t with n - 1 degrees of freedom; a point for one value."""
    n, mean = len(values), float(np.mean(values))
    if n < 2:
        return mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(np.std(values, ddof=1)) / n**0.5
    return mean - half, mean + half


@dataclass(frozen=True)
class ControllerSpec:
    """A controller and its options, written ``name[:option=value[:option=value...]]``.

    For example ``rl``, ``optuna:sampler=cmaes`` or ``evolution:population_size=50``; the whole
    text is the label used in tables, JSON and plots.
    """

    label: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ControllerSpec:
        name, *pairs = text.strip().split(":")
        if not name:
            raise NasError(f"empty controller name in {text!r}")
        options: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise NasError(f"controller {text!r}: expected option=value, got {pair!r}")
            options[key] = _literal(value)
        return cls(text.strip(), name, options)


def _literal(text: str) -> Any:
    """A command-line option value: int, float, true/false, none, or else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_specs(text: str, space: Space) -> list[ControllerSpec]:
    """Comma-separated controller specs, each checked (name and options) before any runs."""
    # imports networkx, optuna, torch: loaded here, where used, for start-up time
    from controllers import create_controller

    specs = [ControllerSpec.parse(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise NasError("no controller given; e.g. --controller rl,optuna,evolution,random")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise NasError(f"controller listed twice in {text!r}")
    for spec in specs:
        create_controller(spec.name, space, 0, **spec.options)  # unknown name/option: NasError
    return specs


@dataclass
class Run:
    """One controller, one seed."""

    accuracies: np.ndarray  # (queries,) the accuracy each query found
    curve: np.ndarray  # (queries,) best accuracy found after each query (running maximum)
    revisits: int  # proposals answered from the cache for free
    distinct: int  # distinct architectures evaluated (= queries unless revisits were charged)
    best: Genome  # the best genome found


def run_controller(spec: ControllerSpec, table: Table, seed: int, queries: int,
                   max_revisits: int = MAX_REVISITS,
                   evaluator: type[TableEvaluator] = TableEvaluator) -> Run:
    """Run ``spec`` with ``seed`` for ``queries`` distinct evaluations (see module docstring):
    a whole search, kept in memory, with the ``table`` evaluator."""
    config = SearchConfig(space=table.space.name, controller=spec.name,
                          controller_options=dict(spec.options), evaluator="table",
                          evaluator_options={"table": str(table.path)}, trials=queries,
                          seed=seed)
    space = create_space(config.space)
    judge = evaluator(make_context(config, space, make_controller(config, space)),
                      **config.evaluator_options)
    result = search_in_memory(config, evaluator=judge, revisit_limit=max_revisits,
                              repeat_when_exhausted=True)
    records = result.study.records()
    accuracies = np.array([float(r.accuracy or 0.0) for r in records])
    best = records[int(np.argmax(accuracies))].genome
    return Run(accuracies, np.maximum.accumulate(accuracies), result.revisits,
               len({r.genome for r in records}), best)


@dataclass
class Benchmark:
    """Every run of every controller: ``runs[label][seed]``."""

    queries: int
    seeds: int
    optimum: float  # the table's best accuracy
    runs: dict[str, list[Run]]
    first_seed: int = 0  # the runs used seeds first_seed .. first_seed + seeds - 1

    def curves(self, label: str) -> np.ndarray:
        """(seeds, queries) best-so-far accuracies."""
        return np.stack([r.curve for r in self.runs[label]])

    def regret(self, label: str) -> np.ndarray:
        """(seeds, queries) optimum - best so far: 0 once a run has found the optimum."""
        return np.maximum(self.optimum - self.curves(label), 0.0)

    def checkpoints(self) -> list[int]:
        """The summary's budgets: those of CHECKPOINTS within the budget, and the budget."""
        return sorted({q for q in CHECKPOINTS if q <= self.queries} | {self.queries})

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{label: {"<queries>": {"mean": .., "std": .., "ci95": [low, high]}}}`` of the best
        accuracy found: std over seeds (ddof=1), ci95 the 95% interval of the mean."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for label in self.runs:
            at = self.curves(label)
            ddof = 1 if self.seeds > 1 else 0
            out[label] = {str(q): {"mean": float(at[:, q - 1].mean()),
                                   "std": float(at[:, q - 1].std(ddof=ddof)),
                                   "ci95": list(interval(at[:, q - 1]))}
                          for q in self.checkpoints()}
        return out


def run_benchmark(specs: Sequence[ControllerSpec], table: Table, queries: int, seeds: int,
                  on_run: Callable[[ControllerSpec, int], None] | None = None,
                  first_seed: int = 0) -> Benchmark:
    """Run every spec with seeds first_seed .. first_seed + seeds - 1 (fresh seeds check
    that options tuned on the usual 0 .. 19 are not fitted to them); ``on_run(spec, i)``
    after the i-th run of a spec (0-based)."""
    if queries < 1 or seeds < 1 or first_seed < 0:
        raise NasError(f"queries and seeds must be at least 1 and the first seed at least 0, "
                       f"got {queries}, {seeds} and {first_seed}")
    if queries > len(table):
        raise NasError(f"{queries} queries is more than the table's {len(table)} archs")
    runs: dict[str, list[Run]] = {}
    for spec in specs:
        runs[spec.label] = []
        for i in range(seeds):
            runs[spec.label].append(run_controller(spec, table, first_seed + i, queries))
            if on_run is not None:
                on_run(spec, i)
    return Benchmark(queries, seeds, table.best()[1], runs, first_seed)


def plot(bench: Benchmark, path: str | Path, title: str = "") -> Path:
    """Two panels in one PNG, all controllers: the best accuracy found (mean over seeds with a
    +-1 std band) and the regret (optimum - best found: mean with its 95% interval, log scale
    above REGRET_FLOOR), both against the number of queries."""
    # imports PIL, matplotlib: loaded here, where used, for start-up time
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(12, 4.5), dpi=120)
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global backend
    best, regret = fig.subplots(1, 2)
    x = np.arange(1, bench.queries + 1)
    low = math.inf
    for label in bench.runs:
        at = bench.curves(label)
        mean, std = at.mean(axis=0), at.std(axis=0)
        (line,) = best.plot(x, mean, label=label, linewidth=1.6)
        best.fill_between(x, mean - std, np.minimum(mean + std, bench.optimum),
                          color=line.get_color(), alpha=0.15, linewidth=0)
        low = min(low, float((mean - std)[min(9, bench.queries - 1)]))  # from 10 queries on
        gap = bench.regret(label)
        band = np.array([interval(gap[:, q]) for q in range(bench.queries)])  # (queries, 2)
        regret.plot(x, gap.mean(axis=0), label=label, linewidth=1.6, color=line.get_color())
        regret.fill_between(x, np.maximum(band[:, 0], 0.0), band[:, 1],
                            color=line.get_color(), alpha=0.15, linewidth=0)
    best.axhline(bench.optimum, color="black", linestyle="--", linewidth=1,
                 label=f"optimum {bench.optimum:.2f}")
    best.set_ylim(low - 0.1, bench.optimum + 0.1)
    best.set_ylabel("best test accuracy found (%)")
    best.set_title("best found: mean and std over seeds")
    best.legend(loc="lower right")
    regret.set_yscale("symlog", linthresh=REGRET_FLOOR)
    regret.set_ylim(0, None)
    regret.set_ylabel("regret: optimum - best found (% points)")
    regret.set_title("regret: mean and 95% interval of the mean")
    regret.legend(loc="upper right")
    for ax in (best, regret):
        ax.set_xlim(1, bench.queries)
        ax.set_xlabel("queries (distinct architectures evaluated)")
        ax.grid(alpha=0.3, which="both")
    seeds = f"seeds {bench.first_seed}-{bench.first_seed + bench.seeds - 1}"
    fig.suptitle(title or f"{bench.seeds} runs ({seeds})")
    fig.tight_layout()
    fig.savefig(path)
    return path
