"""The one-shot benchmark (issue 11): weight-sharing methods judged by NAS-Bench-201's table.

    python bench/oneshot.py                  # 4 methods x 3 seeds + the ranking (28 CPU-min)
    python bench/oneshot.py --seeds 2 --jobs 2
    python bench/oneshot.py --report         # only print the tables of what has finished
    python bench/oneshot.py --quick          # a toy run on digits (seconds)
    python bench/oneshot.py --methods spos,scratch --epochs spos=60 --scratch-minutes 15 \
        --limit 20000 --out ~/.cache/nas/oneshot-large   # one method at a larger budget

1. Derived cells. Each method (spos, enas, darts, gdas) runs one whole search per seed through
   the project's search loop (:func:`nas.search.loop.search_in_memory` with the ``supernet``
   evaluator) on a reduced NAS-Bench-201 supernet and a subset of the shared CIFAR-10
   (``imagefolder``, ``--limit`` training images of which 10% are the validation split that
   architecture decisions read; the test split is never used). The method's derived cell is
   looked up in the NAS-Bench-201 table (CIFAR-10 test accuracy after 200 epochs at the
   benchmark's full size: 16 channels, 5 cells per stage):

   - ``darts`` / ``gdas``: the architecture weights' argmax, then the runners-up the method
     ranks (the evaluator's proposals, ``candidates``);
   - ``spos``: the trained supernet is searched by the random controller; the derived cell
     is the best-scored (batch norm recalibrated validation accuracy), then the next best;
   - ``enas``: the rl controller's paths train the supernet between policy updates; at the
     end the distinct paths of the second half of the search (the trained policy's samples)
     are scored again on the final supernet with batch-norm recalibration
     (:class:`~nas.evaluators.supernet.scoring.Scorer`), the best is the derived cell.

   ``scratch`` is the equal-compute row: no supernet, a whole search whose children are
   trained from scratch (the ``train`` evaluator, random controller, one Ray worker of one
   thread) on the same network size and data, for ``--scratch-minutes`` of CPU time (of the
   whole process tree, Ray's included; no child starts after it); its derived cell is the
   child of best validation accuracy.

   Beside them: random search given the same number of table queries (1: the derived cell
   alone; ``--top``: the best by the table of the method's ``--top`` ranked cells; and 10),
   :func:`nas.search.benchmark.run_controller` over ``--random-seeds`` seeds.
2. Ranking. After the seed-0 SPOS training, ``--cells`` random cells of the table are scored
   by the supernet (:class:`Scorer`), and Kendall's tau, Spearman's rho and top-10% precision
   against the table are given beside those of the parameter count and the multiply-adds of
   the table's (full-size) network (:func:`nas.core.cost.totals`).

Every finished run is a JSON file in ``--out`` (default ``<nas cache>/oneshot``), written as
soon as it ends; a rerun skips what is there (resumable), ``--report`` reads them only. Runs
go in seed-major order (every method's seed 0 first), ``--jobs`` at a time as niced
one-thread subprocesses; CPU time is each run's process time (one thread: CPU-seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.commands.proxies import correlation
from nas.core.genome import Genome
from nas.core.space import create_space
from nas.core.statefile import write_atomic
from nas.core.supernet import create_supernet
from nas.evaluators.base import create_evaluator
from nas.evaluators.supernet import SupernetEvaluator
from nas.evaluators.supernet.scoring import collapse, op_histogram, parameter_free_ops
from nas.evaluators.table import Table, TabularSpace, shipped_table
from nas.search.benchmark import ControllerSpec, run_controller
from nas.search.config import SearchConfig
from nas.search.loop import make_context, make_controller, search_in_memory
from nas.training.data import cache_dir

ROOT = Path(__file__).resolve().parents[1]
CIFAR_DIR = ROOT.parent / "shared" / "data" / "cifar10"
METHODS = ("spos", "enas", "darts", "gdas")
SCRATCH = "scratch"  # the equal-compute row: children trained from scratch, no supernet
SETTINGS = "settings.json"
RANKING = "ranking.json"
RANDOM = "random.json"

# How a batch norm recalibrated score is read (every method; the ranking too): 512 training
# images re-estimate the statistics, then the whole validation split (500 images at
# --limit 5000) is scored.
SCORE = {"bn_batches": 2, "val_batches": 2, "score_batch_size": 256, "batch_size": 64}

# Per method: controller, its options, trials, evaluator options. The budgets are set for
# roughly equal CPU per run (~2-2.5 CPU-minutes at 8 channels, 4,500 training images on one
# thread): a DARTS epoch (every path, and an architecture step on a validation batch) costs
# about 6 SPOS epochs, a GDAS epoch about 1.5.
FULL: dict[str, dict[str, Any]] = {
    "spos": {"controller": "random", "trials": 50, "options": {"epochs": 12}},
    "enas": {"controller": "rl", "controller_options": {"batch_size": 5}, "trials": 150,
             "options": {"enas_batch": 5, "enas_steps": 30}},
    "darts": {"controller": "random", "trials": 5, "options": {"epochs": 3, "candidates": 4}},
    "gdas": {"controller": "random", "trials": 5, "options": {"epochs": 8, "candidates": 4}},
    SCRATCH: {"controller": "random", "epochs": 4},  # minutes: --scratch-minutes
}
QUICK: dict[str, dict[str, Any]] = {
    "spos": {"controller": "random", "trials": 4, "options": {"epochs": 1}},
    "enas": {"controller": "rl", "controller_options": {"batch_size": 2}, "trials": 4,
             "options": {"enas_batch": 2, "enas_steps": 2}},
    "darts": {"controller": "random", "trials": 3, "options": {"epochs": 1, "candidates": 2}},
    "gdas": {"controller": "random", "trials": 3, "options": {"epochs": 1, "candidates": 2}},
    SCRATCH: {"controller": "random", "epochs": 1, "minutes": 0.1},
}


# --- settings and files ------------------------------------------------------------------------


def plans(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The methods to run (``--methods``) with their budgets (``--epochs``,
    ``--scratch-minutes``)."""
    table = QUICK if args.quick else FULL
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in table]
    if unknown or not names:
        sys.exit(f"--methods: unknown {', '.join(unknown) or '(none given)'}; "
                 f"known: {', '.join(table)}")
    chosen = {m: json.loads(json.dumps(table[m])) for m in table if m in names}
    for item in args.epochs:
        method, _, value = item.partition("=")
        if method not in chosen or not value.isdigit() or int(value) < 1:
            sys.exit(f"--epochs {item}: give METHOD=N for a method of --methods, N >= 1")
        plan = chosen[method]
        if method == "enas":  # the rl controller's paths (each trains enas_steps / enas_batch)
            plan["trials"] = int(value)
        elif method == SCRATCH:
            plan["epochs"] = int(value)
        else:
            plan["options"]["epochs"] = int(value)
    if SCRATCH in chosen and not args.quick:
        chosen[SCRATCH]["minutes"] = args.scratch_minutes
    return chosen


