"""What the search driver costs on top of the children: scheduling overhead and concurrency.

Children here are a *sleep*, not training: each sleeps ``--seconds`` (10 s) in its worker and
returns a result with a random accuracy, so that every second not spent sleeping is the
driver's or Ray's (proposing, the study writes, the state saves, dispatch, collection). The
rest of the search is the real one: the real controller, the Optuna study on SQLite, the
state file, Ray actors with their CPU or GPU resources.

Two measurements, each in its own local Ray instance:

1. ``N`` children on ``k`` CPU workers: the wall time against the ideal ``N/k x 10 s``
   (target: within 1.10 x once the workers are up), and the overhead per child: how long a
   worker stays idle between two children.
2. Ray started with 8 logical GPUs and ``--gpus 8``: the mean number of children running at
   once (target: at least 7 of 8), over the whole search and between start-up (every worker
   has started its first child) and drain (the first worker has nothing left to do).

On a 2-core machine the 8 workers' start-up (8 processes importing torch at once) spreads
over many seconds, which lowers the whole-search concurrency without being scheduling
overhead; the steady-state figure and the idle time between children isolate the driver.

Run: ``python bench/search_overhead.py`` (about 3 minutes); ``--quick`` for a shorter run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from typing import Any

import ray

from nas.evaluators.scratch import TrainEvaluator
from nas.search.config import SearchConfig
from nas.search.live import LineView
from nas.search.loop import make_context, run_search
from nas.search.store import RunStudy

SECONDS = float(os.environ.get("NAS_BENCH_CHILD_SECONDS", "10"))


def sleeping_child(job: Any, data: Any, on_epoch: Any) -> Any:
    """A child that takes ``SECONDS`` of wall time and uses no CPU (the workload to time)."""
    import random
    import time

    from nas.training.result import Result

    time.sleep(SECONDS)
    accuracy = random.Random(job.genome.id).uniform(50.0, 99.0)
    return Result(status="ok", val_top1=[accuracy], best_val_top1=accuracy,
                  final_val_top1=accuracy, epochs=1.0, params=1000, macs=10**6)


class Quiet(LineView):
    """No per-child lines: the benchmark prints its own summary."""

    def finished(self, progress: Any, child: Any) -> None:
        pass

    def start(self, progress: Any) -> None:
        pass

    def stop(self, progress: Any) -> None:
        pass


def measure(config: SearchConfig, ray_args: dict[str, Any]) -> dict[str, float]:
    """Run one search of sleeping children; return its timings from the study."""
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR", **ray_args)
    try:
        with tempfile.TemporaryDirectory() as runs:
            t0 = time.time()
            sleeper = TrainEvaluator(make_context(config), child_fn=sleeping_child)
            result = run_search(config, name="bench", runs_dir=runs, view=Quiet(),
                                evaluator=sleeper)
            assert result.run is not None
            t_end = time.time()
            records = RunStudy.open(result.run.storage_url, "bench", None).records()
    finally:
        ray.shutdown()
    spans = sorted((r.attrs["started_at"], r.attrs["finished_at"]) for r in records)
    by_worker: dict[Any, list[tuple[float, float]]] = {}
    for r in records:
        by_worker.setdefault(r.attrs["pid"], []).append((r.attrs["started_at"],
                                                         r.attrs["finished_at"]))
    for runs_ in by_worker.values():
        runs_.sort()
    first, last = spans[0][0], max(end for _, end in spans)
    # start-up ends when every worker has started its first child; the drain begins when
    # the first worker has finished its last one (no work left to give it)
    t_all = max(runs_[0][0] for runs_ in by_worker.values())
    t_drain = min(runs_[-1][1] for runs_ in by_worker.values())

    def busy(lo: float, hi: float) -> float:
        return sum(max(0.0, min(end, hi) - max(start, lo)) for start, end in spans)

    gaps = [b[0] - a[1] for runs_ in by_worker.values() for a, b in itertools.pairwise(runs_)]
    return {"children": len(records), "workers": len(by_worker),
            "startup": first - t0, "worker_startup": t_all - t0, "total": t_end - t0,
            "loop": last - first, "after_startup": last - t_all,
            "work_after_startup": busy(t_all, last),
            "concurrency": busy(first, last) / (last - first),
            "steady_concurrency": (busy(t_all, t_drain) / (t_drain - t_all)
                                   if t_drain > t_all else float("nan")),
            "gap_mean": statistics.fmean(gaps) if gaps else 0.0,
            "gap_max": max(gaps, default=0.0),
            "child_extra": statistics.fmean(end - start - SECONDS for start, end in spans)}


def report(m: dict[str, float], k: int) -> None:
    n = m["children"]
    ideal = n / k * SECONDS
    ideal_after = m["work_after_startup"] / k
    print(f"  all workers up after {m['worker_startup']:.1f} s (Ray, {k} worker processes, "
          f"import torch, data); search total {m['total']:.1f} s")
    print(f"  first child start to last end: {m['loop']:.1f} s vs N/k x {SECONDS:g} s = "
          f"{ideal:.1f} s: ratio {m['loop'] / ideal:.3f} (includes workers starting late)")
    print(f"  after start-up: {m['after_startup']:.1f} s for {ideal_after:.1f} s of work per "
          f"worker: ratio {m['after_startup'] / ideal_after:.3f} (target <= 1.10)")
    print(f"  overhead per child: idle worker between children {m['gap_mean'] * 1000:.0f} ms "
          f"mean, {m['gap_max'] * 1000:.0f} ms max; inside the child "
          f"{m['child_extra'] * 1000:.1f} ms")
    print(f"  mean concurrency {m['concurrency']:.2f} of {k} overall, "
          f"{m['steady_concurrency']:.2f} between start-up and drain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=16, help="children on CPU workers")
    parser.add_argument("--workers", type=int, default=2, help="CPU workers (k)")
    parser.add_argument("--gpu-children", type=int, default=32, help="children on 8 GPUs")
    parser.add_argument("--controller", default="rl", help="the proposer (default rl)")
    parser.add_argument("--space", default="nasnet", help="the space (default nasnet)")
    parser.add_argument("--quick", action="store_true", help="8 + 16 children")
    args = parser.parse_args()
    if args.quick:
        args.children, args.gpu_children = 8, 16
    base = dict(space=args.space, controller=args.controller, dataset="digits", limit=300)

    n, k = args.children, args.workers
    print(f"{n} children of {SECONDS:g} s on {k} CPU workers ({args.controller} controller, "
          f"{args.space} space):")
    report(measure(SearchConfig(trials=n, cpus_per_trial=1, gpus=0, **base),
                   {"num_cpus": k}), k)
    g = args.gpu_children
    print(f"{g} children of {SECONDS:g} s with --gpus 8 (Ray with 8 logical GPUs, 2 CPUs):")
    report(measure(SearchConfig(trials=g, gpus=8, **base), {"num_gpus": 8, "num_cpus": 2}), 8)


if __name__ == "__main__":
    main()
