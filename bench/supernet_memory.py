"""Supernet memory: parameters and peak training memory, single path against all paths.

For each space with a supernet, at its default options and at the CPU-small options this
project recommends, one training step (forward, backward, SGD with momentum) on a batch of
32x32 images is measured in a fresh subprocess, for:

* ``single path``: the path of a sampled genome (SPOS, ENAS): only its ops run; the memory is
  that of the fixed network plus the whole supernet's weights;
* ``all paths``: DARTS (first order), every op of every edge weighted by ``softmax(alpha)``;
* ``partial K``: all paths with PC-DARTS's partial channels (1/K of each edge's channels
  mixed; the supernet is built with ops C/K wide), K = 4 or the nearest K the widths allow.

Memory is the **peak resident set size** (``getrusage(RUSAGE_SELF).ru_maxrss``) of a fresh
Python process that imports torch, builds the supernet and runs two steps (two genomes on a
single path), with one torch thread. The table gives the whole process's peak and the part
above the process after building the supernet ("training"): gradients, momentum buffers and
the activations the backward pass keeps, plus allocator slack. CPU seconds are the second
step's process time (one thread; a shared machine inflates wall time, not this much).

Every row first runs at batches 2 and 4, which give the memory per image. A configuration
predicted to need more than ``--limit-gb`` (default 6 GB: the machine is shared) is not run
at the full batch: its row is that linear extrapolation (activations grow with the batch; the
weights, gradients and momentum do not), marked ``~``, with the CPU time scaled from batch 4.
Every child runs under an address-space limit (``--limit-gb`` + 3 GB), so a bad prediction
fails that row instead of the machine.

    python bench/supernet_memory.py                    # the README's table (~30 CPU-minutes)
    python bench/supernet_memory.py --quick            # small options only, batch 8
    python bench/supernet_memory.py --spaces darts --options default   # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Config:
    space: str
    options: dict[str, Any]
    label: str  # "default" or "CPU-small"
    modes: list[str] = field(default_factory=lambda: ["single", "all", "partial"])


CONFIGS = [
    Config("nasbench201", {}, "default"),
    Config("nasbench201", {"channels": 8, "cells_per_stage": 2}, "CPU-small"),
    Config("darts", {}, "default"),
    Config("darts", {"channels": 16, "cells": 8}, "DARTS search net"),
    Config("darts", {"channels": 8, "cells": 5}, "CPU-small"),
    Config("nasnet", {}, "default"),
    Config("nasnet", {"cells": 1, "width": 8}, "CPU-small"),
]


# --- the child: one measurement in a fresh process ---------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child(job: dict[str, Any]) -> dict[str, Any]:
    """Build the supernet, run two training steps, report memory and time."""
    if job.get("limit_gb"):  # fail this row, not the machine, if the prediction was wrong
        limit = int(job["limit_gb"] * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch
    import torch.nn.functional as F

    from nas.core.space import create_space
    from nas.core.supernet import AllPaths, create_supernet

    torch.set_num_threads(1)
    space = create_space(job["space"], **job["options"])
    k = job.get("partial", 1)
    net = create_supernet(space, (3, 32, 32), 10, partial_channels=k, seed=0)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    alpha = net.arch_parameters(torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    rng = random.Random(0)
    batch = job["batch"]
    x = torch.randn(batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    built = rss_mb()
    seconds = 0.0
    for _ in range(2):
        arch = (space.sample(rng) if job["mode"] == "single"
                else AllPaths({g: a.softmax(-1) for g, a in alpha.items()}))
        start = time.process_time()
        opt.zero_grad()
        F.cross_entropy(net(x, arch), y).backward()
        opt.step()
        seconds = time.process_time() - start
    return {"params": params, "built_mb": built, "peak_mb": peak_mb(), "seconds": seconds}


def run_child(job: dict[str, Any]) -> dict[str, Any] | str:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last[:80]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the parent: the table ---------------------------------------------------------------------


def partial_k(space: str, options: dict[str, Any]) -> int:
    """K = 4 where every cell's C / K is whole (and even in the two-input spaces, whose
    stride-2 skip ops are factorized reductions), else the nearest K that is."""
    from nas.core.space import create_space

    sp: Any = create_space(space, **options)
    if space == "nasbench201":
        widths, even = [w for _, w in sp.plan()], False
    else:
        c = sp.options["channels" if space == "darts" else "width"]
        plan = sp.plan()
        widths, even = [c * 2 ** sum(plan[: i + 1]) for i in range(len(plan))], True
    for k in (4, 6, 3, 2, 8):
        if all(w % k == 0 and (not even or (w // k) % 2 == 0) for w in widths):
            return k
    return 1


def measure(cfg: Config, mode: str, batch: int, limit_gb: float) -> dict[str, Any]:
    """One row: probes at batches 2 and 4 give the memory per image; the full batch runs if
    the predicted peak is within ``limit_gb``, else the row is that prediction."""
    job: dict[str, Any] = {"space": cfg.space, "options": cfg.options, "mode": mode,
                           "limit_gb": limit_gb + 3}  # address space: RSS + ~2 GB of mappings
    if mode == "partial":
        job["partial"] = partial_k(cfg.space, cfg.options)
    probes = []
    for b in (2, 4):
        got = run_child({**job, "batch": b})
        if isinstance(got, str):
            return {"error": got, **job}
        probes.append(got)
    train2, train4 = (p["peak_mb"] - p["built_mb"] for p in probes)
    per_image = max(train4 - train2, 0.0) / 2
    train = train4 + per_image * (batch - 4)
    if probes[1]["built_mb"] + train <= limit_gb * 1024:
        full = run_child({**job, "batch": batch})
        if isinstance(full, str):
            return {"error": full, **job}
        return {**job, **full, "train_mb": full["peak_mb"] - full["built_mb"],
                "extrapolated": False}
    return {**job, **probes[1], "train_mb": train, "peak_mb": probes[1]["built_mb"] + train,
            "seconds": probes[1]["seconds"] * batch / 4, "extrapolated": True}


MODES = {"single": "single path", "all": "all paths (DARTS)", "partial": "partial K={k}"}


def row(cfg: Config, r: dict[str, Any]) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in cfg.options.items()) or "defaults"
    mode = MODES[r["mode"]].format(k=r.get("partial", 1))
    if "error" in r:
        return f"| {cfg.space} | {cfg.label}: {opts} | | {mode} | {r['error']} | | |"
    mark = "~" if r["extrapolated"] else ""
    return (f"| {cfg.space} | {cfg.label}: {opts} | {r['params'] / 1e6:.2f}M | {mode} | "
            f"{mark}{r['peak_mb']:,.0f} | {mark}{r['train_mb']:,.0f} | "
            f"{mark}{r['seconds']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--limit-gb", type=float, default=6.0,
                        help="above this predicted peak, extrapolate from batches 2 and 4")
    parser.add_argument("--quick", action="store_true", help="CPU-small options, batch 8")
    parser.add_argument("--options", default="",
                        help="subset of option sets, by label: default,CPU-small,...")
    parser.add_argument("--spaces", default="", help="comma-separated subset of spaces")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    configs = [c for c in CONFIGS if not args.quick or c.label == "CPU-small"]
    if args.spaces:
        configs = [c for c in configs if c.space in args.spaces.split(",")]
    if args.options:
        configs = [c for c in configs if c.label in args.options.split(",")]
    batch = 8 if args.quick else args.batch
    print(f"Supernet training memory, batch {batch} at 32x32, 10 classes: one SGD step "
          f"(momentum) in a fresh process, 1 torch thread; peak RSS (MB); '~' extrapolated "
          f"from batches 2 and 4 (predicted above {args.limit_gb:g} GB)\n")
    print("| space | options | supernet params | mode | peak RSS (MB) | training (MB) | "
          "CPU s/step |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for cfg in configs:
        for mode in cfg.modes:
            print(row(cfg, measure(cfg, mode, batch, args.limit_gb)), flush=True)


if __name__ == "__main__":
    main()
