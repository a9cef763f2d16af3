"""Retrain a search's best architectures next to hand-designed baselines, the same way.

Search-time accuracy is a ranking signal, not a result: children train for a few epochs, are
scored on the validation split, and the best of many is optimistically chosen. ``nas compare``
retrains the top ``K`` genomes of a run and the named baselines (ResNets, or any genome file)
with the run's own recipe and data (the dataset, directory and image limit of its
``config.json``), for the same budget, on several seeds, and reports the test accuracy (mean
and spread over seeds), the exact cost (parameters, multiply-adds), the measured latency and
the search-time accuracy beside the final one.

Equal compute. "The same budget" can mean three things, and a network that costs more to
train looks better at equal epochs than it is. ``--budget`` chooses (:func:`parse_budget`):

* ``epochs=E``: every network trains E epochs (the default, with the search's epochs per
  child): equal data, unequal compute;
* ``seconds=S``: every network trains S seconds of wall time on its worker;
* ``macs=M``: every network gets the same training compute, M multiply-adds x images seen
  (its exact multiply-adds per image, from the cost model, times the images its steps
  read): a network twice as costly sees half the images.

The table adds each network's training time, its training compute (multiply-adds x images
seen) and its test accuracy per tera-multiply-add of training; the plots show test accuracy
against training compute and against inference latency, with the Pareto front.

Retrainings run in parallel on Ray through the search's own machinery: the data go into the
object store once (:class:`~nas.evaluators.scratch.SharedData`),
:class:`~nas.evaluators.scratch.ChildWorker` actors hold the slots that
:func:`~nas.evaluators.cluster.plan_slots` plans from ``--gpus``, and Ray's
:class:`~ray.util.ActorPool` hands each free worker the next retraining. The only difference
from a search child is :class:`RetrainChild`: it also evaluates the test split and keeps a
checkpoint (a nas checkpoint, :mod:`nas.training.checkpoint`), so that ``nas export`` can
export the retrained weights.

Everything lands in ``runs/<name>/compare/``::

    results/<label>.seed<S>.<key>.json   one finished retraining (written when it finishes)
    checkpoints/<label>.seed<S>.<key>.pt its trained weights (a nas checkpoint)
    summary.json, compare.md             the table, as data and as Markdown
    accuracy_vs_params.png, accuracy_vs_macs.png, learning_curves.png

``<key>`` hashes everything that defines a retraining (genome, space options, recipe with its
seed, budget, data), so a compare that is interrupted, or run again, skips every retraining
already finished with the same settings and trains only the rest; changing ``--epochs`` makes
new files rather than overwriting the old ones. A retraining whose worker was lost is not
written, and is trained again on the next run.

On a multi-node Ray cluster the checkpoints are written on the node that trained them, so the
run directory should be on a shared filesystem there.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.core.errors import NasError, ShapeError
from nas.core.fmt import human, percent
from nas.core.genome import Genome
from nas.core.metrics import current
from nas.core.space import Baseline, create_space, get_baseline
from nas.core.statefile import read_json, write_json
from nas.results.runs import COMPARE_DIR, ranked_trials, run_records
from nas.search.store import run_config
from nas.training.recipe import Budget, Recipe

if TYPE_CHECKING:
    from nas.core.netgraph import Shape
    from nas.evaluators.scratch import ChildJob, OnEpoch
    from nas.search.config import SearchConfig
    from nas.search.store import RunDir, TrialRecord
    from nas.training.data import DataSplits
    from nas.training.result import Result

RESULT_FORMAT = "nas.compare/1"
DEFAULT_BASELINES = ("resnet18", "resnet34")  # on ImageNet-sized images
SMALL_IMAGE_BASELINES = ("resnet20", "resnet56")  # He et al.'s CIFAR ResNets, on <= 64x64
SMALL_IMAGE = 64  # the largest side for which the CIFAR ResNets are the default


def default_baselines(input_shape: Sequence[int]) -> tuple[str, ...]:
    """The ResNets a run is compared with unless told otherwise: He et al.'s CIFAR ResNet-20
    and -56 on small images (CIFAR's 32x32, digits' 8x8), torchvision's ResNet-18 and -34
    (ImageNet stems) on larger ones."""
    return SMALL_IMAGE_BASELINES if max(input_shape[1:]) <= SMALL_IMAGE else DEFAULT_BASELINES
PLOTS = {"params": "accuracy_vs_params.png", "macs": "accuracy_vs_macs.png",
         "train_macs": "accuracy_vs_training_cost.png",
         "latency_ms": "accuracy_vs_latency.png", "curves": "learning_curves.png"}


# --- what is compared ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One network in the comparison: a found architecture or a baseline."""

    label: str  # "trial-12" for a found architecture, the baseline's name otherwise
    genome: Genome
    space_options: Mapping[str, Any] = field(default_factory=dict)
    baseline: bool = False
    trial: int | None = None  # the search trial it comes from (found architectures)
    search_accuracy: float | None = None  # its validation top-1 (%) in the search


