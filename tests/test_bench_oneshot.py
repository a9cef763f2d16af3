"""bench/oneshot.py (issue 11's one-shot benchmark): its plan, its resumption, its tables.

The numbers only mean something at the benchmark's size; here ``--quick`` (the four methods
on a 4-channel supernet and 300 digits, 6 ranked cells, and a few seconds of scratch-trained
search) must run end to end, write a result
file per run, resume from them and print every table the README reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "oneshot.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_oneshot", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NAS_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, str(SCRIPT), *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_runs_go_seed_major_and_spos_seed_0_owes_the_ranking(tmp_path: Path) -> None:
    bench = _module()
    settings = {"seeds": 2, "cells": 10}
    assert bench.jobs_left(settings, tmp_path) == [
        ("spos", 0), ("enas", 0), ("darts", 0), ("gdas", 0),
        ("spos", 1), ("enas", 1), ("darts", 1), ("gdas", 1)]
    for method in ("spos", "darts"):
        bench.run_file(tmp_path, method, 0).write_text("{}")
    # spos seed 0's file alone is not enough: the ranking scores cells on its supernet
    assert bench.jobs_left(settings, tmp_path)[:3] == [("spos", 0), ("enas", 0), ("gdas", 0)]
    (tmp_path / bench.RANKING).write_text("{}")
    assert bench.jobs_left(settings, tmp_path)[0] == ("enas", 0)
    assert bench.jobs_left({"seeds": 2, "cells": 0}, tmp_path)[0] == ("enas", 0)


def test_a_results_folder_of_other_settings_is_refused(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    bench = _module()
    (tmp_path / bench.SETTINGS).write_text(json.dumps({"quick": False, "limit": 1}))
    with pytest.raises(SystemExit, match="holds runs made with other settings"):
        bench.main(["--quick", "--out", str(tmp_path)])
    assert not list(tmp_path.glob("*-s0.json"))  # refused before any run


def _args(*argv: str) -> object:
    bench = _module()
    parser = bench.argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--methods", default="spos,enas,darts,gdas,scratch")
    parser.add_argument("--epochs", action="append", default=[])
    parser.add_argument("--scratch-minutes", type=float, default=2.0)
    return parser.parse_args(list(argv))


def test_methods_and_their_budgets_are_chosen_on_the_command_line() -> None:
    bench = _module()
    plans = bench.plans(_args("--methods", "scratch,spos,enas", "--epochs", "spos=30",
                              "--epochs", "enas=300", "--epochs", "scratch=3",
                              "--scratch-minutes", "16"))
    assert list(plans) == ["spos", "enas", "scratch"]  # the benchmark's order, not the flag's
    assert plans["spos"]["options"]["epochs"] == 30 and plans["spos"]["trials"] == 50
    assert plans["enas"]["trials"] == 300  # enas's budget is the controller's paths
    assert plans["scratch"] == {"controller": "random", "epochs": 3, "minutes": 16.0}
    assert bench.FULL["spos"]["options"]["epochs"] == 12  # the defaults are left alone
    assert list(bench.plans(_args())) == [*bench.METHODS, bench.SCRATCH]
    # the runs of a plan without spos owe no ranking
    assert bench.jobs_left({"seeds": 1, "cells": 10, "methods": {"scratch": {}}},
                           Path("/nonexistent")) == [("scratch", 0)]
    for bad in (["--methods", "spos,nope"], ["--methods", ""],
                ["--methods", "spos", "--epochs", "darts=3"],
                ["--methods", "spos", "--epochs", "spos=0"], ["--epochs", "spos"]):
        with pytest.raises(SystemExit, match=r"--methods|--epochs"):
            bench.plans(_args(*bad))


def test_the_cpu_of_a_process_tree_counts_its_children() -> None:
    """Checked in a fresh process, whose only descendant is the one it starts (pytest's own
    come and go)."""
    check = f"""
import importlib.util, subprocess, sys, time
spec = importlib.util.spec_from_file_location("bench_oneshot", {str(SCRIPT)!r})
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
before = bench.tree_cpu_seconds()
burn = ("import sys, time\\nt = time.process_time()\\n"
        "while time.process_time() - t < 0.5: pass\\nsys.stdin.read()")
child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE)
deadline = time.monotonic() + 60
while bench.tree_cpu_seconds(child.pid) < 0.5 and time.monotonic() < deadline:
    time.sleep(0.05)
alive = bench.tree_cpu_seconds() - before  # the child is alive: a descendant in /proc
child.communicate(b"")
reaped = bench.tree_cpu_seconds() - before  # now this process's children's time
print(alive, reaped)
"""
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    alive, reaped = map(float, done.stdout.split())
    assert alive >= 0.5 and reaped >= 0.5, (alive, reaped)


@pytest.mark.slow
def test_quick_runs_every_method_resumes_and_prints_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run("--quick", "--out", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for method in ("spos", "enas", "darts", "gdas", "scratch"):
        assert f"done {method} seed 0" in done.stderr
        row = json.loads((out / f"{method}-s0.json").read_text())
        assert row["method"] == method and row["cpu_seconds"] > 0
        assert len(row["top"]) == 2 and row["best_of_top"] == max(
            c["table"] for c in row["top"])
        assert 40 < row["derived"]["table"] < 95  # a NAS-Bench-201 CIFAR-10 accuracy
        assert f"| {method} | 1 | " in done.stdout
    assert "| random search (10 seeds) | 10 |" in done.stdout
    for predictor in ("SPOS supernet accuracy", "parameter count", "multiply-adds (MACs)"):
        assert f"| {predictor} | " in done.stdout
    ranking = json.loads((out / "ranking.json").read_text())
    assert ranking["cells"] == len(ranking["rows"]) == 6
    # a second run finds every result and only prints the tables again
    again = _run("--quick", "--out", str(out), tmp_path=tmp_path)
    assert again.returncode == 0 and "done" not in again.stderr
    assert again.stdout == done.stdout
