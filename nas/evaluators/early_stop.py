"""Early stopping of children by their per-epoch validation accuracy (an Optuna pruner in a
Ray actor): asynchronous successive halving, Hyperband or the median rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from nas.core.errors import NasError

PRUNERS = ("sha", "median", "hyperband")  # --early-stop's choices; "sha" is asynchronous


class EarlyStopper:
    """Early stopping of children by their per-epoch validation accuracy, with an Optuna pruner.

    A Ray actor holding an in-memory Optuna study whose only job is its pruner: every child
    reports ``(epoch, accuracy)`` and hears whether to go on, and says how it ended
    (:meth:`finish`). Nothing waits for other children, so no slot idles.

    - ``sha``: asynchronous successive halving (ASHA, Li et al. 2020): at rung epochs
      ``min_resource x reduction_factor ** k`` a child goes on only if it is in the top
      ``1 / reduction_factor`` of the children that reached that rung;
    - ``hyperband``: several such brackets with different minimum budgets, up to
      ``max_resource`` epochs (Li et al. 2018);
    - ``median``: stop a child whose accuracy is below the median of the finished children's
      at the same epoch, once 5 children have finished.

    ``history`` replays the ``(curve, status)`` of children that finished before a resume
    (their per-epoch accuracies and how they ended), so the rungs and the medians are not
    empty again.
    """

    def __init__(self, pruner: str = "sha", *, min_resource: int = 1, reduction_factor: int = 3,
                 max_resource: int | None = None,
                 history: Sequence[tuple[Sequence[float], str]] = ()) -> None:
        # imports optuna: loaded here, where used, for start-up time
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if pruner == "sha":
            chosen: optuna.pruners.BasePruner = optuna.pruners.SuccessiveHalvingPruner(
                min_resource=min_resource, reduction_factor=reduction_factor)
        elif pruner == "hyperband":
            chosen = optuna.pruners.HyperbandPruner(
                min_resource=min_resource, max_resource=max_resource or "auto",
                reduction_factor=reduction_factor)
        elif pruner == "median":
            chosen = optuna.pruners.MedianPruner(n_startup_trials=5)
        else:
            raise NasError(f"unknown early stopping {pruner!r}; known: {', '.join(PRUNERS)}")
        self.study = optuna.create_study(direction="maximize", pruner=chosen)
        self.trials: dict[int, Any] = {}  # the search's trial number -> in-memory trial
        self.epochs: dict[int, set[int]] = {}  # the epochs each trial has reported
        self.stopped: set[int] = set()
        self.finished: set[int] = set()
        for i, (curve, status) in enumerate(history):
            for epoch, accuracy in enumerate(curve, start=1):
                self.report(-1 - i, epoch, accuracy)
            if curve:
                self.finish(-1 - i, status, curve[-1])

    def report(self, trial: int, epoch: int, accuracy: float) -> bool:
        """Record ``accuracy`` after ``epoch`` epochs of ``trial``; True: stop it now."""
        if trial not in self.trials:
            self.trials[trial] = self.study.ask()
            self.epochs[trial] = set()
        if epoch in self.epochs[trial] or trial in self.finished:  # a retried child asks again
            return trial in self.stopped
        self.epochs[trial].add(epoch)
        self.trials[trial].report(accuracy, epoch)
        if self.trials[trial].should_prune():
            self.stopped.add(trial)
            return True
        return False

    def finish(self, trial: int, status: str, accuracy: float | None) -> None:
        """``trial`` ended with ``status`` (the trainer's) and final validation ``accuracy``:
        the median pruner compares later children with the finished ones."""

        if trial not in self.trials or trial in self.finished:
            return
        self.finished.add(trial)
        if status == "pruned":
            self.study.tell(self.trials[trial], state=TrialState.PRUNED)
        elif status == "ok" and accuracy is not None:
            self.study.tell(self.trials[trial], accuracy)
        else:
            self.study.tell(self.trials[trial], state=TrialState.FAIL)