def make_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Everything a run depends on (plain data, saved beside the results)."""
    quick = bool(args.quick)
    return {
        "quick": quick,
        "dataset": "digits" if quick else "imagefolder",
        "data_dir": None if quick else str(args.data_dir),
        "limit": 300 if quick else args.limit,
        "space_options": {"channels": 4 if quick else args.channels,
                          "cells_per_stage": args.cells_per_stage},
        "methods": plans(args),
        "score": {**SCORE, "score_batch_size": 64} if quick else SCORE,
        "seeds": 1 if quick else args.seeds,
        "cells": 6 if quick else args.cells,
        "top": 2 if quick else args.top,
        "random_seeds": 10 if quick else args.random_seeds,
        "threads": args.threads,
    }


def arch_str(table: Table, genome: Genome) -> str:
    """The genome's NAS-Bench-201 arch string (the table's key)."""
    space = table.space
    assert isinstance(space, TabularSpace)
    return space.to_arch_str(genome)


def run_file(out: Path, method: str, seed: int) -> Path:
    return out / f"{method}-s{seed}.json"


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=1) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def jobs_left(settings: dict[str, Any], out: Path) -> list[tuple[str, int]]:
    """The (method, seed) runs without a result file, seed-major; spos seed 0 also owes the
    ranking (it scores the cells on the supernet it trained)."""
    left = []
    for seed in range(settings["seeds"]):
        for method in settings.get("methods", METHODS):
            done = run_file(out, method, seed).is_file()
            if ranks(settings, method, seed):
                done = done and (out / RANKING).is_file()
            if not done:
                left.append((method, seed))
    return left


def ranks(settings: dict[str, Any], method: str, seed: int) -> bool:
    """Whether this run also owes the ranking (spos seed 0 scores the cells on its supernet)."""
    return method == "spos" and seed == 0 and bool(settings["cells"])


# --- one run -----------------------------------------------------------------------------------


def search_config(settings: dict[str, Any], method: str, seed: int) -> SearchConfig:
    plan = settings["methods"][method]
    return SearchConfig(
        space="nasbench201", space_options=dict(settings["space_options"]),
        controller=plan["controller"], controller_options=dict(plan.get("controller_options",
                                                                       {})),
        evaluator="supernet",
        evaluator_options={"method": method, **settings["score"], **plan["options"]},
        dataset=settings["dataset"], data_dir=settings["data_dir"], limit=settings["limit"],
        trials=plan["trials"], seed=seed)


def ranked_cells(method: str, records: list[Any], judge: SupernetEvaluator | None,
                 top: int) -> list[tuple[Genome, float]]:
    """The method's cells in its own order, best first, each with its supernet score (see
    the module docstring), at least ``top`` of them where the run has that many."""
    if method in ("darts", "gdas"):
        derived = [r for r in records if r.attrs.get("result", {}).get("derived")]
        derived.sort(key=lambda r: r.attrs["result"]["rank"])
        return [(r.genome, float(r.accuracy)) for r in derived]
    if method == "enas":  # the trained policy's samples, scored again on the final supernet
        assert judge is not None and judge.scorer is not None
        late = list(dict.fromkeys(r.genome for r in records[len(records) // 2:]))
        scored = [(g, judge.scorer.score(g)[0]) for g in late]
        return sorted(scored, key=lambda gs: -gs[1])
    best: dict[Genome, float] = {}
    for r in records:
        if r.accuracy is not None:
            best[r.genome] = max(best.get(r.genome, -1.0), float(r.accuracy))
    return sorted(best.items(), key=lambda gs: -gs[1])


def run_one(settings: dict[str, Any], out: Path, method: str, seed: int) -> dict[str, Any]:
    """One method's search for one seed; writes its result file (and, for spos seed 0, the
    ranking's) and returns it."""
    torch.set_num_threads(settings["threads"])
    table = Table(shipped_table("nasbench201"))
    if method == SCRATCH:
        row = run_scratch(settings, seed)
    else:
        row, judge = run_oneshot(settings, method, seed)
        if ranks(settings, method, seed):
            write_json(out / RANKING, ranking(settings, judge, table))
    cells = row.pop("cells")
    net = create_supernet(create_space("nasbench201", **settings["space_options"]), seed=0)
    top: list[dict[str, Any]] = [
        {"arch": arch_str(table, g), "score": score, "table": table.accuracy(g),
         "ops": op_histogram(net, g)} for g, score in cells[:settings["top"]]]
    row.update(method=method, seed=seed, derived=top[0], top=top,
               best_of_top=max(float(c["table"]) for c in top),
               collapse=collapse(top[0]["ops"], parameter_free_ops(net)))
    write_json(run_file(out, method, seed), row)
    return row


