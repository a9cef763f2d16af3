"""The benchmark scripts the README quotes run, at toy sizes, and print what the README reads.

Their numbers are only meaningful at full size on a quiet machine (the README's commands);
here they must run end to end and print every line the README's results are taken from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CIFAR_DIR = ROOT.parent / "shared" / "data" / "cifar10"


def _run(*argv: str, tmp_path: Path) -> str:
    env = {**os.environ, "NAS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_trainer_bench_prints_its_ratios(tmp_path: Path) -> None:
    out = _run("bench/trainer.py", "--threads", "1", "--steps", "1", "--rounds", "1",
               "--limit", "200", "--batch", "16", "--resnet-batch", "1", "--iters", "1",
               tmp_path=tmp_path)
    assert "trainer / hand loop:" in out and "target >= 0.95" in out
    for name in ("resnet18", "resnet50"):  # same weights, same network: outputs equal
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert "ratio" in line and "max |output diff| with the same weights 0.00e+00" in line


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason="needs ../shared/data/cifar10")
def test_trainer_bench_trains_on_cifar(tmp_path: Path) -> None:
    out = _run("bench/trainer.py", "--skip-loop", "--skip-resnets", "--cifar", "--epochs",
               "0.05", "--threads", "1", tmp_path=tmp_path)
    assert "test top-1:" in out and "command: python bench/trainer.py --cifar" in out


@pytest.mark.slow
def test_search_overhead_bench_runs(tmp_path: Path) -> None:
    out = _run("bench/search_overhead.py", "--quick", tmp_path=tmp_path)
    assert "overhead" in out


@pytest.mark.slow
def test_supernet_memory_bench_prints_its_table(tmp_path: Path) -> None:
    out = _run("bench/supernet_memory.py", "--quick", "--spaces", "nasbench201",
               tmp_path=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| nasbench201")]
    assert [r.split(" | ")[3] for r in rows] == ["single path", "all paths (DARTS)",
                                                 "partial K=4"]
    assert "failed" not in out


@pytest.mark.slow
def test_prefilter_bench_prints_its_table(tmp_path: Path) -> None:
    """On a toy score file of real parameter counts (the exact cost model's) of 40 cells."""
    from nas.evaluators.proxies import append_scores
    from nas.evaluators.table import Table, shipped_table

    table = Table(shipped_table("nasbench201"))
    scores = tmp_path / "scores.jsonl"
    settings = {"space": "nasbench201", "space_options": {}, "dataset": "cost model",
                "batch_size": 0, "seed": 0}
    for genome in sorted(table, key=lambda g: g.id)[:40]:
        append_scores(scores, settings, genome, {"params": table.costs(genome)["params"]},
                      {}, {})
    out = _run("bench/prefilter.py", "--quick", "--scores", str(scores), "--proxy", "params",
               "--cells", "30", "--top", "4", "--controllers", "random,evolution",
               tmp_path=tmp_path)
    assert "draws its 30 candidates from the 40 cells scored" in out
    for row in ("| random |", "| random + params top 4 |", "| evolution + params top 4 |"):
        assert any(line.startswith(row) for line in out.splitlines()), row
    assert "the proxy's top 4 alone" in out and "goal best@10 >= 93.9" in out
