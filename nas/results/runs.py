"""A run as the result tools read it: its directory, its trials ranked, its data's shape.

``nas export``, ``nas compare``, ``nas report`` and the Python API (:mod:`nas.api`) resolve a
run (by name or directory) and its children here; :func:`run_input` gives a run's input shape
and classes without loading its data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.search.store import CONFIG, RunDir, TrialRecord, open_run_study, run_config

if TYPE_CHECKING:
    from nas.core.netgraph import Shape

#: Where ``nas compare`` writes inside a run directory (nas.results.compare).
COMPARE_DIR = "compare"


def open_run(ref: str | Path, runs_dir: str | Path = "runs") -> RunDir:
    """A run given as a directory (``runs/nasnet-rl-...``) or as a name in ``runs_dir``."""
    path = Path(ref)
    if (path / CONFIG).is_file():
        return RunDir(path)
    if path.name != str(ref):  # a path, not a bare name
        raise NasError(f"{ref} is not a run directory (it has no {CONFIG}); `nas runs` lists "
                       "the runs")
    return RunDir.open(runs_dir, str(ref))


def run_records(run: RunDir) -> list[TrialRecord]:
    """Every trial of ``run``'s study, by number (read only)."""
    return open_run_study(run).records()


def ranked_trials(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The completed trials, best reward (the study's value) first (ties: the earlier trial), each
    genome once (a genome trained again after a resume keeps its best trial)."""
    done = sorted((r for r in records if r.state == "COMPLETE" and r.reward is not None),
                  key=lambda r: (-float(r.reward or 0.0), r.number))
    seen: set[Genome] = set()
    ranked = []
    for r in done:
        if r.genome not in seen:
            seen.add(r.genome)
            ranked.append(r)
    return ranked


def run_input(run: RunDir, fix: str | None = None) -> tuple[Shape, int]:
    """The input shape (C, H, W) and class count of ``run``'s data, without loading the data.

    A search records them in its ``config.json``; a run searched by an older nas does not,
    and then any checkpoint ``nas compare`` kept for it (trained on the same data) tells them.
    With neither, a one-line error says what is missing and ``fix`` (default: how to add them
    to the config).
    """
    config = run_config(run)
    shape, classes = config.input_shape, config.num_classes
    if shape is not None and classes is not None:
        return (int(shape[0]), int(shape[1]), int(shape[2])), int(classes)
    from nas.training.checkpoint import load_checkpoint  # imports torch: only for old runs
    for path in sorted((run.path / COMPARE_DIR / "checkpoints").glob("*.pt")):
        try:
            ckpt = load_checkpoint(path, mmap=True)  # the metadata only, tensors unread
        except NasError:
            continue
        s = ckpt["input_shape"]
        return (int(s[0]), int(s[1]), int(s[2])), int(ckpt["num_classes"])
    fix = fix or ('add "input_shape": [C, H, W] and "num_classes": N to '
                  f"{run.path / 'config.json'}")
    raise NasError(f"run {run.name!r} does not record its input shape and classes (its "
                   "config.json, from an older nas, has no input_shape / num_classes, and no "
                   f"nas compare checkpoint tells them); {fix}")


def find_trial(run: RunDir, records: Sequence[TrialRecord], number: int) -> TrialRecord:
    """Trial ``number`` of ``run``; it must have completed (a failed child has no result)."""
    for r in records:
        if r.number == number:
            if r.state != "COMPLETE":
                raise NasError(f"trial {number} of run {run.name!r} did not complete "
                               f"({r.status}: {r.message or r.state}); export a completed one")
            return r
    numbers = [r.number for r in records]
    have = f"trials 0-{max(numbers)}" if numbers else "no trials"
    raise NasError(f"run {run.name!r} has no trial {number} ({have}); `nas status "
                   f"{run.name}` lists the best")
