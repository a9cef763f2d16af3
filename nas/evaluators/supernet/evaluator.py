"""The ``supernet`` evaluator: weight-sharing search (ENAS, SPOS, DARTS, GDAS) as an evaluator.

A child's score is the validation accuracy of its path through one supernet whose weights
every child shares (:mod:`nas.core.supernet`), so judging a child takes a fraction of a
second instead of a training. The method (``--method``, or ``--evaluator-option method=M``)
decides how the shared weights are trained and who proposes the children:

- ``spos``: :meth:`start` trains the supernet on uniformly sampled paths (progress through
  ``context.report``); then any controller searches over it, each genome scored after
  batch-norm recalibration (:class:`~nas.evaluators.supernet.scoring.Scorer`).
- ``enas``: no long phase; the rl controller samples a round of ``enas_batch`` paths, each
  :meth:`evaluate` first trains the supernet ``enas_steps`` steps on those paths, then scores
  them on one validation minibatch, so policy updates and supernet steps alternate. Only
  the rl controller is accepted: the supernet changes under the scores, and a policy with a
  moving baseline (Pham et al.) follows that; a population (evolution) or a model of past
  scores (optuna) would keep early scores of an untrained supernet as if they were current.
- ``darts`` / ``gdas``: :meth:`start` trains weights and architecture parameters (the latter
  on the validation split); :meth:`proposals` returns the derived genome and the next
  ``candidates`` the method ranks, which the search judges first (``derived`` in the
  evaluation's detail); a controller may go on from there.

Architecture decisions read only the validation split, which the dataset carves from the
training data; the test split is never touched. Every evaluation says what its score is
(``detail["score"] == "supernet"`` and ``detail["what"]``), so ``nas status``, ``report``,
``export`` and ``compare`` treat the trials as any others, and ``nas compare RUN`` retrains
them from scratch: the number that counts.

Collapse is shown: the derived genome's op histogram is logged, and a degenerate cell
(parameter-free, or mostly skip connections, DARTS's known failure on NAS-Bench-201) is a
warning in search.log, in the trial's attributes (``result.collapse``) and on the console.

Distribution: ``workers`` ranks train one supernet data-parallel with Ray Train
(:mod:`~nas.evaluators.supernet.distributed`); one worker (the default without GPUs) is the
same computation in this process. Faults: a resume checkpoint every epoch (every round for
enas) under ``context.workdir``; :meth:`state_dict` is the small JSON that points at it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
import torch

from nas.core.cost import totals
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import Space
from nas.core.supernet import SUPERNETS, create_supernet, supernet_spaces
from nas.evaluators.base import BatchEvaluator, Context, Evaluation, register_evaluator
from nas.evaluators.cluster import connect_ray
from nas.evaluators.supernet.config import ARCH_METHODS, METHODS, SupernetConfig
from nas.evaluators.supernet.distributed import train_distributed
from nas.evaluators.supernet.scoring import (
    Scorer,
    batch_statistics_scores,
    collapse,
    op_histogram,
    parameter_free_ops,
    ranked_genomes,
)
from nas.evaluators.supernet.trainer import (
    CHECKPOINT,
    STATUS,
    SupernetDiverged,
    SupernetTrainer,
    TrainSpec,
    read_status,
    train_to_end,
)
from nas.training.checkpoint import dataset_info
from nas.training.device import pick_device

log = logging.getLogger("nas.evaluators.supernet")

#: A collapse is also known from the literature on this space (NAS-Bench-201, Dong & Yang 2020).
KNOWN_COLLAPSE = {"nasbench201": "DARTS on NAS-Bench-201 is known to collapse to skip "
                                  "connections (54.30% in the benchmark paper)"}


def check_space(space: Space, method: str) -> None:
    """One line if ``space`` has no supernet, or none that ``method`` can drive."""
    if space.name not in supernet_spaces():
        raise NasError(f"--evaluator supernet: space {space.name!r} has no supernet; spaces "
                       f"with one: {', '.join(supernet_spaces())}")
    if method in ARCH_METHODS and not SUPERNETS.get(space.name).weighted:
        raise NasError(f"method {method} weights every path of the supernet, which the "
                       f"{space.name} supernet cannot do (it runs single paths only); spaces "
                       f"whose supernet can: {', '.join(supernet_spaces(weighted=True))}; or "
                       f"use method spos or enas")


def collapse_lines(records: Iterable[Any]) -> list[str]:
    """The collapse warnings recorded in a run's trials (``TrialRecord`` s), one line each."""
    out = []
    for record in records:
        result = record.attrs.get("result")
        if isinstance(result, dict) and result.get("collapse"):
            out.append(f"warning: trial {record.number} ({record.genome.id}), derived by "
                       f"{result.get('method')}, is a degenerate cell: {result['collapse']}")
    return out


