"""The zero-cost proxy benchmark: rank correlation with NAS-Bench-201's CIFAR-10 accuracies.

    python bench/proxies.py                  # 1,000 random cells, every proxy (hours of CPU)
    python bench/proxies.py --all            # then every cell with the cheap proxies (cache)
    python bench/proxies.py --quick          # a toy run: 4 cells of a narrow network

Scores ``--cells`` random cells (seed 0) of the benchmark's own network (16 channels, 5 cells
per stage: the network the table's accuracies are for) on one minibatch of 64 images of the
shared CIFAR-10 (``../shared/data/cifar10``, read as ``imagefolder``), with every registered
proxy, and prints ``nas proxies``'s table: Spearman's rho, Kendall's tau and top-10% precision
against the table, and seconds per cell (wall-clock and CPU). The work runs as three niced
one-thread ``nas proxies`` processes at once, the cheap proxies (data-free, one forward), the
gradient ones (a backward each) and GraSP (a Hessian-vector product), each writing its own
score file; the files are then merged and one more ``nas proxies`` run reads everything back
from the merged file (no recomputation), prints the table and draws a scatter plot per proxy
into ``--out``.

``--all``: the cheap process goes on, once its cells are done, to score every one of the
15,625 cells with the cheap proxies into ``<out>/nb201-cifar10-b64-s0.jsonl`` (first MeCo and
the data-free ones, then NASWOT), the cache a proxy-prefiltered search benchmark reads with
:func:`nas.evaluators.proxies.read_scores`.
Every run resumes from its score file, so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

from nas.evaluators.proxies import append_scores, read_scores
from nas.training.data import cache_dir

ROOT = Path(__file__).resolve().parents[1]
CIFAR_DIR = ROOT.parent / "shared" / "data" / "cifar10"
CHEAP = "meco,synflow,naswot,params,macs"  # one image, data-free, or one forward pass
GRADIENT = "jacob_cov,snip,grad_norm,fisher"  # one backward pass each
HESSIAN = "grasp"  # a Hessian-vector product: as much work as the four above together
FIRST = "meco,synflow,params,macs"  # the first pass of --all: a tenth of a second a cell


def nas_proxies(args: argparse.Namespace, *extra: str) -> list[str]:
    """The ``nas proxies`` command line shared by every step."""
    argv = [sys.executable, "-m", "nas", "proxies", "--space", "nasbench201", "--dataset",
            "imagefolder", "--data-dir", str(args.data_dir), "--batch-size",
            str(args.batch_size), "--seed", str(args.seed), "--threads", "1"]
    if args.quick:
        argv += ["--space-option", "channels=4", "--space-option", "cells_per_stage=1",
                 "--limit", "100"]
    return [*argv, *extra]


def niced(argv: list[str]) -> list[str]:
    return ["nice", "-n", "10", *argv] if os.name == "posix" else argv


def run_steps(steps: list[tuple[list[str], Path]], failed: list[str]) -> None:
    """Run ``nas proxies`` steps one after another (niced, JSON output discarded, progress
    and errors to each step's log); stop at the first that fails and name its log."""
    for argv, log in steps:
        with log.open("w") as err:
            done = subprocess.run(niced([*argv, "--json"]), stdout=subprocess.DEVNULL,
                                  stderr=err)
        if done.returncode:
            failed.append(str(log))
            return


def merge(sources: list[Path], target: Path) -> None:
    """Write every genome's scores from ``sources`` (same settings) into ``target``."""
    target.unlink(missing_ok=True)
    settings = None
    for source in sources:
        theirs, rows = read_scores(source)
        if settings is not None and theirs != settings:
            sys.exit(f"{source} was made with other settings than {sources[0]}")
        settings = theirs
        for genome, row in rows.items():
            append_scores(target, theirs, genome, row["scores"], row["seconds"], row["cpu"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--cells", type=int, default=1000, help="random cells (default 1000)")
    p.add_argument("--batch-size", type=int, default=64, help="images per minibatch (64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=CIFAR_DIR)
    p.add_argument("--out", type=Path, default=None,
                   help="score files, plots and logs (default <nas cache>/proxies)")
    p.add_argument("--all", action="store_true",
                   help="afterwards score every cell of the table with the cheap proxies")
    p.add_argument("--quick", action="store_true",
                   help="a toy run (4 cells of a 4-channel, 1-cell-per-stage network)")
    args = p.parse_args()
    if args.quick:
        args.cells, args.batch_size = 4, 8
    out = args.out or cache_dir() / "proxies"
    out.mkdir(parents=True, exist_ok=True)
    tag = f"nb201-cifar10-b{args.batch_size}-s{args.seed}" + ("-quick" if args.quick else "")
    cheap, gradient, hessian, merged = (out / f"{tag}.jsonl", out / f"{tag}-grad.jsonl",
                                        out / f"{tag}-grasp.jsonl",
                                        out / f"{tag}-{args.cells}.jsonl")

    cells = ["--cells", str(args.cells)]
    cheap_steps = [(nas_proxies(args, *cells, "--proxies", CHEAP, "--save", str(cheap)),
                    out / f"{tag}-cheap.log")]
    if args.all:  # straight on: the cache does not wait for the gradient proxies
        cheap_steps += [(nas_proxies(args, "--cells", "all", "--proxies", group, "--save",
                                     str(cheap)), out / f"{tag}-all-{i}.log")
                        for i, group in enumerate((FIRST, CHEAP))]
    gradient_steps = [(nas_proxies(args, *cells, "--proxies", GRADIENT, "--save",
                                   str(gradient)), out / f"{tag}-grad.log")]
    hessian_steps = [(nas_proxies(args, *cells, "--proxies", HESSIAN, "--save",
                                  str(hessian)), out / f"{tag}-grasp.log")]
    failed: list[str] = []
    chains = [threading.Thread(target=run_steps, args=(steps, failed))
              for steps in (cheap_steps, gradient_steps, hessian_steps)]
    for chain in chains:
        chain.start()
    for chain in chains:
        chain.join()
    if failed:
        sys.exit(f"scoring failed; see {', '.join(failed)}")
    merge([cheap, gradient, hessian], merged)
    table = nas_proxies(args, *cells, "--proxies", f"{CHEAP},{GRADIENT},{HESSIAN}", "--save",
                        str(merged), "--plot-dir", str(out / f"{tag}-plots"))
    subprocess.run(table, check=True)
    print(f"scores: {merged}; plots: {out / f'{tag}-plots'}/")
    if args.all:
        print(f"every cell, proxies {CHEAP}: {cheap}")
    print("command: " + " ".join(["nas", *table[3:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
