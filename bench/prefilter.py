"""Proxy-prefiltered search on the NAS-Bench-201 CIFAR-10 table: best accuracy per table query.

    python bench/prefilter.py                       # 20 seeds, 50 queries, meco, top 8 of 1000
    python bench/prefilter.py --proxy meco:4,synflow --top 10
    python bench/prefilter.py --quick               # 2 seeds, a toy score file (tests)

For each controller (random, evolution, rl, TPE) and seed, two whole searches
(:func:`nas.search.loop.search_in_memory`, the loop of ``nas search``) with the ``table``
evaluator and ``--queries`` table queries: one plain, one with a proxy prefilter (stage one
scores ``--cells`` candidates with ``--proxy``, the ``--top`` best are looked up first, then
the controller, told those results, proposes the rest; :mod:`nas.search.prefilter`). Only table
queries count (stage one's proxy scores are free here; on the machine they cost building each
network plus the proxy, ``nas proxies`` prints the seconds per cell). Revisits are free, as in
``nas benchmark``. The table: mean and standard deviation over seeds of the best accuracy found
after 10, 25 and 50 queries, and, as a reference, the best of the proxy's top alone.

The proxy scores are REAL scores, read from a cache that ``bench/proxies.py --all`` fills
(``~/.cache/nas/proxies/nb201-cifar10-b64-s0.jsonl``: each cell's network, 16 channels and
5 cells per stage, scored at initialisation on one minibatch of 64 shared CIFAR-10 images,
seed 0), never recomputed. That cache holds only part of the 15,625 cells, so stage one draws
its candidates from the cells scored in it (a random sample, not all of the space): the script
prints the pool's size and its best accuracy beside the table's optimum. The plain searches
search the whole table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.evaluators.proxies import parse_combination, read_scores
from nas.evaluators.table import Table, TableEvaluator, shipped_table
from nas.search.benchmark import MAX_REVISITS
from nas.search.config import SearchConfig
from nas.search.loop import make_context, make_controller, search_in_memory
from nas.search.prefilter import Prefilter
from nas.training.data import cache_dir

CACHE = cache_dir() / "proxies" / "nb201-cifar10-b64-s0.jsonl"
CONTROLLERS = {"random": ("random", {}), "evolution": ("evolution", {}), "rl": ("rl", {}),
               "tpe": ("optuna", {"sampler": "tpe"})}
AT = (10, 25, 50)


def best_curve(config: SearchConfig, table: Table, prefilter: Prefilter | None) -> np.ndarray:
    """One search; the best accuracy after each table query."""
    space = table.space
    judge = TableEvaluator(make_context(config, space, make_controller(config, space)),
                           **config.evaluator_options)
    result = search_in_memory(config, evaluator=judge, revisit_limit=MAX_REVISITS,
                              repeat_when_exhausted=True, prefilter=prefilter)
    accuracies = [float(r.accuracy or 0.0) for r in result.study.records()]
    return np.maximum.accumulate(np.asarray(accuracies))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scores", type=Path, default=CACHE, help=f"score file (default {CACHE})")
    p.add_argument("--proxy", default="meco", help="proxy or rank combination (meco)")
    p.add_argument("--cells", type=int, default=1000, help="candidates of stage one (1000)")
    p.add_argument("--top", type=int, default=8, help="of them, looked up first (8)")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--controllers", default=",".join(CONTROLLERS))
    p.add_argument("--json", type=Path, help="write the summary here too")
    p.add_argument("--quick", action="store_true", help="2 seeds, 12 queries (a smoke test)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.queries = 2, 12
    at = [q for q in AT if q <= args.queries] or [args.queries]
    weights = parse_combination(args.proxy)
    table = Table(shipped_table("nasbench201"), "nasbench201")
    try:
        settings, rows = read_scores(args.scores)
    except NasError as e:
        sys.exit(f"{e} (bench/proxies.py --all writes it)")
    scores: dict[Genome, dict[str, float]] = {
        g: r["scores"] for g, r in rows.items()
        if g in table.table and all(n in r["scores"] for n in weights)}
    pool = sorted(scores, key=lambda g: g.id)
    if len(pool) < args.cells:
        sys.exit(f"{args.scores} has {len(pool)} cells scored with {args.proxy}; "
                 f"--cells {args.cells} needs as many")
    optimum = table.best()[1]
    print(f"table: NAS-Bench-201 CIFAR-10 test accuracy, {len(table)} cells, optimum "
          f"{optimum:.2f}")
    print(f"proxy scores: {args.scores} (real scores, {settings['dataset']} batch "
          f"{settings['batch_size']} seed {settings['seed']}, {settings['space_options']})")
    print(f"stage one draws its {args.cells} candidates from the {len(pool)} cells scored in "
          f"that file (pool best {max(table.table[g] for g in pool):.2f}), not from all "
          f"{len(table)}; plain searches search the whole table")
    print(f"prefilter: {args.proxy}, top {args.top} of {args.cells}; {args.seeds} seeds, "
          f"{args.queries} table queries; only table queries count\n")

    summary: dict[str, dict[str, dict[str, float]]] = {}
    started = time.time()
    for label in args.controllers.split(","):
        name, options = CONTROLLERS[label]
        for prefiltered in (False, True):
            curves = []
            for seed in range(args.seeds):
                config = SearchConfig(space="nasbench201", controller=name,
                                      controller_options=dict(options), evaluator="table",
                                      trials=args.queries, seed=seed,
                                      prefilter=args.proxy if prefiltered else None,
                                      prefilter_cells=args.cells, prefilter_top=args.top)
                stage_one = (Prefilter.from_config(config, scores=scores, pool=pool)
                             if prefiltered else None)
                curves.append(best_curve(config, table, stage_one))
            at_q = np.stack(curves)  # (seeds, queries)
            key = f"{label} + {args.proxy} top {args.top}" if prefiltered else label
            summary[key] = {str(q): {"mean": float(at_q[:, q - 1].mean()),
                                     "std": float(at_q[:, q - 1].std(ddof=1))}
                            for q in at}
            print(f"  {key}: done ({time.time() - started:.0f} s)", file=sys.stderr)

    alone = []  # the proxy's top alone: the best of the top looked up, per seed
    for seed in range(args.seeds):
        stage_one = Prefilter(weights, args.cells, args.top, scores=scores, pool=pool)
        config = SearchConfig(space="nasbench201", evaluator="table", seed=seed)
        chosen = stage_one.run(make_context(config, table.space), seed)
        alone.append(max(table.table[c.genome] for c in chosen))

    header = "| controller | " + " | ".join(f"best@{q}" for q in at) + " |"
    print(header)
    print("|" + "---|" * (len(at) + 1))
    for key, row in summary.items():
        cells = " | ".join(f"{row[str(q)]['mean']:.2f} ± {row[str(q)]['std']:.2f}" for q in at)
        print(f"| {key} | {cells} |")
    print(f"\nthe proxy's top {args.top} alone (best of them, {args.top} queries): "
          f"{np.mean(alone):.2f} ± {np.std(alone, ddof=1):.2f}; optimum {optimum:.2f}")
    goal = [k for k in summary if "top" in k and "10" in summary[k]]
    for key in goal:
        mean = summary[key]["10"]["mean"]
        print(f"goal best@10 >= 93.9 with prefiltering: {key} {mean:.2f} "
              f"{'met' if mean >= 93.9 else f'missed by {93.9 - mean:.2f}'}")
    print(f"command: python bench/prefilter.py {' '.join(argv or sys.argv[1:])}".rstrip())
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "alone": alone,
                                         "pool": len(pool), "args": {
                                             k: str(v) for k, v in vars(args).items()}},
                                        indent=2))
    return 0 if all(math.isfinite(r[str(at[0])]["mean"]) for r in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
