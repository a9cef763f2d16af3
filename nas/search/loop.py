"""The search driver: a controller proposes, an evaluator judges, a study records.

One driver process runs the loop below with one controller and one evaluator
(:mod:`nas.evaluators`): ``train`` trains each child from scratch on Ray workers (a GPU, a
share of one, or ``K`` CPU cores each), ``table`` looks it up in a table of published results.
The loop hands the evaluator children while it has room and takes back whichever finished:
whenever children finish, the controller is told, and the evaluator gets its next children at
once; only then are the study written and the state saved, so no slot waits for the disk or
for another child (asynchronous search; a batched controller such as ``rl`` learns when its
batch of results is complete).

The value a controller is told and the value the study records are the same number: the run
objective's reward (:class:`nas.core.objective.Objective`: validation accuracy, or accuracy
traded against a cost).

Nothing is lost. Each round of the loop does, in this order:

1. take the finished children; ``controller.tell`` each (in memory);
2. give the evaluator a child for each free slot: a genome to re-run, else
   ``controller.propose()``;
3. write the finished children to the study: attrs, learning curve, final state;
4. save the controller's (and the evaluator's) state with ``told`` (trial numbers) and
   ``pending`` (genomes proposed, result not told), atomically;
5. write a RUNNING trial to the study for each new child.

So whatever the saved state says was told is finished in the study, and every RUNNING trial
is pending in the saved state. After a kill at any moment, :meth:`Search.resume` marks the
RUNNING trials interrupted (they do not count), tells the controller the finished results its
saved state had not seen (in the order they were first told), and judges the pending genomes
(the interrupted ones among them) again before proposing anything new. A proposal made after
the last save left no trace in the study and is forgotten with it. The controller thus sees
every result exactly once, and the budget (``--trials``, ``--time-budget``) counts finished
children over all sessions of the run.

Pictures. Given a ``pictures`` hook (the API and ``nas search`` pass
:func:`nas.results.artifacts.trial_pictures`), each child's cell diagram or layer table is
drawn while it trains, in one background thread at the lowest priority, and stored with its
trial as an Optuna artifact (``artifacts/``), for optuna-dashboard. The loop never waits for a
drawing: a child that finishes before its picture is drawn is recorded without one (a NASNet
diagram takes 0.5-1.5 s of matplotlib; see :mod:`nas.results.artifacts`).

Stage one. With ``--prefilter`` (:mod:`nas.search.prefilter`), before the evaluator starts,
many random cells are scored with a zero-cost proxy and the best are queued first; the study
records the stage (a study attribute, and the chosen trials' attributes) and only the judged
children are trials.

A genome proposed again after its result is known is answered from that result, without
judging it again (the controller interface's convention for revisits); it costs no trial.
After ``revisit_limit`` revisits in a row the controller has nothing new to propose: a search
stops there ("exhausted"), while a benchmark, which must spend exactly its budget, judges the
next proposal again as a new trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from controllers.base import Controller, create_controller
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.objective import Objective
from nas.core.space import Space, create_space
from nas.evaluators.base import STATUSES, Context, Evaluation, Evaluator, Job, create_evaluator
from nas.search.config import REVISIT_LIMIT, STATE_FORMAT, SearchConfig, resolve_recipe
from nas.search.live import Finished, LineView, Progress, Running, View
from nas.search.prefilter import SCORE_FILE, Chosen, Prefilter
from nas.search.store import (
    STATE,
    RunDir,
    RunLock,
    RunStudy,
    TrialRecord,
    open_run_study,
    open_storage,
    run_config,
    sqlite_file,
    study_ready,
)
from nas.search.validate import SavedState, saved_state

log = logging.getLogger("nas.search")
_LOGGER = logging.getLogger("nas")  # the run's search.log hears the search and its evaluator

#: Draws a child's pictures: (genome, the run's config, directory) -> files written.
Pictures = Callable[[Genome, Mapping[str, Any], Path], list[Path]]


@dataclass
class SearchResult:
    """What :func:`run_search` returns: the run and how it ended."""

    run: RunDir | None  # None for a search kept in memory (search_in_memory)
    stop_reason: str  # "budget", "time", "exhausted", "interrupted"
    done: int  # finished children over the whole run
    best: Finished | None
    study: RunStudy
    revisits: int = 0  # proposals answered from known results in this session


class Search:
    """One session of a run: restore its state, keep the evaluator busy, record every child.

    ``run`` None keeps everything in memory (nothing saved; the study's storage decides).
    """

    def __init__(self, run: RunDir | None, config: SearchConfig, controller: Controller,
                 evaluator: Evaluator, study: RunStudy, view: View, progress: Progress, *,
                 revisit_limit: int = REVISIT_LIMIT, repeat_when_exhausted: bool = False,
                 pictures: Pictures | None = None, prefilter: Prefilter | None = None) -> None:
        self.run = run
        self.config = config
        self.space = evaluator.context.space
        self.controller = controller
        self.evaluator = evaluator
        self.study = study
        self.view = view
        self.progress = progress
        self.objective = objective(config, evaluator)  # the one reward: told and recorded
        self.revisit_limit = revisit_limit
        self.repeat_when_exhausted = repeat_when_exhausted
        # the driver's state, saved with the controller's once a round (see the module doc)
        self.told: set[int] = set()  # trial numbers whose result the controller has
        self.pending: list[Genome] = []  # proposed (or to re-run), result not yet told
        self.elapsed_before = 0.0
        # this session's bookkeeping
        self.session_start = time.time()
        self.results: dict[Genome, dict[str, float] | None] = {}  # known results (revisits)
        self.queue: deque[Genome] = deque()  # pending genomes to judge before new proposals
        self.deferred: dict[Genome, int] = {}  # revisits of a genome still being judged
        self.flying: dict[int, Job] = {}  # trial number -> job the evaluator has
        self.done = 0  # finished children, whole run
        self.revisit_streak = 0
        self.stop_reason = ""
        self._saved: dict[str, Any] = {}  # the state last saved
        # what this round has to write (see flush)
        self.to_start: list[tuple[int, Genome, dict[str, Any]]] = []
        self.to_finish: list[tuple[int, TrialState, float | None, dict[str, Any],
                                   list[float], Finished]] = []
        self.dirty = False  # the state changed since it was last saved
        # the children's pictures, drawn in the background (see the module docstring)
        self.pictures = pictures if run is not None else None
        self.artist: ThreadPoolExecutor | None = None
        self.drawing: dict[int, Future[list[Path]]] = {}  # trial number -> its pictures
        # stage one of a prefiltered search (nas.search.prefilter): the genomes it chose
        self.prefilter = prefilter
        self.chosen: dict[Genome, Chosen] = {}

    # --- state ----------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + (time.time() - self.session_start)

    def save(self) -> None:
        """Save the controller's and the evaluator's state with the driver's (atomically),
        and the summary.

        Called once a round, between writing its finished and its new trials (see
        :meth:`flush`), so the saved state is always one that a resume can continue from.
        """
        if self.run is None:
            return
        self._saved = {
            "format": STATE_FORMAT,
            "controller": self.controller.state_dict(),
            "evaluator": self.evaluator.state_dict(),
            "told": sorted(self.told),
            "pending": [g.to_dict() for g in self.pending],
            "elapsed": self.elapsed,
        }
        with self._writing("state"):
            self.run.save_state(self._saved)
            self.write_summary("running")

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A write that the disk may refuse (full, read-only): one NasError line; what was
        written before stays (every write is atomic) and the run resumes from it."""
        try:
            yield
        except (OSError, SQLAlchemyError, optuna.exceptions.StorageInternalError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            name = self.run.name if self.run is not None else self.study.name
            raise NasError(f"cannot write the run's {what} ({reason.splitlines()[0][:120]}); "
                           f"what was saved before is kept: free some space, then nas search "
                           f"--resume {name}") from None

    def write_summary(self, state: str) -> None:
        if self.run is None:
            return
        best = self.progress.best
        self.run.write_summary({
            "state": state, "done": self.done, "failed": self.progress.failed,
            "pruned": self.progress.pruned, "trials": self.config.trials,
            "time_budget": self.config.time_budget, "elapsed": round(self.elapsed, 1),
            "best": None if best is None else {
                "accuracy": best.accuracy, "reward": best.reward, "trial": best.trial,
                "genome_id": best.genome_id, "params": best.params, "macs": best.macs},
            "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        })

    def resume(self, state: SavedState | None) -> None:
        """Bring the driver level with the study after a stop at any moment.

        ``state`` is the run's saved state, checked, whose controller and evaluator parts the
        controller and the evaluator already hold (:func:`restore`: before anything of the
        run is rewritten).
        """
        if state is not None:
            self.told = set(state.told)
            self.pending = [self.space.validate(Genome.from_dict(g)) for g in state.pending]
            self.elapsed_before = float(state.elapsed)
        interrupted = self.study.mark_interrupted(
            "the search stopped before this child finished; it was judged again")
        if interrupted:
            log.info("resume: %d interrupted child(ren) marked: trials %s", len(interrupted),
                     [r.number for r in interrupted])
        retold = 0
        records = [r for r in self.study.records() if r.finished]
        for record in records:
            self.done += 1
            self.results[record.genome] = record.metrics()
            self.progress.record(_finished(record), counted=False)
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

    def take_proposals(self) -> None:
        """Queue the genomes the evaluator's method derived, before any proposal of the
        controller's (each becomes a trial; ones already judged are answered as revisits)."""
        derived = [self.space.validate(g) for g in self.evaluator.proposals()]
        fresh = [g for g in derived if g not in self.queue]
        if fresh:
            log.info("%s derived %d genome(s): %s", self.evaluator.name, len(fresh),
                     ", ".join(g.id for g in fresh))
            self.queue.extendleft(reversed(fresh))

    def take_prefiltered(self) -> None:
        """Stage one: score the candidates with the proxy, record them in the study, and
        queue the best that have no finished trial yet, before anything else (see
        :mod:`nas.search.prefilter`)."""
        if self.prefilter is None:
            return
        path = self.run.path / SCORE_FILE if self.run is not None else None
        report = self.evaluator.context.report
        chosen = self.prefilter.run(self.evaluator.context, self.config.seed, path, report)
        with self._writing("study"):
            self.study.describe(prefilter=self.prefilter.record())
        self.chosen = {c.genome: c for c in chosen}
        fresh = [c.genome for c in chosen if c.genome not in self.results
                 and c.genome not in self.queue]
        log.info("prefilter: %d cells scored with %s; %d of the best %d to judge: %s",
                 len(self.prefilter.ranked), self.prefilter.name, len(fresh), len(chosen),
                 ", ".join(g.id for g in fresh))
        self.queue.extendleft(reversed(fresh))

    def history(self) -> list[Evaluation]:
        """The run's finished children as evaluations (for an evaluator that learns from
        them, e.g. early stopping's rungs)."""
        return [Evaluation(status=r.status if r.status in STATUSES else "error",
                           metrics=r.metrics() or {}, curve=list(r.curve))
                for r in self.study.records() if r.finished]

    def _settle(self, genome: Genome, number: int | None) -> None:
        """The controller has been told about ``genome`` (from trial ``number``, if any)."""
        if genome in self.pending:
            self.pending.remove(genome)
        if number is not None:
            self.told.add(number)

    def tell(self, genome: Genome, metrics: Mapping[str, float] | None) -> None:
        """Tell the controller a result: the objective's reward, the value the study records."""
        self.controller.tell(genome, self.objective.reward(metrics), metrics)

    # --- the loop -------------------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether the budget allows one more child now."""
        if self.stop_reason:
            return False
        if self.config.trials is not None and self.done + len(self.flying) >= self.config.trials:
            if not self.flying:
                self.stop_reason = "budget"
            return False
        if self.config.time_budget is not None and self.elapsed >= self.config.time_budget:
            self.stop_reason = "time"
            return False
        return True

    def jobs_left(self) -> int | None:
        """Children the budget still allows (None: only time bounds it)."""
        return None if self.config.trials is None else self.config.trials - self.done

    def loop(self, refresh: float = 0.5) -> None:
        """Until the budget is spent: wait for children, tell, refill, then write it all down.

        Each round takes every result that is ready, tells the controller, hands the freed
        slots their next children, and only then writes the study and saves the state, so
        the evaluator waits for the controller but never for the disk.
        """
        while True:
            self.fill()
            self.flush()
            if not self.flying and not (self.evaluator.warming() and self.may_start()):
                break
            for job, evaluation in self.evaluator.wait(timeout=refresh):
                self.collect(job, evaluation)
            self.progress.workers = self.evaluator.slots_total
            self.progress.workers_ready = self.evaluator.slots_ready
            if self.evaluator.note or not self.progress.note.startswith("the controller"):
                self.progress.note = self.evaluator.note
            self.view.update(self.progress)
        if not self.stop_reason:
            self.stop_reason = "budget"

    def fill(self) -> None:
        """Give every free slot a child: a genome to re-run, else a new proposal."""
        while self.evaluator.idle() > 0 and self.may_start():
            genome = self.queue.popleft() if self.queue else self.propose()
            known = genome in self.results
            if known and not (self.repeat_when_exhausted
                              and self.revisit_streak >= self.revisit_limit):
                self.revisit(genome)  # answer from the result, judge nothing
                continue
            if not known and any(j.genome == genome for j in self.flying.values()):
                self.deferred[genome] = self.deferred.get(genome, 0) + 1
                log.info("genome %s proposed again while being judged: told when it ends",
                         genome.id)
                self.count_revisit()
                continue
            self.dispatch(genome)

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
        if self.revisit_streak >= self.revisit_limit and not self.repeat_when_exhausted:
            self.stop_reason = "exhausted"
            self.progress.note = (f"the controller's last {self.revisit_limit} proposals were "
                                  "all known genomes: nothing new to judge")
            log.info(self.progress.note)

    def dispatch(self, genome: Genome) -> None:
        """Hand ``genome`` to the evaluator now; its study trial is written in :meth:`flush`.

        The trial's number is known in advance (the driver is the study's only writer, and
        :meth:`RunStudy.start` checks it), so the child carries it from the start.
        """
        number = self.study.next_number + len(self.to_start)
        job = Job(trial=number, genome=genome)
        where = self.evaluator.submit(job)
        self.flying[number] = job
        attrs = dict(where)
        if genome in self.chosen:  # stage one chose it: its proxy rank and score
            attrs["prefilter"] = {"proxy": self.prefilter.name if self.prefilter else None,
                                  **self.chosen[genome].to_dict()}
        self.to_start.append((number, genome, attrs))
        if self.pictures is not None:
            self.draw(number, genome)
        self.progress.running[number] = Running(number, genome.id, time.time(), where)
        self.revisit_streak = 0
        log.info("trial %d: genome %s on %s", number, genome.id,
                 f"worker {where['worker']} ({where.get('device')})" if "worker" in where
                 else where.get("device", "?"))

    def draw(self, number: int, genome: Genome) -> None:
        """Start drawing trial ``number``'s pictures in the background."""
        assert self.pictures is not None and self.run is not None
        if self.artist is None:
            self.artist = ThreadPoolExecutor(1, thread_name_prefix="nas-pictures",
                                             initializer=_lowest_priority)
        self.drawing[number] = self.artist.submit(
            self.pictures, genome, self.config.to_dict(), self.run.path / "pictures")

    def drawn(self, number: int) -> list[Path]:
        """Trial ``number``'s pictures if they are drawn by now (never waits)."""
        future = self.drawing.pop(number, None)
        if future is None or not future.done():
            if future is not None and not future.cancel():
                log.info("trial %d: finished before its picture was drawn", number)
            return []
        error = future.exception()
        if error is not None:
            log.warning("trial %d: no picture (%s: %s)", number, type(error).__name__, error)
            return []
        return future.result()

    def collect(self, job: Job, evaluation: Evaluation) -> None:
        """A child finished: tell the controller now; its trial is written in :meth:`flush`."""
        self.flying.pop(job.trial)
        if evaluation.status in ("ok", "pruned") and not evaluation.ok:
            evaluation.status = "error"
            evaluation.message = f"evaluator {self.evaluator.name!r} gave no finite accuracy"
        metrics = evaluation.told()
        number, genome = job.trial, job.genome
        self.done += 1
        self.tell(genome, metrics)
        self._settle(genome, number)
        for _ in range(self.deferred.pop(genome, 0)):  # revisits that waited for this result
            self.tell(genome, metrics)
            self._settle(genome, None)
        self.results[genome] = metrics
        reward = self.objective.reward(metrics)
        state = {"ok": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(
            evaluation.status, TrialState.FAIL)
        attrs: dict[str, Any] = {
            "seconds": round(evaluation.seconds, 3), "started_at": evaluation.started,
            "finished_at": evaluation.finished, **evaluation.where,
            **evaluation.metrics,  # flat, for the dashboard's columns; "metrics": what was told
            "status": evaluation.status, "message": evaluation.message,
            "result": evaluation.detail, "metrics": metrics, "reward": reward}
        if evaluation.measure != "accuracy":  # the result is a proxy's score, not an accuracy
            attrs["measure"] = evaluation.measure
        finished = Finished(trial=number, genome_id=genome.id, status=evaluation.status,
                            accuracy=metrics.get("accuracy") if metrics else None,
                            reward=reward, seconds=evaluation.seconds, where=evaluation.where,
                            message=evaluation.message, params=evaluation.metrics.get("params"),
                            macs=evaluation.metrics.get("macs"), measure=evaluation.measure)
        self.to_finish.append((number, state, reward, attrs, evaluation.curve, finished))
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
            pictures = self.drawn(number)
            with self._writing("study"):
                self.study.finish(number, state=state, value=value, attrs=attrs, curve=curve,
                                  artifacts=pictures)
            for path in pictures:  # the artifact store keeps its own copy
                path.unlink(missing_ok=True)
            log.info("trial %d: %s %s", number, finished.status,
                     f"reward {value:.2f}" if value is not None else finished.message)
        if self.dirty:
            self.save()
            self.dirty = False
        for number, genome, attrs in self.to_start:
            with self._writing("study"):
                written = self.study.start(genome, attrs)
            if written != number:
                raise RuntimeError(f"study {self.study.name!r} numbered trial {written}, "
                                   f"expected {number}: is another process writing it?")
        self.to_start.clear()
        for *_, finished in self.to_finish:  # printed once the whole round is on disk
            self.view.finished(self.progress, finished)
        self.to_finish.clear()

    def interrupt(self) -> None:
        """Stopped from outside (Ctrl-C, an error): mark the children in flight interrupted."""
        self.stop_reason = "interrupted"
        self.evaluator.cancel()
        if self.flying:
            self.flying.clear()
            try:  # the study may be what failed (a full disk): a resume marks them anyway
                self.study.mark_interrupted("the search was stopped before this child "
                                            "finished")
            except (OSError, SQLAlchemyError, optuna.exceptions.StorageInternalError) as e:
                log.warning("could not mark the children in flight interrupted: %s", e)

    def close(self) -> None:
        """Record the time spent and how the session ended.

        The state written is the last one saved plus the elapsed time: an interruption may
        have come in the middle of a step, and the last saved state is the consistent one.
        """
        if self.artist is not None:  # at most the one drawing under way is waited for
            self.artist.shutdown(wait=True, cancel_futures=True)
        if self.run is not None:
            shutil.rmtree(self.run.path / "pictures", ignore_errors=True)  # left undrawn
        ended = self.stop_reason in ("budget", "time", "exhausted")
        try:
            if self._saved and self.run is not None:
                self.run.save_state({**self._saved, "elapsed": self.elapsed})
            self.write_summary("finished" if ended else "interrupted")
        except OSError as e:  # a full disk: the last saved state stands (atomic writes)
            log.warning("could not record the end of the session: %s", e.strerror or e)
        name = self.run.name if self.run is not None else self.study.name
        self.progress.note = {
            "budget": "", "time": "time budget spent", "exhausted": self.progress.note,
        }.get(self.stop_reason, f"stopped: resume with nas search --resume {name}")


def _lowest_priority() -> None:
    """Run this thread at the lowest CPU priority (Linux: niceness is per thread), so that
    drawing uses only what training leaves idle."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _finished(record: TrialRecord) -> Finished:
    a = record.attrs
    return Finished(trial=record.number, genome_id=record.genome.id, status=record.status,
                    accuracy=record.accuracy if record.state == "COMPLETE" else None,
                    reward=record.reward, seconds=float(a.get("seconds", 0.0)), where=a,
                    message=record.message, params=a.get("params"), macs=a.get("macs"),
                    measure=str(a.get("measure", "accuracy")))


# --- the entry point -----------------------------------------------------------------------


def default_name(config: SearchConfig) -> str:
    return f"{config.space}-{config.controller}-{time.strftime('%Y%m%d-%H%M%S')}"


def make_controller(config: SearchConfig, space: Space) -> Controller:
    """The config's controller (it is told the run's rewards; it has no cost settings)."""
    return create_controller(config.controller, space, seed=config.seed,
                             **config.controller_options)


def make_context(config: SearchConfig, space: Space | None = None,
                 controller: Controller | None = None,
                 workdir: Path | None = None) -> Context:
    """What the config's evaluator is given: the space, data, recipe, budget and resources."""
    space = space or create_space(config.space, **config.space_options)
    needed = {*config.objective().metrics, *(controller.required_metrics() if controller
                                              else ())} - {"accuracy"}
    return Context(space=space, dataset=config.dataset, data_dir=config.data_dir,
                   limit=config.limit, recipe=resolve_recipe(config), epochs=config.epochs,
                   seed=config.seed, resources=config.resources(), early_stop=config.early_stop,
                   metrics=tuple(sorted(needed)), workdir=workdir,
                   controller=config.controller)


def objective(config: SearchConfig, evaluator: Evaluator) -> Objective:
    """The run's objective on what ``evaluator`` measures (the accuracy, or a proxy's score:
    a cost cannot be traded against that, NasError)."""
    return dataclasses.replace(config.objective(), metric=evaluator.measure)


def make_evaluator(config: SearchConfig, space: Space, controller: Controller) -> Evaluator:
    return create_evaluator(config.evaluator, make_context(config, space, controller),
                            **config.evaluator_options)


def early_stopping(config: SearchConfig, controller: Controller) -> str | None:
    """How weak children are stopped early: ``--early-stop``'s pruner, else the one the
    controller asks for (optuna's ``pruner`` option); given both, they must agree."""
    own = controller.pruner()
    if config.early_stop and own and config.early_stop != own:
        raise NasError(f"--early-stop {config.early_stop} and the controller's pruner {own!r} "
                       "disagree: give one of them")
    return config.early_stop or own


def resumed_config(run: RunDir, overrides: Mapping[str, Any]) -> SearchConfig:
    """The run's saved config (checked: :func:`nas.search.store.run_config`) with the flags
    given to ``--resume`` (how-to-run and budget)."""
    saved = run_config(run).to_dict()
    given = {k: v for k, v in overrides.items() if v is not None}
    changed = [k for k in SearchConfig.FIXED if k in given and given[k] != saved.get(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise NasError(f"--resume {run.name}: {flags} cannot change within a run; start a new "
                       "run (--name) to search differently")
    return SearchConfig.from_dict({**saved, **given})


def restore(run: RunDir, config: SearchConfig, controller: Controller,
            evaluator: Evaluator) -> SavedState | None:
    """Check everything ``--resume`` needs from ``run`` and restore the controller's and the
    evaluator's state, before anything is rewritten or started (see :func:`run_search`).

    Refuses, in one line naming the file: a state file that is not what nas saves (or whose
    controller part does not fit the controller), a study that is missing or damaged, a
    study without the trials the state says were told, and a ``--trials`` below the children
    the run has already finished (the budget counts over the whole run, and is never shrunk).
    """
    path = run.path / STATE
    raw = run.load_state()  # readable, or one line naming the file
    if raw is not None and raw.get("format") != STATE_FORMAT:
        raise NasError(f"run {run.name!r} was saved by another version of nas (state format "
                       f"{str(raw.get('format'))[:20]}, not {STATE_FORMAT}); start a new run")
    state = None if raw is None else saved_state(raw, path)
    if state is not None:
        for part, owner in (("controller", controller), ("evaluator", evaluator)):
            try:
                owner.load_state_dict(getattr(state, part) or {})
            except NasError as e:
                raise NasError(f"{path}: {e}") from None
            except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                    RuntimeError) as e:  # a state nas did not write: refused, not trusted
                raise NasError(f"{path}: the {part}'s state cannot be restored "
                               f"({type(e).__name__}: {str(e)[:120]})") from None
        for g in state.pending:
            try:
                evaluator.context.space.validate(Genome.from_dict(g))
            except NasError as e:
                raise NasError(f"{path}: a pending genome is not valid: {e}") from None
    told = set(state.told) if state is not None else set()
    recorded = told | ({-1} if state is not None and state.pending else set())
    file = sqlite_file(run.storage_url)
    if file is not None and not study_ready(file):
        if recorded:
            raise NasError(f"run {run.name!r} is damaged: its study {file} is missing or "
                           f"empty, but {path.name} records children; start a new run")
        return state  # stopped before (or while) its study was made: nothing to lose
    finished = {r.number for r in open_run_study(run).records() if r.finished}
    lost = sorted(told - finished)
    if lost:
        raise NasError(f"run {run.name!r} is damaged: {path.name} says trial(s) "
                       f"{', '.join(map(str, lost[:5]))} finished, but its study does not "
                       "have them; start a new run")
    if config.trials is not None and config.trials < len(finished):
        raise NasError(f"--resume {run.name}: the run has finished {len(finished)} children "
                       f"already; --trials {config.trials} would shrink its budget (it counts "
                       f"children over the whole run): give --trials {len(finished)} or more")
    return state


def run_search(config: SearchConfig | None = None, *, name: str | None = None,
               runs_dir: str | Path = "runs", resume: str | None = None,
               view: View | None = None, evaluator: Evaluator | None = None,
               overrides: Mapping[str, Any] | None = None,
               pictures: Pictures | None = None) -> SearchResult:
    """Run (or resume) a search to the end of its budget; see the module docstring.

    ``config`` defines a new run named ``name`` (default: space-controller-time); ``resume``
    names an existing run in ``runs_dir`` instead, whose saved config is used with
    ``overrides`` (the how-to-run fields, or a new budget). ``evaluator`` replaces the one the
    config names (the scheduling benchmark passes a ``train`` evaluator whose children sleep).
    ``pictures`` draws each child's pictures, stored as its trial's artifacts (see the
    module docstring). Every error a user can cause is raised before the run directory is
    created (or, for a resume, rewritten: its config.json is written only once the new config,
    the saved state and the study are known good) and before the evaluator connects to Ray or
    starts judging.
    """
    lock: RunLock | None = None
    state: SavedState | None = None
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
        if config.storage and resume is None:
            open_storage(config.storage)  # a bad URL fails now, not after Ray started
        space = create_space(config.space, **config.space_options)
        controller = make_controller(config, space)
        config = dataclasses.replace(config, early_stop=early_stopping(config, controller))
        evaluator = evaluator or make_evaluator(config, space, controller)
        objective(config, evaluator)  # a cost with a proxy's score: raised before the run
        if resume is not None:
            state = restore(run, config, controller, evaluator)
        try:
            evaluator.open()  # missing data, an unreachable cluster: raised here
            stage_one = Prefilter.from_config(config)
            if stage_one is not None:  # its data and minibatch, before the run exists
                stage_one.check(evaluator.context, config.seed)
            config = dataclasses.replace(config, input_shape=list(evaluator.input_shape),
                                         num_classes=evaluator.num_classes)
            if resume is None:
                assert name is not None
                run = RunDir.create(runs_dir, name, config.to_dict())
                lock = run.lock()
            else:
                run.write_config(config.to_dict())
            evaluator.context.workdir = run.path / "evaluator"
            return _session(run, config, controller, evaluator, view or LineView(),
                            resuming=resume is not None, state=state, pictures=pictures)
        finally:
            evaluator.close()
    finally:
        if lock is not None:
            lock.release()


def _session(run: RunDir, config: SearchConfig, controller: Controller, evaluator: Evaluator,
             view: View, resuming: bool, state: SavedState | None = None,
             pictures: Pictures | None = None) -> SearchResult:
    """One session of ``run``: open the study, restore, start the evaluator, loop."""
    handler = run.log_handler()
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(logging.INFO)
    propagate, _LOGGER.propagate = _LOGGER.propagate, False  # the view shows progress
    try:
        study = RunStudy.open(run.storage_url, run.name, evaluator.context.space, create=True,
                              load=resuming)
        study.artifact_store = run.artifact_store()
        return _drive(run, config, controller, evaluator, study, view, resuming=resuming,
                      state=state, pictures=pictures)
    finally:
        _LOGGER.removeHandler(handler)
        handler.close()
        _LOGGER.propagate = propagate


def _drive(run: RunDir | None, config: SearchConfig, controller: Controller,
           evaluator: Evaluator, study: RunStudy, view: View, *, resuming: bool = False,
           state: SavedState | None = None, **options: Any) -> SearchResult:
    """Restore, start the evaluator, loop until the budget is spent, record how it ended."""
    progress = Progress(run=study.name, space=config.space, controller=config.controller,
                        dataset=config.dataset, trials=config.trials,
                        time_budget=config.time_budget, evaluator=config.evaluator)
    options.setdefault("prefilter", Prefilter.from_config(config))
    search = Search(run, config, controller, evaluator, study, view, progress, **options)
    study.describe(config=config.to_dict(), evaluator=evaluator.describe(),
                   objective=search.objective.to_dict())
    log.info("%s %s: %s", "resume" if resuming else "start", study.name,
             {k: v for k, v in config.to_dict().items() if v not in (None, {}, False)})
    if resuming:
        search.resume(state)
    else:
        search.save()
    def report(message: str) -> None:  # a long phase of the evaluator, on the view and log
        log.info("%s: %s", evaluator.name, message)
        progress.note = message
        view.update(progress)

    evaluator.context.report = report
    try:
        view.start(progress)
        if search.may_start() or search.queue:
            search.take_prefiltered()  # stage one, before the evaluator acquires compute
            evaluator.start(search.history(), jobs=search.jobs_left())
            search.take_proposals()
        search.loop()
    except BaseException:
        search.interrupt()
        raise
    finally:
        search.close()
        view.stop(progress)
    log.info("stop: %s after %d children", search.stop_reason, search.done)
    return SearchResult(run=run, stop_reason=search.stop_reason, done=search.done,
                        best=progress.best, study=study, revisits=progress.revisits)


class QuietView:
    """A view that shows nothing (searches inside a benchmark)."""

    def start(self, progress: Progress) -> None: ...
    def update(self, progress: Progress) -> None: ...
    def finished(self, progress: Progress, child: Finished) -> None: ...
    def stop(self, progress: Progress) -> None: ...


def search_in_memory(config: SearchConfig, *, evaluator: Evaluator | None = None,
                     view: View | None = None, revisit_limit: int = REVISIT_LIMIT,
                     repeat_when_exhausted: bool = False,
                     prefilter: Prefilter | None = None) -> SearchResult:
    """The same search with no run directory: the study lives in memory, nothing is saved.

    For benchmarks (``nas benchmark`` runs every controller and seed this way with the
    ``table`` evaluator) and notebooks. ``repeat_when_exhausted`` judges a known genome again
    once the controller has proposed only known ones ``revisit_limit`` times in a row, so the
    budget is always spent (the benchmark's convention), instead of stopping. ``prefilter``
    replaces the stage one the config describes (a benchmark's, with scores computed before).
    """
    config.check()
    space = create_space(config.space, **config.space_options)
    controller = make_controller(config, space)
    config = dataclasses.replace(config, early_stop=early_stopping(config, controller))
    evaluator = evaluator or make_evaluator(config, space, controller)
    objective(config, evaluator)
    try:
        evaluator.open()
        storage = optuna.storages.InMemoryStorage()
        study = RunStudy.open(storage, f"{config.space}-{config.controller}-{config.seed}",
                              space, create=True)
        return _drive(None, config, controller, evaluator, study, view or QuietView(),
                      revisit_limit=revisit_limit, repeat_when_exhausted=repeat_when_exhausted,
                      prefilter=prefilter or Prefilter.from_config(config))
    finally:
        evaluator.close()


__all__ = ["Search", "SearchResult", "make_context", "make_controller", "make_evaluator",
           "run_search", "search_in_memory"]