@dataclass
class CompareConfig:
    """What ``nas compare`` was asked for (the recipe and data come from the run)."""

    top: int = 3  # found architectures to retrain, best search-time accuracy first
    seeds: int = 3  # seeds per network: the recipe's seed, +1, +2 ...
    epochs: float | None = None  # None: the run's epochs per child (budget epochs=E)
    budget: str | None = None  # "epochs=E", "seconds=S" or "macs=M" (see parse_budget)
    space_options: dict[str, Any] = field(default_factory=dict)  # for found ones, on top of
    # the run's (e.g. a bigger NASNet for the final training: cells=6, width=32)
    gpus: float | None = None  # as nas search --gpus: None means every GPU Ray sees
    address: str | None = None  # an existing Ray cluster

    def check(self) -> None:
        if self.top < 1:
            raise NasError(f"--top must be at least 1, got {self.top}")
        if self.seeds < 1:
            raise NasError(f"--seeds must be at least 1, got {self.seeds}")
        if self.epochs is not None and not self.epochs > 0:
            raise NasError(f"--epochs must be positive, got {self.epochs}")
        if self.epochs is not None and self.budget is not None:
            raise NasError("give --epochs E or --budget KIND=VALUE, not both")
        if self.budget is not None:
            parse_budget(self.budget)


#: The kinds of equal budget (see the module docstring).
BUDGETS = ("epochs", "seconds", "macs")


def parse_budget(text: str) -> tuple[str, float]:
    """``"epochs=5"`` -> ("epochs", 5.0); also ``seconds=600``, ``macs=1e15``."""
    kind, sep, value = text.partition("=")
    kind = kind.strip()
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or kind not in BUDGETS or not math.isfinite(number) or number <= 0:
        raise NasError(f"--budget {text!r}: give epochs=E, seconds=S or macs=M with a positive "
                       "number (macs: multiply-adds x images seen, e.g. macs=2e13)")
    return kind, number


def budget_text(kind: str, value: float) -> str:
    """A budget for the reports: "5 epoch(s)", "600 s of training", "2e+13 MACs x images"."""
    return {"epochs": f"{value:g} epoch(s)", "seconds": f"{value:g} s of training",
            "macs": f"{value:.3g} multiply-adds x images of training"}[kind]


def contender_budget(kind: str, value: float, macs: int, batch_size: int) -> dict[str, Any]:
    """The trainer's budget (nas.training.recipe.Budget fields) for one network: the same
    epochs or seconds for all, or, for ``macs``, the steps whose images times the network's
    multiply-adds per image make ``value`` (at least one step)."""
    if kind == "macs":
        return {"steps": max(1, math.floor(value / (macs * batch_size)))}
    return {kind: value}


@dataclass(frozen=True)
class Retraining:
    """One (network, seed) to train: where its result and checkpoint go."""

    contender: Contender
    seed: int
    key: str  # hash of everything that defines the retraining (see the module docstring)
    result_path: Path
    checkpoint_path: Path
    budget: Mapping[str, Any] = field(default_factory=dict)  # nas.training.recipe.Budget fields


