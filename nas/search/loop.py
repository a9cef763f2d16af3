"""The search driver: a controller proposes, Ray trains children on every slot, a study records.

One driver process runs the loop below; children train in
:class:`~nas.evaluators.scratch.ChildWorker` Ray actors, one per slot (a GPU, a share of one
with ``--gpus-per-trial``, or ``K`` CPU cores without GPUs). The loop is ``ray.wait`` on the
children in flight: whenever children finish, the controller is told, and their workers get
their next children at once; only then are the study written and the state saved, so no slot
waits for the disk or for another child (asynchronous search; a batched controller such as
``rl`` learns when its batch of results is complete). Ray does the placing, the GPU isolation
(``CUDA_VISIBLE_DEVICES`` per actor) and the fault tolerance: a worker process or node that
dies is restarted and its child run again, at most ``max_retries`` times.

Why Ray core and not Ray Tune: measured for this project, Tune with ``reuse_actors`` adds about
0.3 s per trial on 2 CPU slots and about 1.5 s per wave on 8 GPU slots; calls to warm actors
add a fraction of that (``bench/search_overhead.py`` prints it).

Nothing is lost. Each round of the loop does, in this order:

1. take the finished children; ``controller.tell`` each (in memory);
2. give every idle worker a child: a genome to re-run, else ``controller.propose()``;
3. write the finished children to the study: attrs, learning curve, final state;
4. save the controller's state with ``told`` (trial numbers) and ``pending`` (genomes
   proposed, result not told), atomically;
5. write a RUNNING trial to the study for each new child.

So whatever the saved state says was told is finished in the study, and every RUNNING trial
is pending in the saved state. After a kill at any moment, :meth:`Search.resume` marks the
RUNNING trials interrupted (they do not count), tells the controller the finished results its
saved state had not seen (in the order they were first told), and trains the pending genomes
(the interrupted ones among them) again before proposing anything new. A proposal made after
the last save left no trace in the study and is forgotten with it. The controller thus sees
every result exactly once, and the budget (``--trials``, ``--time-budget``) counts finished
children over all sessions of the run.

A genome proposed again after its result is known is answered from that result, without
training (the controller interface's convention for revisits); it costs no trial.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import Space, create_space
from nas.evaluators.cluster import Slots, connect_ray, plan_slots
from nas.evaluators.early_stop import EarlyStopper
from nas.evaluators.scratch import ChildFn, ChildJob, ChildWorker, SharedData, train_child
from nas.search.config import (
    REVISIT_LIMIT,
    STATE_FORMAT,
    SearchConfig,
    load_data,
    resolve_recipe,
)
from nas.search.live import Finished, LineView, Progress, Running, View
from nas.search.store import RunDir, RunLock, RunStudy, TrialRecord, open_storage

if TYPE_CHECKING:
    from controllers.base import Controller
    from nas.training.data import DataSplits

log = logging.getLogger("nas.search")

# --- the driver ----------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    handle: Any  # the ChildWorker actor
    where: dict[str, Any] = field(default_factory=dict)  # its ready() answer


@dataclass
class _Child:
    job: ChildJob
    worker: _Worker
    dispatched: float


@dataclass
class SearchResult:
    """What :func:`run_search` returns: the run and how it ended."""

    run: RunDir
    stop_reason: str  # "budget", "time", "exhausted", "interrupted"
    done: int  # finished children over the whole run
    best: Finished | None


class Search:
    """One session of a run: restore its state, keep every slot busy, record every child."""

    def __init__(self, run: RunDir, config: SearchConfig, space: Space,
                 controller: Controller, study: RunStudy, recipe: dict[str, Any],
                 view: View, progress: Progress) -> None:
        self.run = run
        self.config = config
        self.space = space
        self.controller = controller
        self.study = study
        self.recipe = recipe
        self.view = view
        self.progress = progress
        # the driver's state, saved with the controller's once a round (see the module doc)
        self.told: set[int] = set()  # trial numbers whose result the controller has
        self.pending: list[Genome] = []  # proposed (or to re-run), result not yet told
        self.elapsed_before = 0.0
        # this session's bookkeeping
        self.session_start = time.time()
        self.results: dict[Genome, dict[str, float] | None] = {}  # known results (revisits)
        self.queue: deque[Genome] = deque()  # pending genomes to train before new proposals
        self.deferred: dict[Genome, int] = {}  # revisits of a genome still training
        self.children: dict[Any, _Child] = {}  # ObjectRef -> child in flight
        self.starting: dict[Any, _Worker] = {}  # ObjectRef of ready() -> worker starting up
        self.idle: list[_Worker] = []
        self.workers: list[_Worker] = []  # every worker started, to kill at the end
        self.helpers: list[Any] = []  # other actors (the early stopper), likewise
        self.done = 0  # finished children, whole run
        self.revisit_streak = 0
        self.objective = config.objective()  # the one reward: told and recorded
        self.stop_reason = ""
        self._saved: dict[str, Any] = {}  # the state last saved
        self.data_ref: Any = None  # the SharedData in the object store
        # what this round has to write (see flush)
        self.to_start: list[tuple[int, Genome, dict[str, Any]]] = []
        self.to_finish: list[tuple[int, TrialState, float | None, dict[str, Any],
                                   list[float], Finished]] = []
        self.dirty = False  # the state changed since it was last saved

    # --- state ----------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + (time.time() - self.session_start)

    def save(self) -> None:
        """Save the controller's state with the driver's (atomically), and the summary.

        Called once a round, between writing its finished and its new trials (see
        :meth:`flush`), so the saved state is always one that a resume can continue from.
        """
        self._saved = {
            "format": STATE_FORMAT,
            "controller": self.controller.state_dict(),
            "told": sorted(self.told),
            "pending": [g.to_dict() for g in self.pending],
            "elapsed": self.elapsed,
        }
        self.run.save_state(self._saved)
        self.write_summary("running")

    def write_summary(self, state: str) -> None:
        best = self.progress.best
        self.run.write_summary({
            "state": state, "done": self.done, "failed": self.progress.failed,
            "pruned": self.progress.pruned, "trials": self.config.trials,
            "time_budget": self.config.time_budget, "elapsed": round(self.elapsed, 1),
            "best": None if best is None else {
                "accuracy": best.accuracy, "reward": best.reward, "trial": best.trial,
                "genome_id": best.genome_id,
                "params": best.params, "flops": best.flops},
            "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        })

    def resume(self) -> None:
        """Bring the controller level with the study after a stop at any moment."""
        state = self.run.load_state()
        if state is not None:
            if state.get("format") != STATE_FORMAT:
                raise NasError(f"run {self.run.name!r} was saved by another version of nas "
                               f"(state format {state.get('format')}); start a new run")
            self.controller.load_state_dict(state["controller"])
            self.told = set(state["told"])
            self.pending = [Genome.from_dict(g, validate=False) for g in state["pending"]]
            self.elapsed_before = float(state["elapsed"])
        interrupted = self.study.mark_interrupted(
            "the search stopped before this child finished; it was trained again")
        if interrupted:
            log.info("resume: %d interrupted child(ren) marked: trials %s", len(interrupted),
                     [r.number for r in interrupted])
        retold = 0
        records = [r for r in self.study.records() if r.finished]
        for record in records:
            self.done += 1
            self.results[record.genome] = record.metrics()
            self.progress.record(self._finished(record), counted=False)
            self.progress.failed += record.state == "FAIL"
            self.progress.pruned += record.state == "PRUNED"
        # results the saved state had not seen: tell them now, in the order they were told
        untold = [r for r in records if r.number not in self.told]
        for record in sorted(untold, key=lambda r: (r.completed or 0.0, r.number)):
            self.tell(record.genome, record.metrics())
            self._settle(record.genome, record.number)
            retold += 1
        self.progress.done = self.done
        self.progress.recent = []
        self.queue.extend(self.pending)
        log.info("resume: %d children done, %d result(s) told again, %d genome(s) to re-run, "
                 "%.0f s spent", self.done, retold, len(self.queue), self.elapsed_before)
        self.progress.elapsed_before = self.elapsed_before
        self.progress.session_start = self.session_start
        self.save()

    def _settle(self, genome: Genome, number: int | None) -> None:
        """The controller has been told about ``genome`` (from trial ``number``, if any)."""
        if genome in self.pending:
            self.pending.remove(genome)
        if number is not None:
            self.told.add(number)

    # --- the loop -------------------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether the budget allows one more child now."""
        if self.stop_reason:
            return False
        if self.config.trials is not None and self.done + len(self.children) >= self.config.trials:
            if not self.children:
                self.stop_reason = "budget"
            return False
        if self.config.time_budget is not None and self.elapsed >= self.config.time_budget:
            self.stop_reason = "time"
            return False
        return True

    def start_workers(self, slots: Slots, child_fn: ChildFn, stopper: Any) -> None:
        import ray

        actor = ray.remote(ChildWorker).options(
            num_gpus=slots.gpus, num_cpus=slots.cpus, max_concurrency=1,
            max_restarts=-1,  # a dead worker process comes back (on another node if need be)
            max_task_retries=self.config.max_retries)  # ... and its child runs again, bounded
        left = math.inf if self.config.trials is None else self.config.trials - self.done
        for i in range(int(min(slots.n, max(left, 1)))):
            worker = _Worker(i, actor.remote(slots.threads, child_fn, stopper))
            self.starting[worker.handle.ready.remote()] = worker
            self.workers.append(worker)
        self.progress.workers = len(self.starting)
        self.progress.note = f"starting {slots.describe()}"

    def loop(self, refresh: float = 0.5) -> None:
        """Until the budget is spent: wait for children, tell, refill, then write it all down.

        Each round takes every result that is ready, tells the controller, hands the freed
        workers their next children, and only then writes the study and saves the state, so
        a worker waits for the controller but never for the disk.
        """
        import ray

        while True:
            self.fill()
            self.flush()
            if not self.children and not (self.starting and self.may_start()):
                break
            refs = [*self.children, *self.starting]
            ready, rest = ray.wait(refs, num_returns=1, timeout=refresh)
            if ready and rest:  # everything else that is ready too: one round for all
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                if ref in self.starting:
                    self.worker_ready(ref)
                else:
                    self.collect(ref)
            self.view.update(self.progress)
        if not self.stop_reason:
            self.stop_reason = "budget"

    def worker_ready(self, ref: Any) -> None:
        import ray

        worker = self.starting.pop(ref)
        try:
            worker.where = ray.get(ref)
        except ray.exceptions.RayError as e:
            log.error("worker %d could not start: %s", worker.index, _first_line(e))
            if not self.starting and not self.idle and not self.children:
                raise NasError(f"no worker could start on the Ray cluster: {_first_line(e)}") \
                    from None
            return
        log.info("worker %d ready on node %s (%s, %s, pid %s)", worker.index,
                 worker.where["node"], worker.where["ip"], worker.where["device"],
                 worker.where["pid"])
        self.progress.workers_ready += 1
        self.progress.note = ""
        self.idle.append(worker)

    def fill(self) -> None:
        """Give every idle worker a child: a genome to re-run, else a new proposal."""
        while self.idle and self.may_start():
            genome = self.queue.popleft() if self.queue else self.propose()
            if genome in self.results:  # known: answer from the result, train nothing
                self.revisit(genome)
                continue
            if any(c.job.genome == genome for c in self.children.values()):
                self.deferred[genome] = self.deferred.get(genome, 0) + 1
                log.info("genome %s proposed again while training: told when it ends",
                         genome.id)
                self.count_revisit()
                continue
            self.dispatch(genome, self.idle.pop(0))

    def propose(self) -> Genome:
        genome = self.space.validate(self.controller.propose())
        self.pending.append(genome)
        self.dirty = True
        return genome

    def revisit(self, genome: Genome) -> None:
        log.info("genome %s proposed again: told its known result", genome.id)
        self.tell(genome, self.results[genome])
        self._settle(genome, None)
        self.count_revisit()

    def count_revisit(self) -> None:
        self.revisit_streak += 1
        self.progress.revisits += 1
        self.dirty = True
        if self.revisit_streak >= REVISIT_LIMIT:
            self.stop_reason = "exhausted"
            self.progress.note = (f"the controller's last {REVISIT_LIMIT} proposals were all "
                                  "known genomes: nothing new to train")
            log.info(self.progress.note)

    def dispatch(self, genome: Genome, worker: _Worker) -> None:
        """Start ``genome`` on ``worker`` now; its study trial is written in :meth:`flush`.

        The trial's number is known in advance (the driver is the study's only writer, and
        :meth:`RunStudy.start` checks it), so the child carries it from the start.
        """
        number = self.study.next_number + len(self.to_start)
        job = ChildJob(trial=number, genome=genome, recipe=self.recipe,
                       epochs=self.config.epochs, space_options=self.config.space_options)
        ref = worker.handle.run.remote(job, [self.data_ref])
        self.children[ref] = _Child(job, worker, time.time())
        self.to_start.append((number, genome, {"worker": worker.index, **_place(worker.where)}))
        self.progress.running[number] = Running(number, genome.id, time.time(), worker.where)
        self.revisit_streak = 0
        log.info("trial %d: genome %s on worker %d (%s)", number, genome.id, worker.index,
                 worker.where.get("device"))

    def collect(self, ref: Any) -> None:
        """A child finished: tell the controller now; its trial is written in :meth:`flush`."""
        import ray

        child = self.children.pop(ref)
        self.idle.append(child.worker)
        try:
            out = ray.get(ref)
        except ray.exceptions.RayError as e:  # the worker died more often than max_retries
            out = {"error": f"worker lost: {_first_line(e)}", "started": child.dispatched,
                   "finished": time.time(), **child.worker.where}
        status, value, metrics, attrs, curve = self._outcome(out)
        number, genome = child.job.trial, child.job.genome
        self.done += 1
        self.tell(genome, metrics)
        self._settle(genome, number)
        for _ in range(self.deferred.pop(genome, 0)):  # revisits that waited for this result
            self.tell(genome, metrics)
            self._settle(genome, None)
        self.results[genome] = metrics
        state = {"ok": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(status,
                                                                           TrialState.FAIL)
        finished = Finished(trial=number, genome_id=genome.id, status=status,
                            accuracy=metrics["accuracy"] if metrics else None, reward=value,
                            seconds=float(attrs.get("seconds", 0.0)),
                            where=child.worker.where, message=str(attrs.get("message", "")),
                            params=attrs.get("params"), flops=attrs.get("flops"))
        self.to_finish.append((number, state, value, attrs, curve, finished))
        self.dirty = True
        self.progress.record(finished)

    def flush(self) -> None:
        """Write this round down: finished trials, then the state, then the new trials.

        The order keeps the saved state and the study consistent after a kill at any point:
        everything the saved state says was told is finished in the study (results before the
        save), and every RUNNING trial's genome is pending in the saved state (new trials
        after the save). See the module docstring.
        """
        for number, state, value, attrs, curve, finished in self.to_finish:
            self.study.finish(number, state=state, value=value, attrs=attrs, curve=curve)
            log.info("trial %d: %s %s", number, finished.status,
                     f"accuracy {value:.2f}%" if value is not None else finished.message)
        if self.dirty:
            self.save()
            self.dirty = False
        for number, genome, attrs in self.to_start:
            written = self.study.start(genome, attrs)
            if written != number:
                raise RuntimeError(f"study {self.run.name!r} numbered trial {written}, expected "
                                   f"{number}: is another process writing it?")
        self.to_start.clear()
        for *_, finished in self.to_finish:  # printed once the whole round is on disk
            self.view.finished(self.progress, finished)
        self.to_finish.clear()

    def tell(self, genome: Genome, metrics: Mapping[str, float] | None) -> None:
        """Tell the controller a result: the objective's reward, the value the study records."""
        self.controller.tell(genome, self.objective.reward(metrics), metrics)

    def _outcome(self, out: Mapping[str, Any]) -> tuple[
            str, float | None, dict[str, float] | None, dict[str, Any], list[float]]:
        """(status, value, metrics for the controller, user attrs, accuracy per epoch)."""
        from nas.training.result import Result

        attrs: dict[str, Any] = {
            "seconds": round(float(out["finished"]) - float(out["started"]), 3),
            "started_at": out["started"], "finished_at": out["finished"], **_place(out)}
        if "result" not in out:  # something other than the trainer raised, or Ray gave up
            attrs.update(status="error", message=out["error"],
                         traceback=out.get("traceback", ""))
            return "error", None, None, attrs, []
        result = Result.from_dict(out["result"])
        metrics = {k: float(v) for k, v in result.metrics().items()}
        status = result.status
        ok = status in ("ok", "pruned") and math.isfinite(metrics.get("accuracy", math.nan))
        if not ok and status in ("ok", "pruned"):
            status, result.message = "error", "the trainer reported no finite accuracy"
        attrs.update(metrics)  # flat, for the dashboard's columns; "metrics": what was told
        attrs.update(status=status, message=result.message, result=out["result"],
                     metrics=metrics if ok else None,
                     reward=self.objective.reward(metrics if ok else None))
        curve = [float(v) for v in result.val_top1]
        if not ok:
            return status, None, None, attrs, curve
        return status, self.objective.reward(metrics), metrics, attrs, curve

    def _finished(self, record: TrialRecord) -> Finished:
        a = record.attrs
        return Finished(trial=record.number, genome_id=record.genome.id, status=record.status,
                        accuracy=record.accuracy if record.state == "COMPLETE" else None,
                        reward=record.reward,
                        seconds=float(a.get("seconds", 0.0)), where=a, message=record.message,
                        params=a.get("params"), flops=a.get("flops"))

    def interrupt(self) -> None:
        """Stopped from outside (Ctrl-C, an error): mark the children in flight interrupted."""
        import ray

        self.stop_reason = "interrupted"
        for ref in self.children:  # cancelled first, or Ray retries them when we kill
            ray.cancel(ref)
        if self.children:
            self.children.clear()
            self.study.mark_interrupted("the search was stopped before this child finished")

    def close(self) -> None:
        """Record the time spent and how the session ended.

        The state written is the last one saved plus the elapsed time: an interruption may
        have come in the middle of a step, and the last saved state is the consistent one.
        """
        if self._saved:
            self.run.save_state({**self._saved, "elapsed": self.elapsed})
        ended = self.stop_reason in ("budget", "time", "exhausted")
        self.write_summary("finished" if ended else "interrupted")
        self.progress.note = {
            "budget": "", "time": "time budget spent", "exhausted": self.progress.note,
        }.get(self.stop_reason, f"stopped: resume with nas search --resume {self.run.name}")

    def kill_workers(self) -> None:
        import ray

        for handle in [*(w.handle for w in self.workers), *self.helpers]:
            ray.kill(handle)
        self.workers.clear()
        self.helpers.clear()


def _place(where: Mapping[str, Any]) -> dict[str, Any]:
    """The where-it-ran fields of a worker's answer, as study attrs."""
    return {k: where[k] for k in ("node", "host", "ip", "pid", "device", "gpu_ids",
                                  "cuda_visible_devices") if k in where}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --- the entry point -----------------------------------------------------------------------


def default_name(config: SearchConfig) -> str:
    return f"{config.space}-{config.controller}-{time.strftime('%Y%m%d-%H%M%S')}"


def make_controller(config: SearchConfig, space: Space) -> Controller:
    """The config's controller (it is told the run's rewards; it has no cost settings)."""
    from controllers.base import create_controller

    return create_controller(config.controller, space, seed=config.seed,
                             **config.controller_options)


def early_stopping(config: SearchConfig, controller: Controller) -> str | None:
    """How weak children are stopped early: ``--early-stop``'s pruner, else the one the
    controller asks for (optuna's ``pruner`` option); given both, they must agree."""
    own = controller.pruner()
    if config.early_stop and own and config.early_stop != own:
        raise NasError(f"--early-stop {config.early_stop} and the controller's pruner {own!r} "
                       "disagree: give one of them")
    return config.early_stop or own


def resumed_config(run: RunDir, overrides: Mapping[str, Any]) -> SearchConfig:
    """The run's saved config with the flags given to ``--resume`` (how-to-run and budget)."""
    saved = run.config
    given = {k: v for k, v in overrides.items() if v is not None}
    changed = [k for k in SearchConfig.FIXED if k in given and given[k] != saved.get(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise NasError(f"--resume {run.name}: {flags} cannot change within a run; start a new "
                       "run (--name) to search differently")
    return SearchConfig.from_dict({**saved, **given})


def run_search(config: SearchConfig | None = None, *, name: str | None = None,
               runs_dir: str | Path = "runs", resume: str | None = None,
               view: View | None = None, child_fn: ChildFn = train_child,
               overrides: Mapping[str, Any] | None = None) -> SearchResult:
    """Run (or resume) a search to the end of its budget; see the module docstring.

    ``config`` defines a new run named ``name`` (default: space-controller-time); ``resume``
    names an existing run in ``runs_dir`` instead, whose saved config is used with
    ``overrides`` (the how-to-run fields, or a new budget). ``child_fn`` replaces the trainer
    in the workers (the scheduling benchmark uses a timed sleep). Ray is started locally, or
    joined at ``config.address``, unless this process already runs it. Every error a user can
    cause is raised before the run directory is created or Ray starts children.
    """
    import ray

    lock: RunLock | None = None
    try:
        if resume is not None:
            run = RunDir.open(runs_dir, resume)
            lock = run.lock()  # first of all: two drivers never write one run
            config = resumed_config(run, overrides or {})
        config = config or SearchConfig()
        config.check()
        if resume is None:
            name = name or default_name(config)
            RunDir.check_free(runs_dir, name)
        if config.storage:
            open_storage(config.storage)  # a bad URL fails now, not after Ray started
        space = create_space(config.space, **config.space_options)
        controller = make_controller(config, space)
        config = dataclasses.replace(config, early_stop=early_stopping(config, controller))
        recipe = resolve_recipe(config)
        data = load_data(config)
        config = dataclasses.replace(config, input_shape=list(data.input_shape),
                                     num_classes=data.num_classes)
        started_ray = connect_ray(config.resources())
        try:
            slots = plan_slots(config.resources(), ray.cluster_resources())
            if resume is None:
                assert name is not None
                run = RunDir.create(runs_dir, name, config.to_dict())
                lock = run.lock()
            else:
                run.write_config(config.to_dict())
            return _session(run, config, space, controller, recipe, data, slots,
                            view or LineView(), child_fn, resuming=resume is not None)
        finally:
            if started_ray:
                ray.shutdown()
    finally:
        if lock is not None:
            lock.release()


def _session(run: RunDir, config: SearchConfig, space: Space, controller: Controller,
             recipe: dict[str, Any], data: DataSplits, slots: Slots, view: View,
             child_fn: ChildFn, resuming: bool) -> SearchResult:
    """One session of ``run``: open the study, restore, start the workers, loop, clean up."""
    import ray

    handler = run.log_handler()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    propagate, log.propagate = log.propagate, False  # the view, not stderr, shows progress
    progress = Progress(run=run.name, space=config.space, controller=config.controller,
                        dataset=config.dataset, trials=config.trials,
                        time_budget=config.time_budget)
    search: Search | None = None
    try:
        study = RunStudy.open(run.storage_url, run.name, space, create=True,
                              load=resuming)
        search = Search(run, config, space, controller, study, recipe, view, progress)
        log.info("%s %s: %s", "resume" if resuming else "start", run.name,
                 {k: v for k, v in config.to_dict().items() if v not in (None, {}, False)})
        if resuming:
            search.resume()
        else:
            search.save()
        try:
            if search.may_start() or search.queue:
                stopper = None
                if config.early_stop:  # the rungs remember the children of earlier sessions
                    history = [(r.attrs["result"].get("val_top1", []), r.status)
                               for r in study.records()
                               if r.finished and isinstance(r.attrs.get("result"), dict)]
                    stopper = ray.remote(EarlyStopper).options(num_cpus=0).remote(
                        config.early_stop, max_resource=math.ceil(config.epochs),
                        history=history)
                    search.helpers.append(stopper)
                log.info("%s; data %s", slots.describe(), data.summary())
                search.data_ref = ray.put(SharedData.of(data))  # alive as long as the workers
                search.start_workers(slots, child_fn, stopper)
            view.start(progress)
            search.loop()
        except BaseException:
            search.interrupt()
            raise
        finally:
            search.close()
            view.stop(progress)
        log.info("stop: %s after %d children", search.stop_reason, search.done)
        return SearchResult(run=run, stop_reason=search.stop_reason, done=search.done,
                            best=progress.best)
    finally:
        if search is not None:
            search.kill_workers()
        log.removeHandler(handler)
        handler.close()
        log.propagate = propagate
