"""The fault soak: the fault test (``tests/test_faults.py``) with many seeds, one after another.

Each seed draws other moments for its kill -9 of child workers and of the driver (three driver
kills, each followed by ``nas search --resume``, and three to five worker kills per run); each
run must end with exactly its budget of finished trials, each once. This prints, per seed,
whether the run held and how long it took, then the count of failures; a failing seed is
rerun alone with ``NAS_FAULTS_SEED=N python -m pytest -m slow tests/test_faults.py``.

Run: ``python bench/fault_soak.py --seeds 1-10`` (about 2 minutes a seed on a 2-core
machine). The run folders of a failed seed are kept under ``--keep`` (default
``/tmp/nas-fault-soak``) for reading its search.log.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def seeds(spec: str) -> list[int]:
    """``"1-5,9"`` -> [1, 2, 3, 4, 5, 9]."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10", help="seeds, e.g. 1-10 or 3,7 (1-10)")
    parser.add_argument("--keep", type=Path, default=Path("/tmp/nas-fault-soak"),
                        help="where the runs of each seed are kept")
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)  # pytest makes only the last level
    failed = []
    for seed in seeds(args.seeds):
        env = {**os.environ, "NAS_FAULTS_SEED": str(seed), "PYTHONPATH": str(ROOT)}
        t0 = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-m", "slow", "-p", "no:cacheprovider",
             str(ROOT / "tests" / "test_faults.py"), f"--basetemp={args.keep / str(seed)}"],
            cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - t0
        line = next((x for x in run.stdout.splitlines() if x.startswith("faults:")), "")
        print(f"seed {seed}: {'ok' if run.returncode == 0 else 'FAILED'} in {seconds:.0f} s"
              f"  {line}", flush=True)
        if run.returncode != 0:
            failed.append(seed)
            print("\n".join(run.stdout.splitlines()[-15:]), flush=True)
    print(f"{len(failed)} of {len(seeds(args.seeds))} seed(s) failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