def slug(label: str) -> str:
    """A label as a file-name part: letters, digits, ``-``, ``_`` and ``.`` only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.") or "net"


def found_contenders(records: Sequence[TrialRecord], top: int,
                     space_options: Mapping[str, Any], run: str | None = None
                     ) -> list[Contender]:
    """The ``top`` best completed trials (ranked by :func:`nas.results.runs.ranked_trials`),
    labelled ``trial-N`` (``RUN/trial-N`` for a run compared beside the main one)."""
    prefix = "" if run is None else f"{run}/"
    return [Contender(label=f"{prefix}trial-{r.number}", genome=r.genome,
                      space_options=dict(space_options), trial=r.number,
                      search_accuracy=r.accuracy)
            for r in ranked_trials(records)[:top]]


def baseline_contender(label: str, baseline: Baseline) -> Contender:
    return Contender(label=label, genome=baseline.genome,
                     space_options=dict(baseline.space_options), baseline=True)


def retraining_key(contender: Contender, recipe: Mapping[str, Any],
                   budget: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """10 hex digits of the SHA-1 of the retraining's definition (stable across machines)."""
    spec = {"genome": contender.genome.to_dict(), "space_options": dict(contender.space_options),
            "recipe": dict(recipe), "budget": dict(budget), "data": dict(data)}
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]


def plan(compare_dir: Path, contenders: Sequence[Contender], recipe: Mapping[str, Any],
         budget: Mapping[str, Any], data: Mapping[str, Any], seeds: Sequence[int], *,
         budgets: Mapping[str, Mapping[str, Any]] | None = None) -> list[Retraining]:
    """Every (contender, seed), with its budget (``budget``, or each label's in ``budgets``),
    key and file names."""
    jobs = []
    for c in contenders:
        own = (budgets or {}).get(c.label, budget)
        for seed in seeds:
            key = retraining_key(c, {**recipe, "seed": seed}, own, data)
            stem = f"{slug(c.label)}.seed{seed}.{key}"
            jobs.append(Retraining(c, seed, key, compare_dir / "results" / f"{stem}.json",
                                   compare_dir / "checkpoints" / f"{stem}.pt", dict(own)))
    return jobs


# --- training on Ray -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainChild:
    """What a :class:`~nas.evaluators.scratch.ChildWorker` runs for a retraining (its ``child_fn``).

    The search's child with three differences for final numbers: its budget is the
    retraining's (``budgets``: epochs, seconds or steps), the test split is evaluated, and the
    trained weights are saved to the retraining's checkpoint (``job.trial`` indexes both).
    Picklable, so Ray ships it to the workers.
    """

    checkpoints: Mapping[int, str]
    budgets: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)

    def __call__(self, job: ChildJob, data: DataSplits, on_epoch: OnEpoch | None) -> Result:
        # imports networkx, torch: loaded here, where used, for start-up time
        from nas.training.loop import train_genome

        budget = self.budgets.get(job.trial) or {"epochs": job.epochs}
        return train_genome(job.genome, data, Recipe.from_dict(job.recipe), Budget(**budget),
                            space_options=job.space_options, evaluate_test=True,
                            on_epoch=on_epoch, checkpoint=self.checkpoints.get(job.trial))


