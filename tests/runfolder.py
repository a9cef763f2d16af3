"""A small real run folder made without Ray, for the tests that damage run folders.

The search is the real one (``run_search``) with the ``table`` evaluator (NAS-Bench-201
look-ups: no training, no Ray) and the rl controller (its state has tensors, so the run has a
``state.<hash>.safetensors`` file); a ``nas compare`` result with its checkpoint is added by
hand (fresh weights), so that every file a run can hold is there to damage.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import ray
import torch

from nas.cli import main
from nas.core.space import create_space
from nas.core.statefile import write_json
from nas.results.compare import COMPARE_DIR, RESULT_FORMAT
from nas.search.config import SearchConfig
from nas.search.live import LineView
from nas.search.loop import QuietView, run_search
from nas.search.store import RunDir
from nas.training.checkpoint import save_checkpoint

TRIALS = 4
CONFIG = SearchConfig(space="nasbench201", evaluator="table", controller="rl",
                      controller_options={"batch_size": 2}, trials=TRIALS, seed=0)


def make_run(runs_dir: Path, name: str = "r", view: LineView | QuietView | None = None
             ) -> RunDir:
    result = run_search(CONFIG, name=name, runs_dir=runs_dir, view=view or QuietView())
    assert result.run is not None and result.done == TRIALS
    return result.run


def add_compare_result(run: RunDir) -> Path:
    """A ``nas compare`` record with its checkpoint for the run's trial 0 (fresh weights)."""
    from nas.search.store import RunStudy

    record = RunStudy.open(run.storage_url, run.name, None).records()[0]
    space = create_space("nasbench201")
    torch.manual_seed(0)
    model = space.build(record.genome, (3, 32, 32), 10)
    ckpt = run.path / COMPARE_DIR / "checkpoints" / "trial_0-s0.pt"
    save_checkpoint(ckpt, model, record.genome, input_shape=(3, 32, 32), num_classes=10)
    result = {"status": "ok", "best_val_top1": 50.0, "final_val_top1": 50.0,
              "test_top1": 49.0, "val_top1": [50.0], "epochs": 1.0}
    path = run.path / COMPARE_DIR / "results" / "trial_0-s0.json"
    write_json(path, {
        "format": RESULT_FORMAT, "label": "trial 0", "baseline": False, "trial": 0,
        "search_accuracy": record.accuracy, "genome": record.genome.to_dict(),
        "genome_id": record.genome.id, "space_options": {}, "seed": 0, "key": "trial_0-s0",
        "recipe": {}, "budget": {"epochs": 1.0}, "data": {"dataset": "digits"},
        "result": result, "checkpoint": "checkpoints/trial_0-s0.pt", "where": {},
        "seconds": 1.0})
    return path


def folder_hash(path: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file under ``path``, but ``lock`` (which names the last process that
    took it) and SQLite's -wal/-shm side files (a reader may leave them; not the data)."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()
            and not p.name.endswith(("-wal", "-shm")) and p.name != "lock"
            and not any(part in skip for part in p.relative_to(path).parts)}


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``nas ARGV`` in this process: (exit code, stdout, stderr). Anything but a NasError
    escapes as the traceback it is."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def one_clear_line(argv: list[str], code: int, err: str) -> None:
    """A failure is one line ``nas CMD: error: ...`` and a non-zero exit."""
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"nas {' '.join(argv)}: {err}"
    assert lines[0].startswith(f"nas {argv[0]}: error: "), lines[0]
    assert "Traceback" not in err


@contextlib.contextmanager
def sleeping_ray(gpus: int, seconds: str) -> Iterator[str]:
    """A local Ray with ``gpus`` logical GPUs whose ``train`` children sleep ``seconds`` instead
    of training (``NAS_TEST_CHILD_SECONDS``, inherited by the workers from the raylet); yields
    its address for ``nas search --address``."""
    if ray.is_initialized():  # left running by another module: start ours cleanly
        ray.shutdown()
    before = os.environ.get("NAS_TEST_CHILD_SECONDS")
    os.environ["NAS_TEST_CHILD_SECONDS"] = seconds
    try:
        ray.init(num_cpus=2, num_gpus=gpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("NAS_TEST_CHILD_SECONDS", None)
        else:
            os.environ["NAS_TEST_CHILD_SECONDS"] = before