@register_evaluator
class SupernetEvaluator(BatchEvaluator):
    """Scores children as paths through one shared, trained supernet; see the module doc."""

    name = "supernet"
    Config = SupernetConfig
    summary = ("weight sharing: score each child's path through one trained supernet "
               f"(methods: {', '.join(METHODS)})")
    config: SupernetConfig

    def __init__(self, context: Context, **options: Any) -> None:
        super().__init__(context, **options)
        self.method = self.config.method
        self.batch_size = self.config.enas_batch if self.method == "enas" else 1
        self.workers = 1  # data-parallel ranks (open() plans them)
        self.use_gpu = False
        self.trainer: SupernetTrainer | None = None
        self.scorer: Scorer | None = None
        self.ranked: list[tuple[Genome, str]] = []  # darts, gdas: derived genome, runners-up
        self._state: dict[str, Any] = {}  # what load_state_dict was given
        self._checkpoint: Path | None = None  # the last checkpoint this session wrote or read
        self._costs: dict[Genome, dict[str, float]] = {}
        self._parameter_free: set[str] = set()
        self._started_ray = False
        self._tmp: Path | None = None

    # --- life cycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Refuse what cannot work (a space without a supernet, a controller enas cannot
        use, workers that do not fit), load the data, build the supernet once (bad space
        options or partial channels fail here), plan the workers (and join Ray for them)."""
        space = self.context.space
        check_space(space, self.method)
        controller = self.context.controller
        if self.method == "enas" and controller not in (None, "rl"):
            raise NasError(f"method enas needs --controller rl (its paths train the supernet "
                           f"between policy updates), not {controller}; for {controller}, use "
                           f"--method spos (train first, then search)")
        self._check_workers(self.config.workers or 1)
        data = self.context.data()
        create_supernet(space, data.input_shape, data.num_classes,
                        partial_channels=self.config.partial_channels, seed=0)
        self.workers, self.use_gpu = self._plan_workers()
        self._check_workers(self.workers)

    def _check_workers(self, workers: int) -> None:
        if workers > 1 and self.method == "enas":
            raise NasError("method enas trains the supernet in the driver between controller "
                           "updates, on one worker: use workers=1")
        if self.config.batch_size % workers:
            raise NasError(f"batch_size {self.config.batch_size} does not split evenly over "
                           f"{workers} workers; use a multiple of {workers}")

    def _plan_workers(self) -> tuple[int, bool]:
        """(ranks, on GPUs): ``workers`` if given, else one per GPU (``--gpus``, or every
        GPU Ray sees); without GPUs one rank in this process."""
        resources = self.context.resources
        gpus = resources.gpus
        if gpus is None and resources.address in (None, "local"):
            gpus = torch.cuda.device_count()
        if gpus is None or (self.config.workers or 1) > 1:
            self._started_ray = connect_ray(resources) or self._started_ray
            if gpus is None:
                gpus = ray.cluster_resources().get("GPU", 0.0)
        wanted = self.config.workers
        if wanted is None:
            return (int(gpus), True) if gpus >= 1 else (1, False)
        if 0 < gpus < wanted:
            raise NasError(f"workers={wanted} needs {wanted} GPUs (one per rank); "
                           f"{gpus:g} given: use --gpus {wanted} or workers={int(gpus)}")
        if wanted > 1 and not gpus:
            have = ray.cluster_resources().get("CPU", 0.0)
            cpus = self._cpus_per_worker()
            if wanted * cpus > have + 1e-9:
                raise NasError(f"workers={wanted} x {cpus:g} CPU need {wanted * cpus:g} "
                               f"CPUs; the Ray cluster has {have:g}")
        return wanted, bool(gpus)

    def _cpus_per_worker(self) -> float:
        return self.context.resources.cpus_per_trial or 1.0

    @property
    def folder(self) -> Path:
        """The method's folder (checkpoints, progress, status) under the run's workdir."""
        if self.context.workdir is not None:
            return Path(self.context.workdir) / self.method
        if self._tmp is None:  # a search kept in memory: nothing outlives the evaluator
            self._tmp = Path(tempfile.mkdtemp(prefix=f"nas-{self.method}-"))
        return self._tmp

    @property
    def seed(self) -> int:
        return self.config.seed if self.config.seed is not None else self.context.seed

    def spec(self) -> TrainSpec:
        data = self.context.data()
        return TrainSpec(
            method=self.method, config=self.config.to_dict(), space=self.context.space.name,
            space_options=dict(self.context.space.options), input_shape=data.input_shape,
            num_classes=data.num_classes, seed=self.seed,
            dataset={**dataset_info(data), "limit": self.context.limit},
            folder=str(self.folder))

    def start(self, history: Sequence[Evaluation] = (), jobs: int | None = None) -> None:
        """Build (or restore) the supernet; spos, darts and gdas train it now, to the end."""
        super().start(history, jobs)
        spec = self.spec()
        self.folder.mkdir(parents=True, exist_ok=True)
        data = self.context.data()
        device = pick_device(None) if self.use_gpu else torch.device("cpu")
        self.trainer = trainer = SupernetTrainer(spec, data, device=device)
        if self.method == "enas":
            pointer = self._state.get("checkpoint")
            if pointer:
                path = self.folder.parent / pointer
                if not path.is_file():
                    raise NasError(f"the run's saved state names the enas checkpoint {path}, "
                                   "which is missing; start a new run")
                trainer.restore(path)
                self._checkpoint = path
        else:
            self._train(trainer, spec)
        cfg = self.config
        self.scorer = Scorer(trainer.net, data, cfg.bn_batches, cfg.val_batches,
                             cfg.score_batch_size, self.seed)
        self._parameter_free = parameter_free_ops(trainer.net)
        if self.method in ARCH_METHODS:
            self.ranked = ranked_genomes(trainer.net, trainer.alpha, cfg.candidates)
            self._show_derived(self.ranked[0][0])

    def _train(self, trainer: SupernetTrainer, spec: TrainSpec) -> None:
        """Train to the last epoch, from the last checkpoint if there is one (here, or on
        Ray Train workers and then read back); a divergence stops the run."""
        if trainer.resume_if_saved():
            log.info("%s supernet: resumed from epoch %d/%d", self.method, trainer.epoch,
                     self.config.epochs)
        try:
            if trainer.trained:
                pass
            elif self.workers == 1:
                train_to_end(trainer, lambda r: self.context.report(r.line(self.method)))
            else:
                (self.folder / STATUS).unlink(missing_ok=True)
                train_distributed(spec, self.context.data(), workers=self.workers,
                                  use_gpu=self.use_gpu, cpus_per_worker=self._cpus_per_worker(),
                                  max_failures=self.context.resources.max_retries,
                                  report=self.context.report)
                status = read_status(self.folder)
                if status.get("status") == "diverged":
                    raise SupernetDiverged(str(status["message"]))
                trainer.restore(self.folder / CHECKPOINT)
        except SupernetDiverged as e:
            log.error("%s", e)
            raise
        self._checkpoint = self.folder / CHECKPOINT

    def _show_derived(self, genome: Genome) -> None:
        """Log the derived cell's op histogram; warn if it is degenerate."""
        assert self.trainer is not None
        histogram = op_histogram(self.trainer.net, genome)
        log.info("%s derived %s: ops %s", self.method, genome.id, histogram)
        why = collapse(histogram, self._parameter_free)
        if why:
            known = KNOWN_COLLAPSE.get(self.context.space.name, "")
            message = (f"warning: the {self.method} cell {genome.id} is degenerate ({why})"
                       + (f"; {known}" if known else "")
                       + "; retrain it (nas compare) before trusting its supernet score")
            log.warning("%s", message)  # search.log; the trial's detail and the console too

    def proposals(self) -> list[Genome]:
        return [genome for genome, _ in self.ranked]

    def close(self) -> None:
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # --- judging ---------------------------------------------------------------------------

    def evaluate(self, genomes: Sequence[Genome]) -> list[Evaluation]:
        trainer, scorer = self.trainer, self.scorer
        assert trainer is not None and scorer is not None, "start() first"
        cfg = self.config
        if self.method == "enas":
            try:
                x, y = trainer.enas_round(genomes)
            except SupernetDiverged as e:
                log.error("%s", e)
                raise
            self._checkpoint = trainer.save()
            scores = batch_statistics_scores(trainer.net, genomes, x, y)
            what = (f"validation top-1 of the path on one validation minibatch of {len(y)} "
                    f"images with batch statistics, after ENAS round {trainer.rounds} "
                    f"({trainer.step} supernet steps)")
        else:
            scores = [scorer.score(g) for g in genomes]
            recal, val = scorer.images
            what = (f"validation top-1 of the path through the {self.method} supernet "
                    f"({trainer.epoch} epochs), batch norm recalibrated on {recal} training "
                    f"images, scored on {val} validation images")
            if cfg.bn_batches == 0:
                what = what.replace(f"recalibrated on {recal} training images",
                                    "with the training's running statistics")
        derived = {g: (rank, why) for rank, (g, why) in enumerate(self.ranked)}
        out = []
        for genome, (accuracy, loss) in zip(genomes, scores, strict=True):
            histogram = op_histogram(trainer.net, genome)
            detail: dict[str, Any] = {
                "score": "supernet", "method": self.method, "what": what,
                "supernet_loss": loss, "ops": histogram, "checkpoint": self._pointer()}
            if genome in derived:
                rank, why = derived[genome]
                detail.update(derived=True, rank=rank, why=why)
                if rank == 0:
                    detail["collapse"] = collapse(histogram, self._parameter_free)
            out.append(Evaluation(metrics={"accuracy": accuracy, **self._cost(genome)},
                                  detail=detail))
        return out

    def _cost(self, genome: Genome) -> dict[str, float]:
        """Exact ``params`` and ``macs`` of the genome's fixed network (cached)."""
        if genome not in self._costs:
            graph = self.context.space.graph(genome, self.input_shape, self.num_classes)
            self._costs[genome] = totals(graph).metrics()
        return self._costs[genome]

    def _pointer(self) -> str | None:
        """The checkpoint path relative to the workdir (the run folder may move)."""
        if self._checkpoint is None:
            return None
        return str(self._checkpoint.relative_to(self.folder.parent))

    # --- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The small JSON that points at the supernet's checkpoint (never the weights)."""
        trainer = self.trainer
        if trainer is None:
            return dict(self._state)
        return {"method": self.method, "checkpoint": self._pointer(), "epoch": trainer.epoch,
                "rounds": trainer.rounds, "trained": trainer.trained,
                "fingerprint": trainer.spec.fingerprint(),
                "derived": [g.to_dict() for g, _ in self.ranked]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("method") not in (None, self.method):
            raise NasError(f"the run's evaluator state is method {state.get('method')}'s, "
                           f"not {self.method}'s")
        self._state = dict(state)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "method_summary": METHODS[self.method],
                "workers": self.workers, "device": "gpu" if self.use_gpu else "cpu"}


__all__ = ["SupernetEvaluator", "check_space", "collapse_lines"]