def retrain_on_ray(jobs: Sequence[Retraining], data: DataSplits, recipe: Mapping[str, Any],
                   ray_config: SearchConfig,
                   on_done: Callable[[Retraining, dict[str, Any]], None]) -> list[str]:
    """Train ``jobs`` in parallel on Ray; ``on_done(job, out)`` for each as it finishes.

    ``out`` is the worker's answer (:meth:`nas.evaluators.scratch.ChildWorker.run`): ``result``
    (the trainer's Result as a dict) or ``error``. Returns one message per job that Ray lost
    (its worker died more than ``max_retries`` times); those have no ``on_done`` call.
    """
    # imports ray: loaded here, where used, for start-up time
    import ray
    from ray.util import ActorPool

    # imports ray, torch: loaded here, where used, for start-up time
    from nas.evaluators.cluster import connect_ray, disconnect_ray, plan_slots
    from nas.evaluators.scratch import ChildJob, ChildWorker, SharedData

    started = connect_ray(ray_config.resources())
    actors: list[Any] = []
    lost: list[str] = []
    try:
        slots = plan_slots(ray_config.resources(), ray.cluster_resources())
        child = RetrainChild({i: str(job.checkpoint_path) for i, job in enumerate(jobs)},
                             {i: dict(job.budget) for i, job in enumerate(jobs)})
        # the same actor options as the search's workers (nas.search.Search.start_workers)
        worker = ray.remote(ChildWorker).options(
            num_gpus=slots.gpus, num_cpus=slots.cpus, max_concurrency=1, max_restarts=-1,
            max_task_retries=ray_config.max_retries)
        actors = [worker.remote(slots.threads, child) for _ in range(min(slots.n, len(jobs)))]
        data_ref = ray.put(SharedData.of(data))  # one copy in the object store for all
        pool = ActorPool(actors)
        for i, job in enumerate(jobs):
            c = job.contender
            child_job = ChildJob(trial=i, genome=c.genome, recipe={**recipe, "seed": job.seed},
                                 epochs=float(job.budget.get("epochs", 0.0)),
                                 space_options=dict(c.space_options))
            pool.submit(lambda actor, j: actor.run.remote(j, [data_ref]), child_job)
        returned: set[int] = set()
        while pool.has_next():
            try:
                out = pool.get_next_unordered()
            except ray.exceptions.RayError as e:  # which job it was is found below
                lost.append(str(e).strip().splitlines()[0] if str(e).strip() else repr(e))
                continue
            returned.add(int(out["trial"]))
            on_done(jobs[int(out["trial"])], out)
        reason = lost[0] if lost else "no answer"
        return [f"{jobs[i].contender.label} seed {jobs[i].seed}: worker lost ({reason})"
                for i in range(len(jobs)) if i not in returned]
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            disconnect_ray()


# --- results ---------------------------------------------------------------------------------


