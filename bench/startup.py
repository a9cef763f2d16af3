"""How fast the ``nas`` command starts: the wall time of the commands that need no training.

For each of ``nas --help``, ``nas spaces``, ``nas runs`` and ``nas status RUN`` this runs the
command ``--repeats`` times in a fresh interpreter (``python -m nas ...``, so the code of this
checkout is timed) and reports the median wall time, then runs it once more under ``python -X
importtime`` and reports the total import time, the heaviest top-level packages it imported,
and whether torch, Ray or Optuna were among them (``nas --help``, ``spaces`` and ``runs`` must
import neither torch nor Ray; ``status`` reads the Optuna study, so it imports Optuna).

The run that ``nas status`` reads is made first, in a temporary runs directory, by a
five-trial search judged by the ``table`` evaluator (NAS-Bench-201 look-ups: seconds).

Run: ``python bench/startup.py`` (about a minute); ``--repeats 3`` for a shorter run. On a
busy machine the times vary from run to run: the median of several runs, and the import
table, are what to compare.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "optuna")  # what the fast commands must not pay for (optuna: status)


def command_line(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "nas", *argv]


def environment() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
            "RAY_USAGE_STATS_ENABLED": "0", "MPLBACKEND": "Agg"}


def wall_time(argv: list[str], repeats: int) -> list[float]:
    """Seconds per run of ``nas argv``, ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command_line(argv), env=environment(), cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def import_times(argv: list[str]) -> dict[str, float]:
    """Cumulative import seconds of every top-level package ``nas argv`` imported
    (``python -X importtime``)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *command_line(argv)[1:]],
                          env=environment(), cwd=ROOT, check=True, capture_output=True,
                          text=True)
    tops: dict[str, float] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(2)) == 1:  # one space of indent: imported at top level
            name = m.group(3).split(".")[0]
            tops[name] = tops.get(name, 0.0) + int(m.group(1)) / 1e6
    return tops


def make_run(runs_dir: Path) -> str:
    name = "startup-bench"
    subprocess.run(command_line(["search", "--space", "nasbench201", "--evaluator", "table",
                                 "--controller", "random", "--trials", "5", "--name", name,
                                 "--runs-dir", str(runs_dir), "--plain"]),
                   env=environment(), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command (7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        run = make_run(runs)
        commands = {"nas --help": ["--help"], "nas spaces": ["spaces"],
                    "nas runs": ["runs", "--runs-dir", str(runs)],
                    "nas status RUN": ["status", run, "--runs-dir", str(runs)]}
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average "
              f"{os.getloadavg()[0]:.1f}; median of {args.repeats} runs")
        print()
        print("| command | wall s (median) | min s | imports s | torch | ray | optuna "
              "| heaviest imports |")
        print("| --- | ---: | ---: | ---: | --- | --- | --- | --- |")
        for label, argv in commands.items():
            times = wall_time(argv, args.repeats)
            tops = import_times(argv)
            heaviest = sorted(tops.items(), key=lambda kv: -kv[1])[:3]
            flags = ["yes" if name in tops else "no" for name in HEAVY]
            print(f"| `{label}` | {statistics.median(times):.2f} | {min(times):.2f} | "
                  f"{sum(tops.values()):.2f} | {' | '.join(flags)} | "
                  + ", ".join(f"{n} {s:.2f}" for n, s in heaviest) + " |")


if __name__ == "__main__":
    main()