def run_oneshot(settings: dict[str, Any], method: str,
                seed: int) -> tuple[dict[str, Any], SupernetEvaluator]:
    """A one-shot search (the ``supernet`` evaluator, in this process): its ranked cells and
    costs, and the evaluator (its trained supernet scores the ranking)."""
    config = search_config(settings, method, seed)
    space = create_space(config.space, **config.space_options)
    judge = create_evaluator("supernet", make_context(config, space,
                                                      make_controller(config, space)),
                             **config.evaluator_options)
    assert isinstance(judge, SupernetEvaluator)
    wall, cpu = time.perf_counter(), time.process_time()
    records = search_in_memory(config, evaluator=judge).study.records()
    cells = ranked_cells(method, records, judge, settings["top"])
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    assert judge.trainer is not None
    return {"trials": len(records), "distinct": len({r.genome for r in records}),
            "cells": cells, "epochs": judge.trainer.epoch, "steps": judge.trainer.step,
            "cpu_seconds": cpu_s, "wall_seconds": wall_s,
            "options": config.evaluator_options, "controller": config.controller,
            "controller_options": config.controller_options}, judge


def run_scratch(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """The equal-compute row: a search whose children are trained from scratch (the
    ``train`` evaluator) on one Ray worker of one thread, for the plan's CPU-minutes: the CPU
    time of this process and of every process Ray runs for it (the worker, Ray's daemons).
    The search's clock is that CPU time from when Ray is up, not the wall clock (on a shared
    machine a wall-time budget buys whatever CPU the others leave), so no child starts once it
    is spent. Cells are ranked by validation accuracy."""
    import ray  # only this row needs Ray

    from nas.evaluators.cluster import _bind  # Ray on localhost only
    from nas.search import loop

    plan = settings["methods"][SCRATCH]
    config = SearchConfig(
        space="nasbench201", space_options=dict(settings["space_options"]),
        controller=plan["controller"], evaluator="train", dataset=settings["dataset"],
        data_dir=settings["data_dir"], limit=settings["limit"], trials=None,
        time_budget=plan["minutes"] * 60, epochs=plan["epochs"], seed=seed,
        recipe={"batch_size": settings["score"]["batch_size"]})
    wall, cpu = time.perf_counter(), tree_cpu_seconds()
    # Ray runs its workers at niceness +15 by default: beside the niced one-shot runs the
    # scratch worker would get a twentieth of a core. It runs at this process's instead.
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray spells it so)
    with _bind(localhost=True):  # one worker: Ray gets one CPU
        ray.init(num_cpus=settings["threads"], include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    wall_clock, ready = loop.Search.elapsed, tree_cpu_seconds()  # Ray's start-up: not budgeted
    loop.Search.elapsed = property(lambda _: tree_cpu_seconds() - ready)
    try:
        records = search_in_memory(config).study.records()
        cpu_s = tree_cpu_seconds() - cpu  # Ray's processes included, before they go
    finally:
        loop.Search.elapsed = wall_clock
        ray.shutdown()
    wall_s = time.perf_counter() - wall
    finished = [r for r in records if r.accuracy is not None]
    return {"trials": len(records), "distinct": len({r.genome for r in records}),
            "cells": ranked_cells(SCRATCH, finished, None, settings["top"]),
            "epochs": plan["epochs"], "steps": None, "cpu_seconds": cpu_s,
            "wall_seconds": wall_s, "options": {"epochs": plan["epochs"],
                                                "minutes": plan["minutes"]},
            "controller": config.controller, "controller_options": {}}


def tree_cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system) of a process and all its descendants, with the children
    each has reaped (Linux ``/proc``; elsewhere this process's own)."""
    root = os.getpid() if pid is None else pid
    if not Path("/proc/self/stat").is_file():
        return time.process_time()
    stats: dict[int, tuple[int, float]] = {}  # pid: (parent, CPU seconds)
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        # after the name: state, ppid, ..., utime stime cutime cstime are fields 14-17
        stats[int(entry.name)] = (int(fields[1]), sum(map(int, fields[11:15])) / tick)
    children: dict[int, list[int]] = {}
    for child, (parent, _) in stats.items():
        children.setdefault(parent, []).append(child)
    total, todo = 0.0, [root]
    while todo:
        pid_ = todo.pop()
        total += stats.get(pid_, (0, 0.0))[1]
        todo += children.get(pid_, [])
    return total


def ranking(settings: dict[str, Any], judge: SupernetEvaluator,
            table: Table) -> dict[str, Any]:
    """Score ``cells`` random table cells (seed 0) on the trained supernet; correlations."""
    assert judge.scorer is not None
    wall, cpu = time.perf_counter(), time.process_time()
    pool = sorted(table, key=lambda g: arch_str(table, g))
    picked = random.Random(0).sample(pool, settings["cells"])
    rows = []
    for genome in picked:
        costs = table.costs(genome)
        rows.append({"arch": arch_str(table, genome), "table": table.accuracy(genome),
                     "supernet": judge.scorer.score(genome)[0], "params": costs["params"],
                     "macs": costs["macs"]})
    accuracies = [r["table"] for r in rows]
    out: dict[str, Any] = {"cells": len(rows), "images": list(judge.scorer.images),
                           "epochs": judge.trainer.epoch if judge.trainer else None,
                           "correlations": {}}
    for name in ("supernet", "params", "macs"):
        rho, tau, top10 = correlation([r[name] for r in rows], accuracies)
        out["correlations"][name] = {"spearman": rho, "kendall": tau, "top10": top10}
    out.update(cpu_seconds=time.process_time() - cpu, wall_seconds=time.perf_counter() - wall,
               rows=rows)
    return out


# --- random search on the table ------------------------------------------------------------------


def random_search(settings: dict[str, Any], out: Path) -> dict[str, Any]:
    """Best table accuracy random search finds with 1, ``top`` and 10 queries (cached)."""
    queries = sorted({1, settings["top"], 10})
    cached = read_json(out / RANDOM)
    if cached and cached["seeds"] == settings["random_seeds"] and cached["queries"] == queries:
        return dict(cached)
    table = Table(shipped_table("nasbench201"))
    spec = ControllerSpec.parse("random")
    curves = np.stack([run_controller(spec, table, seed, max(queries)).curve
                       for seed in range(settings["random_seeds"])])
    result = {"seeds": settings["random_seeds"], "queries": queries,
              "best": {str(q): {"mean": float(curves[:, q - 1].mean()),
                                "std": float(curves[:, q - 1].std(ddof=1))} for q in queries},
              "optimum": table.best()[1]}
    write_json(out / RANDOM, result)
    return result


# --- the tables ----------------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return f"{np.mean(values):.2f} ± {std:.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def report(settings: dict[str, Any], out: Path) -> str:
    """The markdown tables of every finished run."""
    methods = list(settings.get("methods", METHODS))
    rows = {m: [r for s in range(settings["seeds"])
                if (r := read_json(run_file(out, m, s))) is not None] for m in methods}
    rnd = random_search(settings, out)
    top = settings["top"]
    lines = [f"Derived cells: NAS-Bench-201 CIFAR-10 test accuracy (%, 200 epochs), mean ± std "
             f"over seeds; supernet {settings['space_options']}, {settings['dataset']} "
             f"--limit {settings['limit']}.", "",
             f"| method | seeds | derived cell (1 query) | best of its top {top} ({top} "
             f"queries) | search's score of derived (val %) | CPU-min per run | budget |",
             "|---|---|---|---|---|---|---|"]
    for m in methods:
        rs = rows[m]
        if not rs:
            lines.append(f"| {m} | 0 | - | - | - | - | - |")
            continue
        cpu = [r["cpu_seconds"] / 60 for r in rs]
        budget = {"enas": f"{rs[0]['trials']} paths, {rs[0]['steps']} steps",
                  SCRATCH: f"{np.mean([r['trials'] for r in rs]):.0f} children x "
                           f"{rs[0]['epochs']} epochs from scratch"}.get(
            m, f"{rs[0]['epochs']} epochs")
        collapsed = sum(bool(r["collapse"]) for r in rs)  # as the run judged its cell
        lines.append(f"| {m} | {len(rs)} | {_spread([r['derived']['table'] for r in rs])} | "
                     f"{_spread([r['best_of_top'] for r in rs])} | "
                     f"{_spread([r['derived']['score'] for r in rs])} | "
                     f"{np.mean(cpu):.2f} | {budget}"
                     + (f", {collapsed} degenerate" if collapsed else "") + " |")
    best = rnd["best"]
    lines.append(f"| random search ({rnd['seeds']} seeds) | {rnd['seeds']} | "
                 f"{best['1']['mean']:.2f} ± {best['1']['std']:.2f} | "
                 f"{best[str(top)]['mean']:.2f} ± {best[str(top)]['std']:.2f} | - | 0 | "
                 f"10 queries: {best['10']['mean']:.2f} ± {best['10']['std']:.2f} |")
    lines += ["", f"Table optimum {rnd['optimum']:.2f}.", "",
              "| method | seed | derived cell | table | score | CPU-min | wall-min | "
              "degenerate |", "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        for r in rows[m]:
            lines.append(f"| {m} | {r['seed']} | {_arch(r['derived']['arch'])} | "
                         f"{r['derived']['table']:.2f} | {r['derived']['score']:.1f} | "
                         f"{r['cpu_seconds'] / 60:.2f} | {r['wall_seconds'] / 60:.2f} | "
                         f"{r['collapse'] or '-'} |")
    rank = read_json(out / RANKING)
    if rank:
        recal, val = rank["images"]
        lines += ["", f"Ranking over {rank['cells']} random cells (SPOS supernet seed 0, "
                      f"{rank['epochs']} epochs; batch norm recalibrated on {recal} training "
                      f"images, scored on {val} validation images; "
                      f"{rank['cpu_seconds'] / 60:.1f} CPU-min to score them):", "",
                  "| predictor | Kendall tau | Spearman rho | top-10% precision |",
                  "|---|---|---|---|"]
        names = {"supernet": "SPOS supernet accuracy", "params": "parameter count",
                 "macs": "multiply-adds (MACs)"}
        for key, label in names.items():
            c = rank["correlations"][key]
            lines.append(f"| {label} | {c['kendall']:.3f} | {c['spearman']:.3f} | "
                         f"{c['top10']:.2f} |")
        rows_ = rank["rows"]
        rho, tau, _ = correlation([r["supernet"] for r in rows_], [r["params"] for r in rows_])
        lines += ["", f"The supernet's score against the parameter count of the same cells: "
                      f"Kendall tau {tau:.3f}, Spearman rho {rho:.3f}."]
    return "\n".join(lines)


def _arch(arch: str) -> str:
    """An arch string inside a markdown table cell (its bars escaped)."""
    return "`" + arch.replace("|", "\\|") + "`"


# --- driver --------------------------------------------------------------------------------------


def _fixed(settings: dict[str, Any]) -> dict[str, Any]:
    """What every run of a results folder must share (more seeds may be added later)."""
    return {k: v for k, v in settings.items() if k not in ("seeds", "random_seeds")}


def niced(argv: list[str]) -> list[str]:
    """``argv`` at niceness 10 (a shared machine), unless this process already runs niced
    (a niced parent's children inherit it; ``nice`` again would starve them)."""
    if os.name != "posix" or os.nice(0) >= 10:
        return argv
    return ["nice", "-n", "10", *argv]


def run_all(settings: dict[str, Any], out: Path, jobs: int) -> list[str]:
    """Every missing run; in this process (jobs 1) or as ``jobs`` niced subprocesses.
    Returns the runs that failed (their log files)."""
    left = jobs_left(settings, out)
    failed: list[str] = []
    if jobs <= 1:
        for method, seed in left:
            run_one(settings, out, method, seed)
            print(f"done {method} seed {seed}", file=sys.stderr)
        return failed

    def child(job: tuple[str, int]) -> None:
        method, seed = job
        log = out / f"{method}-s{seed}.log"
        with log.open("w") as err:
            done = subprocess.run(niced([sys.executable, str(Path(__file__).resolve()),
                                         "--out", str(out), "--run", f"{method}:{seed}"]),
                                  stdout=err, stderr=subprocess.STDOUT)
        print(f"{'done' if done.returncode == 0 else 'FAILED'} {method} seed {seed}",
              file=sys.stderr)
        if done.returncode:
            failed.append(str(log))

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(child, left))
    return failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3)")
    p.add_argument("--methods", default=",".join([*METHODS, SCRATCH]),
                   help=f"the runs, of {', '.join([*METHODS, SCRATCH])} (default: all)")
    p.add_argument("--epochs", action="append", default=[], metavar="METHOD=N",
                   help="a method's budget: supernet epochs (spos, darts, gdas), paths (enas), "
                        "each child's epochs (scratch)")
    p.add_argument("--scratch-minutes", type=float, default=2.0,
                   help="scratch: the search's CPU-time budget, one thread (2.0)")
    p.add_argument("--limit", type=int, default=5000,
                   help="CIFAR-10 training images, 10%% of them validation (5000)")
    p.add_argument("--channels", type=int, default=8, help="supernet channels (8; table: 16)")
    p.add_argument("--cells-per-stage", type=int, default=1, help="(1; the table's: 5)")
    p.add_argument("--cells", type=int, default=200, help="random cells ranked (200; 0: none)")
    p.add_argument("--top", type=int, default=5, help="a method's ranked cells (5)")
    p.add_argument("--random-seeds", type=int, default=200, help="random search seeds (200)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (1)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, as subprocesses (1)")
    p.add_argument("--data-dir", type=Path, default=CIFAR_DIR)
    p.add_argument("--out", type=Path, default=None,
                   help="result files (default <nas cache>/oneshot, quick: oneshot-quick)")
    p.add_argument("--quick", action="store_true", help="a toy run on digits (seconds)")
    p.add_argument("--report", action="store_true", help="print the tables of finished runs")
    p.add_argument("--run", default=None, help=argparse.SUPPRESS)  # METHOD:SEED (a child)
    args = p.parse_args(argv)
    out = args.out or cache_dir() / ("oneshot-quick" if args.quick else "oneshot")
    out.mkdir(parents=True, exist_ok=True)
    if args.run:  # a child: the settings are the parent's
        method, seed = args.run.split(":")
        run_one(read_json(out / SETTINGS), out, method, int(seed))
        return 0
    settings = make_settings(args)
    saved = read_json(out / SETTINGS)
    if saved is not None and _fixed(saved) != _fixed(json.loads(json.dumps(settings))):
        if not args.report:
            sys.exit(f"{out} holds runs made with other settings ({out / SETTINGS}); "
                     f"use another --out or remove it")
        settings = saved
    write_json(out / SETTINGS, settings)
    failed = [] if args.report else run_all(settings, out, args.jobs)
    print(report(settings, out))
    print(f"\nresults: {out}")
    if failed:
        print(f"failed runs; see {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