def load_result(path: Path) -> dict[str, Any] | None:
    """A stored retraining, or None when there is none (or it is from another version)."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except NasError:
        return None  # unreadable: trained again and rewritten
    if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
        return None
    try:  # the fields readers use, with their types; anything else: trained again
        float(record["result"]["best_val_top1"])
        str(record["result"]["status"])
        int(record["seed"])
        Genome.from_dict(record["genome"])
        str(record["label"])
    except (KeyError, TypeError, ValueError, NasError):
        return None
    return current(record, nested=("result",))  # an older nas's keys renamed


def result_record(job: Retraining, out: Mapping[str, Any], recipe: Mapping[str, Any],
                  budget: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    c = job.contender
    result = dict(out["result"])
    checkpoint = job.checkpoint_path if job.checkpoint_path.is_file() else None
    return {
        "format": RESULT_FORMAT, "label": c.label, "baseline": c.baseline, "trial": c.trial,
        "search_accuracy": c.search_accuracy, "genome": c.genome.to_dict(),
        "genome_id": c.genome.id, "space_options": dict(c.space_options), "seed": job.seed,
        "key": job.key, "recipe": {**recipe, "seed": job.seed}, "budget": dict(budget),
        "data": dict(data), "result": result,
        "checkpoint": None if checkpoint is None else
        str(checkpoint.relative_to(job.result_path.parent.parent)),
        "where": {k: out[k] for k in ("node", "host", "device", "pid") if k in out},
        "seconds": round(float(out.get("finished", 0)) - float(out.get("started", 0)), 3),
        "finished_at": out.get("finished", time.time()),
    }


@dataclass
class Row:
    """One network's line in the table: its retrainings over seeds, summarised."""

    label: str
    baseline: bool
    genome_id: str
    trial: int | None
    search_accuracy: float | None  # validation top-1 (%) during the search
    seeds: int  # retrainings asked for
    ok: int  # of which finished with status ok
    test_mean: float | None = None  # test top-1 (%), mean over the ok seeds
    test_std: float | None = None  # sample standard deviation (None with one seed)
    val_mean: float | None = None  # best validation top-1 (%) of the retraining, mean
    params: int | None = None
    macs: int | None = None  # multiply-adds per image (exact cost model)
    latency_ms: float | None = None  # median over seeds of the batch-1 latency
    train_seconds: float | None = None  # mean training time per seed
    train_macs: float | None = None  # training compute: multiply-adds x images seen, mean
    accuracy_per_tmac: float | None = None  # test % per 1e12 multiply-adds of training
    curves: list[list[float]] = field(default_factory=list)  # val top-1 per epoch, per seed
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(contenders: Sequence[Contender], jobs: Sequence[Retraining],
              records: Mapping[str, Mapping[str, Any]], lost: Sequence[str] = ()) -> list[Row]:
    """One row per contender, best mean test accuracy first (networks with none last)."""
    rows = []
    for c in contenders:
        mine = [j for j in jobs if j.contender is c]
        row = Row(c.label, c.baseline, c.genome.id, c.trial, c.search_accuracy,
                  seeds=len(mine), ok=0)
        ok: list[dict[str, Any]] = []
        for j in mine:
            rec = records.get(j.key)
            if rec is None:
                continue
            r = rec["result"]
            if r["status"] == "ok" and r.get("test_top1") is not None:
                ok.append(r)
            else:
                row.failures.append(f"seed {j.seed}: {r['status']} {r.get('message', '')}".strip())
        row.failures += [m for m in lost if m.startswith(f"{c.label} seed ")]
        row.ok = len(ok)
        if ok:
            tests = [float(r["test_top1"]) for r in ok]
            row.test_mean = statistics.fmean(tests)
            row.test_std = statistics.stdev(tests) if len(tests) > 1 else None
            row.val_mean = statistics.fmean(float(r["best_val_top1"]) for r in ok)
            row.params, row.macs = int(ok[0]["params"]), int(ok[0]["macs"])
            latencies = [float(r["latency_ms_b1"]) for r in ok if r.get("latency_ms_b1")]
            row.latency_ms = statistics.median(latencies) if latencies else None
            row.train_seconds = statistics.fmean(float(r["train_seconds"]) for r in ok)
            seen = [images_seen(j, records[j.key]) for j in mine
                    if j.key in records and records[j.key]["result"] in ok]
            row.train_macs = statistics.fmean(row.macs * n for n in seen) if seen else None
            if row.train_macs:
                row.accuracy_per_tmac = row.test_mean / (row.train_macs / 1e12)
            row.curves = [[float(v) for v in r["val_top1"]] for r in ok]
        rows.append(row)
    return sorted(rows, key=lambda r: (r.test_mean is None, -(r.test_mean or 0.0)))


def images_seen(job: Retraining, record: Mapping[str, Any]) -> int:
    """Training images a retraining read: its steps times its batch size (the trainer drops
    an epoch's last partial batch, so every step reads a whole batch)."""
    return int(record["result"]["steps"]) * int(record["recipe"]["batch_size"])


# --- the table and the plots -----------------------------------------------------------------


COLUMNS = ("network", "kind", "search val %", "final val %", "test % (mean ± std)", "seeds",
           "params", "MACs", "latency ms", "train s", "train MACs", "test %/TMAC")


