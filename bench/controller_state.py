"""What a controller's saved state costs: file size, save time and restore time after N trials.

For each controller (and each Optuna sampler), on the synthetic reward of
:mod:`controllers.testing`: N results are told, the state is saved to real files
(:mod:`nas.core.statefile`) and restored into a fresh controller; the next proposals of the
two are compared (they must be equal). The Optuna controller restores by replaying its record
of asks and tells, so its restore time is about what the N asks took in the search itself
(printed beside it as "search").

    python bench/controller_state.py                         # N = 200 on nasbench201
    python bench/controller_state.py --trials 100 --space nasnet --only optuna:gp
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from controllers import create_controller
from controllers.testing import drive, synthetic_metrics
from nas.core import statefile
from nas.core.space import create_space

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("random", "random", {}),
    ("evolution", "evolution", {}),
    ("rl", "rl", {}),
    ("optuna:tpe", "optuna", {"sampler": "tpe"}),
    ("optuna:cmaes", "optuna", {"sampler": "cmaes"}),
    ("optuna:gp", "optuna", {"sampler": "gp"}),
    ("optuna:random", "optuna", {"sampler": "random"}),
    ("optuna:nsga2", "optuna", {"sampler": "nsga2"}),
]


def measure(label: str, name: str, options: dict[str, Any], space_name: str,
            trials: int) -> None:
    space = create_space(space_name)
    metrics = synthetic_metrics(space)
    original = create_controller(name, space, seed=0, **options)
    start = time.perf_counter()
    drive(original, metrics, trials)
    searched = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.json"
        start = time.perf_counter()
        statefile.save(path, original.state_dict())
        saved = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        restored = create_controller(name, space, seed=1, **options)
        start = time.perf_counter()
        restored.load_state_dict(statefile.load(path))
        loaded = time.perf_counter() - start
    same = drive(restored, metrics, 3) == drive(original, metrics, 3)
    print(f"{label:14s} {trials:4d} trials  search {searched:7.2f} s  save {saved * 1e3:6.1f} ms"
          f"  {size / 1e3:7.1f} kB  restore {loaded:7.2f} s  next proposals "
          f"{'equal' if same else 'DIFFERENT'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--space", default="nasbench201")
    parser.add_argument("--only", help="comma-separated labels, e.g. rl,optuna:gp")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    for label, name, options in CASES:
        if only is None or label in only:
            measure(label, name, options, args.space, args.trials)


if __name__ == "__main__":
    main()