def table_cells(row: Row) -> list[str]:
    """A row's cells, in :data:`COLUMNS` order (shared by the terminal and Markdown)."""
    test = "-" if row.test_mean is None else (
        f"{row.test_mean:.2f}" + (f" ± {row.test_std:.2f}" if row.test_std is not None else ""))
    return [row.label, "baseline" if row.baseline else "found", percent(row.search_accuracy),
            percent(row.val_mean), test, f"{row.ok}/{row.seeds}", human(row.params),
            human(row.macs), "-" if row.latency_ms is None else f"{row.latency_ms:.2f}",
            "-" if row.train_seconds is None else f"{row.train_seconds:.1f}",
            human(row.train_macs),
            "-" if row.accuracy_per_tmac is None else f"{row.accuracy_per_tmac:.3g}"]


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "| " + " | ".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + " |"]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_plots(rows: Sequence[Row], out: Path, title: str) -> dict[str, Path]:
    """Accuracy against params, multiply-adds, training compute and latency (each with the Pareto
    front, baselines marked), and the learning curves."""
    # imports PIL, matplotlib: loaded here, where used, for start-up time
    from nas.results.plots import Curve, Point, accuracy_vs_cost, learning_curves

    done = [r for r in rows if r.test_mean is not None]
    paths: dict[str, Path] = {}
    if not done:
        return paths
    for cost, label in (("params", "parameters"), ("macs", "multiply-adds per image"),
                        ("train_macs", "training compute (multiply-adds x images seen)"),
                        ("latency_ms", "inference latency, batch 1 (ms)")):
        points = [Point(r.label, float(getattr(r, cost)), float(r.test_mean or 0.0),
                        r.test_std or 0.0, r.baseline) for r in done
                  if getattr(r, cost) is not None]
        if not points:
            continue
        paths[cost] = accuracy_vs_cost(points, out / PLOTS[cost], cost_label=label,
                                       accuracy_label="test accuracy (%)",
                                       title=f"{title}: test accuracy vs {label}")
    curves = []
    for r in done:
        n = min(len(c) for c in r.curves)
        if n == 0:
            continue
        per_epoch = [[c[e] for c in r.curves] for e in range(n)]
        curves.append(Curve(r.label, [statistics.fmean(v) for v in per_epoch],
                            [min(v) for v in per_epoch], [max(v) for v in per_epoch],
                            r.baseline))
    paths["curves"] = learning_curves(curves, out / PLOTS["curves"],
                                      title=f"{title}: validation accuracy while retraining")
    return paths


# --- the whole comparison --------------------------------------------------------------------


@dataclass
class CompareResult:
    """What :func:`run_compare` did and wrote."""

    directory: Path
    rows: list[Row]
    settings: dict[str, Any]
    trained: int  # retrainings run now
    reused: int  # finished earlier, read back
    lost: list[str]  # retrainings whose worker Ray lost (trained again next time)
    files: dict[str, Path]


def check_fits(contenders: Sequence[Contender], input_shape: Shape, num_classes: int,
               what: str = "the run's") -> dict[str, int]:
    """Every network must build for the run's images: a one-line error before any training.
    Returns each network's multiply-adds per image, by label."""
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.cost import totals

    shape = "x".join(map(str, input_shape))
    macs = {}
    for c in contenders:
        try:
            graph = create_space(c.genome.space, **c.space_options).graph(
                c.genome, input_shape, num_classes)
        except ShapeError as e:
            raise NasError(f"{c.label} does not fit {what} images ({shape}): {e}") from None
        macs[c.label] = totals(graph).macs
    return macs


def settings_budget(settings: Mapping[str, Any]) -> str:
    """The budget of a comparison's settings as text (comparisons written before --budget
    have only ``epochs``)."""
    budget = settings.get("budget")
    return str(budget["text"]) if budget else f"{settings['epochs']:g} epoch(s)"


def run_compare(run: RunDir, baselines: Sequence[tuple[str, Baseline]] | None = None,
                config: CompareConfig | None = None, *,
                on_plan: Callable[[int, int], None] | None = None,
                on_done: Callable[[Retraining, dict[str, Any]], None] | None = None,
                others: Sequence[RunDir] = ()) -> CompareResult:
    """Compare the run's top architectures with ``baselines`` (label, baseline); see the
    module docstring. ``baselines=None`` compares with :func:`default_baselines` for the run's
    data. ``others``: runs searched on the same data whose top architectures join the
    comparison (labelled ``RUN/trial-N``), retrained with ``run``'s recipe into ``run``'s
    compare directory. ``on_plan(to_train, reused)`` is called once the work is known and
    ``on_done(job, record)`` after each retraining (progress bars)."""
    # imports optuna, ray, torch: loaded here, where used, for start-up time
    from nas.search.config import SearchConfig, load_data, resolve_recipe

    config = config or CompareConfig()
    config.check()
    search = run_config(run)
    found = []
    for r, label in ((run, None), *((o, o.name) for o in others)):
        own = search if r is run else same_data(run, search, r)
        top = found_contenders(run_records(r), config.top,
                               {**own.space_options, **config.space_options}, label)
        if not top:
            raise NasError(f"run {r.name!r} has no completed child yet; wait for the search "
                           f"or resume it (nas search --resume {r.name})")
        found += top
    recorded: tuple[Shape, int] | None = None  # what the search saw (older runs: unknown)
    if search.input_shape is not None and search.num_classes is not None:
        c, h, w = search.input_shape
        recorded = (c, h, w), search.num_classes
    data: DataSplits | None = None
    if baselines is None:  # the defaults depend on the images (older runs: read the data)
        if recorded is not None:
            shape: Sequence[int] = recorded[0]
        else:
            data = load_data(search)
            shape = data.input_shape
        baselines = [(n, get_baseline(n)) for n in default_baselines(shape)]
    contenders = found + [baseline_contender(label, b) for label, b in baselines]
    labels = [c.label for c in contenders]
    duplicate = next((x for x in labels if labels.count(x) > 1), None)
    if duplicate is not None:
        raise NasError(f"--baselines names {duplicate!r} twice")

    kind, value = (parse_budget(config.budget) if config.budget is not None
                   else ("epochs", float(config.epochs if config.epochs is not None
                                         else search.epochs)))
    recipe = resolve_recipe(search)
    seeds = [int(recipe["seed"]) + i for i in range(config.seeds)]
    data_spec = {"dataset": search.dataset, "data_dir": search.data_dir, "limit": search.limit}
    if recorded is not None:
        check_fits(contenders, *recorded)  # a misfit fails before the data are loaded
    data = data or load_data(search)
    if recorded is not None and recorded != (data.input_shape, data.num_classes):
        raise NasError(f"the data of run {run.name!r} changed: the search had "
                       f"{'x'.join(map(str, recorded[0]))} images in {recorded[1]} classes, "
                       f"now {data.summary()}")
    macs = check_fits(contenders, data.input_shape, data.num_classes, data.name)
    budgets = {c.label: contender_budget(kind, value, macs[c.label], int(recipe["batch_size"]))
               for c in contenders}

    directory = run.path / COMPARE_DIR
    jobs = plan(directory, contenders, recipe, {}, data_spec, seeds, budgets=budgets)
    records: dict[str, dict[str, Any]] = {}
    for job in jobs:
        rec = load_result(job.result_path)
        if rec is not None:
            records[job.key] = rec
    todo = [j for j in jobs if j.key not in records]
    reused = len(jobs) - len(todo)
    if on_plan is not None:
        on_plan(len(todo), reused)
    lost: list[str] = []  # retrainings that produced no result this time

    def finished(job: Retraining, out: dict[str, Any]) -> None:
        if "result" in out:  # the trainer's own outcome (ok, diverged, oom, error): final
            rec = result_record(job, out, recipe, job.budget, data_spec)
            write_json(job.result_path, rec)
            records[job.key] = rec
        else:  # something outside the trainer raised: not stored, trained again next time
            lost.append(f"{job.contender.label} seed {job.seed}: {out.get('error')}")
        if on_done is not None:
            on_done(job, records.get(job.key, {"error": out.get("error")}))

    if todo:
        (directory / "results").mkdir(parents=True, exist_ok=True)
        ray_config = SearchConfig.from_dict({**search.to_dict(), "gpus": config.gpus,
                                             "address": config.address})
        lost += retrain_on_ray(todo, data, recipe, ray_config, finished)

    rows = summarise(contenders, jobs, records, lost)
    settings = {
        "run": run.name, "space": search.space, "controller": search.controller,
        "search_epochs": search.epochs, "epochs": value if kind == "epochs" else None,
        "budget": {"kind": kind, "value": value, "text": budget_text(kind, value)},
        "seeds": seeds,
        "top": config.top, "baselines": [label for label, _ in baselines],
        "other_runs": [o.name for o in others],
        "space_options": {**search.space_options, **config.space_options},
        "recipe": recipe, "data": {**data_spec, "summary": data.summary()},
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    files = write_outputs(directory, rows, settings)
    return CompareResult(directory, rows, settings, len(todo), reused, lost, files)


def same_data(run: RunDir, search: SearchConfig, other: RunDir) -> SearchConfig:
    """``other``'s config, when it searched the data ``run`` did (dataset, directory, image
    limit, input shape and classes); otherwise a one-line error, as its accuracies and
    ``run``'s recipe would not be about the same images."""
    theirs = run_config(other)
    fields = ("dataset", "data_dir", "limit", "input_shape", "num_classes")
    differ = [f for f in fields if getattr(theirs, f) != getattr(search, f)]
    if differ:
        f = differ[0]
        raise NasError(f"run {other.name!r} searched other data than {run.name!r} ({f} "
                       f"{getattr(theirs, f)!r}, not {getattr(search, f)!r}); compare runs of "
                       f"the same data")
    return theirs


def write_outputs(directory: Path, rows: Sequence[Row], settings: Mapping[str, Any]
                  ) -> dict[str, Path]:
    """summary.json, compare.md and the plots in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = write_plots(rows, directory, str(settings["run"]))
    write_json(directory / "summary.json", {"settings": dict(settings),
                                            "rows": [r.to_dict() for r in rows]})
    md = directory / "compare.md"
    md.write_text(markdown_report(rows, settings, plots) + "\n")
    return {"summary": directory / "summary.json", "markdown": md, **plots}


def markdown_report(rows: Sequence[Row], settings: Mapping[str, Any],
                    plots: Mapping[str, Path]) -> str:
    s = settings
    recipe = s["recipe"]
    lr = recipe.get("lr")
    lines = [
        f"# {s['run']}: found architectures against baselines", "",
        f"Every network below was trained from scratch on {s['data']['summary']} for "
        f"{settings_budget(s)}, seeds {', '.join(map(str, s['seeds']))}, with the search's "
        f"recipe ({recipe.get('optimizer')}, lr {'auto' if lr is None else lr}, batch "
        f"{recipe.get('batch_size')}). *search val* is the child's validation accuracy in the "
        f"{s['space']} / {s['controller']} search ({s['search_epochs']:g} epoch(s)); *final "
        "val* and *test* come from this retraining (mean over seeds; ± is the sample standard "
        "deviation). MACs are multiply-adds per image; latency is the median batch-1 "
        "inference time on the training device; *train MACs* is the training compute "
        "(multiply-adds per image x images seen) and *test %/TMAC* the test accuracy per "
        "10^12 of them.", "",
        markdown_table(rows), "",
    ]
    failures = [(r.label, f) for r in rows for f in r.failures]
    if failures:
        lines += ["Failed retrainings:", ""]
        lines += [f"- {label} {f}" for label, f in failures]
        lines.append("")
    titles = {"params": "test accuracy vs parameters", "macs": "test accuracy vs multiply-adds",
              "train_macs": "test accuracy vs training compute",
              "latency_ms": "test accuracy vs inference latency", "curves": "learning curves"}
    for key, path in plots.items():
        lines += [f"![{titles[key]}]({path.name})", ""]
    return "\n".join(lines).rstrip()


def trained_checkpoints(run: RunDir) -> dict[int, tuple[Path, dict[str, Any]]]:
    """For each search trial retrained by ``nas compare``: its best checkpoint and record.

    "Best" is the highest validation accuracy over seeds (never the test accuracy, which
    would select on the test set); ties go to the lower seed. Used by ``nas export``.
    """
    best: dict[int, tuple[Path, dict[str, Any]]] = {}
    for path in sorted((run.path / COMPARE_DIR / "results").glob("*.json")):
        rec = load_result(path)
        if rec is None or rec.get("trial") is None or rec["result"]["status"] != "ok" \
                or not rec.get("checkpoint"):
            continue
        root = (run.path / COMPARE_DIR).resolve()
        ckpt = (root / str(rec["checkpoint"])).resolve()
        if not ckpt.is_relative_to(root) or not ckpt.is_file():  # never outside the run
            continue
        try:
            trial, score = int(rec["trial"]), float(rec["result"]["best_val_top1"])
        except (TypeError, ValueError):
            continue
        held = best.get(trial)
        if held is None or (score, -rec["seed"]) > (
                float(held[1]["result"]["best_val_top1"]), -held[1]["seed"]):
            best[trial] = (ckpt, rec)
    return best

