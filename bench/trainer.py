"""Benchmarks of the trainer, each a ratio measured within one run (timings here are noisy).

    python bench/trainer.py                 # (1) trainer vs a hand-written loop, (2) ResNets
    python bench/trainer.py --cifar         # (3) also train a ResNet-20-like genome on CIFAR-10
    python bench/trainer.py --threads 1 --cifar --epochs 5

(1) Throughput of :func:`nas.training.loop.train` against a minimal hand-written PyTorch loop (SGD,
    cross-entropy, ``x[idx]`` batches from a per-epoch permutation) on the same model, data
    tensors and batch size. The time of a step is the difference between a run of N and of
    2N steps, divided by N (set-up, evaluation and latency measurement cancel), in CPU time on
    a CPU (other jobs on a shared machine do not inflate it) and wall time on a GPU. Runs
    alternate after a warm-up of each, and the median of the per-round ratios is printed;
    the target is >= 0.95x. The
    trainer is measured without augmentation (the hand loop has none) and, separately, with;
    the hand loop also runs in channels_last (the trainer's layout), which separates the
    trainer's own overhead from its choice of memory format.
(2) Forward + backward time of the genome-built ResNet-18 and ResNet-50 (``resnet`` space
    baselines, torch.fx modules) against torchvision's models of the same name, alternating,
    median ratio (CPU time on a CPU); the target is within 1.05x. torchvision's weights are
    loaded into ours first and the outputs compared, so the two are the same network.
(3) ``--cifar``: a ResNet-20-like genome (CIFAR stem; 3, 3, 3 basic blocks at 16, 32, 64
    channels plus the space's fourth stage of one 128-channel block) trained with the default
    recipe on ../shared/data/cifar10 (JPEG class folders, read as ``imagefolder``); prints its
    test accuracy.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nas import get_baseline, get_space
from nas.core.space import load_genome
from nas.training.data import DataSplits, Split, load_dataset
from nas.training.device import describe, pick_device, synchronize
from nas.training.loop import train, train_genome
from nas.training.recipe import Budget, Recipe

CIFAR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
#: the ResNet-20-like genome, also the README's CIFAR-stem baseline for ``nas compare``
RESNET20ISH = load_genome(Path(__file__).resolve().parents[1] / "docs" / "genomes" /
                          "resnet20_like.json")


WALL_CLOCK = False  # --wall: measure wall time on a CPU too (on an otherwise idle machine)


def clock(device: torch.device) -> Callable[[], float]:
    """The clock that measures work on ``device``: on a GPU, wall time (after a sync); on a
    CPU, this process's CPU time, which other jobs on a shared machine do not inflate (with
    one thread it is the work done; with more it also counts threads waiting for each other,
    which is a real cost). ``--wall`` measures wall time everywhere."""
    return time.perf_counter if device.type != "cpu" or WALL_CLOCK else time.process_time


def clock_name(device: torch.device) -> str:
    return "wall" if device.type != "cpu" or WALL_CLOCK else "CPU"


def seconds_per_step(run: Callable[[int], object], steps: int, device: torch.device) -> float:
    """Time of one step of ``run(n)`` (which trains ``n`` steps): run ``steps`` and
    ``2 * steps`` and divide the difference by ``steps``, so set-up, evaluation and latency
    measurement, the same in both runs, cancel out."""
    tick = clock(device)
    synchronize(device)
    t0 = tick()
    run(steps)
    synchronize(device)
    t1 = tick()
    run(2 * steps)
    synchronize(device)
    t2 = tick()
    return ((t2 - t1) - (t1 - t0)) / steps


def hand_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int,
              seed: int = 0, channels_last: bool = False) -> None:
    """The minimal loop a practitioner writes: ``steps`` SGD steps on ``x[idx]`` batches.

    With ``channels_last`` the model and the data tensor are NHWC, as in the trainer, so the
    comparison isolates the trainer's own overhead from its choice of memory format.
    """
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    g = torch.Generator(device=x.device).manual_seed(seed)
    model.train()
    n, step = len(y), 0
    while step < steps:
        order = torch.randperm(n, device=x.device, generator=g)
        for i in range(n // batch):
            if step == steps:
                break
            idx = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1


def bench_loop(data: DataSplits, device: torch.device, batch: int, steps: int,
               rounds: int) -> None:
    space = get_space("resnet")
    genome = space.validate(RESNET20ISH)
    torch.manual_seed(0)
    base = space.build(genome, data.input_shape, data.num_classes)
    data = data.to(device)
    x, y = data.train.x, data.train.y

    def trainer(augment: bool) -> Callable[[int], object]:
        def run(n: int) -> None:
            result = train(copy.deepcopy(base), data,
                           Recipe(batch_size=batch, lr=0.05, augment=augment), Budget(steps=n),
                           device=device)
            assert result.status == "ok", result.message
        return run

    def hand(channels_last: bool) -> Callable[[int], object]:
        return lambda n: hand_loop(copy.deepcopy(base), x, y, batch, n,
                                   channels_last=channels_last)

    runs = {"hand": hand(False), "hand channels_last": hand(True), "trainer": trainer(False),
            "trainer+augment": trainer(True)}
    print(f"(1) trainer vs hand-written loop: ResNet-20-like genome, batch {batch}, "
          f"{len(y)} training images {tuple(x.shape[1:])}, {describe(device)}, "
          f"{torch.get_num_threads()} thread(s); img/s from "
          f"{clock_name(device)} time of {steps} vs {2 * steps} steps")
    for run in runs.values():  # warm-up: allocator, kernels, lazy imports
        run(2)
    speed: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name, run in runs.items():
            speed[name].append(batch / seconds_per_step(run, steps, device))
        print(f"    round {r + 1}: " + "   ".join(f"{k} {v[-1]:7.1f}" for k, v in speed.items())
              + " img/s")

    def ratio(a: str, b: str) -> float:
        return statistics.median(p / q for p, q in zip(speed[a], speed[b]))

    print(f"    trainer / hand loop: {ratio('trainer', 'hand'):.3f}x (median of {rounds}; "
          f"target >= 0.95); trainer / hand loop in the trainer's layout: "
          f"{ratio('trainer', 'hand channels_last'):.3f}x; trainer with crop+flip / hand "
          f"loop: {ratio('trainer+augment', 'hand'):.3f}x")


def bench_resnets(device: torch.device, batch: int, iters: int) -> None:
    import torchvision

    print(f"(2) genome-built vs torchvision, forward+backward, batch {batch} at 3x224x224, "
          f"{describe(device)}, {torch.get_num_threads()} thread(s), "
          f"{clock_name(device)} time")
    x = torch.randn(batch, 3, 224, 224, device=device)
    tick = clock(device)
    for name in ("resnet18", "resnet50"):
        torch.manual_seed(0)
        ours = get_baseline(name).build((3, 224, 224), 1000).to(device)
        theirs = getattr(torchvision.models, name)().to(device)
        ours.load_state_dict(theirs.state_dict())  # same keys: the same network
        ours.eval(), theirs.eval()
        with torch.no_grad():
            diff = (ours(x[:2]) - theirs(x[:2])).abs().max().item()
        ours.train(), theirs.train()

        def step(model: nn.Module) -> float:
            synchronize(device)
            t0 = tick()
            model(x).sum().backward()
            synchronize(device)
            return tick() - t0

        step(ours), step(theirs)  # warm-up
        pairs = [(step(ours), step(theirs)) for _ in range(iters)]
        t_ours = statistics.median(p[0] for p in pairs)
        t_theirs = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(a / b for a, b in pairs)
        print(f"    {name}: genome {1000 * t_ours:8.1f} ms   torchvision {1000 * t_theirs:8.1f} "
              f"ms   ratio {ratio:.3f}x (median of {iters}; target <= 1.05)   "
              f"max |output diff| with the same weights {diff:.2e}")


def bench_cifar(device: torch.device, epochs: float, batch: int) -> None:
    if not CIFAR_DIR.is_dir():
        print(f"(3) skipped: no {CIFAR_DIR}")
        return
    t0 = time.perf_counter()
    data = load_dataset("imagefolder", CIFAR_DIR)
    load_s = time.perf_counter() - t0
    genome = get_space("resnet").validate(RESNET20ISH)
    print(f"(3) ResNet-20-like genome {genome.id} on {data.summary()} (loaded in {load_s:.1f} s)"
          f", {epochs:g} epochs, batch {batch}, {describe(device)}, "
          f"{torch.get_num_threads()} thread(s)", flush=True)

    def report(epoch: int, m: dict[str, float]) -> bool:
        print(f"    epoch {epoch}: train loss {m['train_loss']:.3f}  val top-1 "
              f"{m['accuracy']:.2f}%  ({time.perf_counter() - t0:.0f} s)", flush=True)
        return False

    result = train_genome(genome, data, Recipe(batch_size=batch), Budget(epochs=epochs),
                          device=device, evaluate_test=True, on_epoch=report)
    print(f"    {result.summary()}")
    print(f"    test top-1: {result.test_top1:.2f}%  ({result.params:,} params, "
          f"{result.macs / 1e6:.1f}M multiply-adds, latency {result.latency_ms_b1:.2f} ms at "
          f"batch 1)")
    print(f"    command: python bench/trainer.py --cifar --epochs {epochs:g} "
          f"--batch {batch}" + (f" --threads {torch.get_num_threads()}"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: a GPU if there is one)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--batch", type=int, default=128, help="batch size for (1) and (3)")
    p.add_argument("--steps", type=int, default=10, help="steps of the short run in (1)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds in (1)")
    p.add_argument("--limit", type=int, default=5000, help="CIFAR-10 images for (1)")
    p.add_argument("--resnet-batch", type=int, help="batch for (2) (default: 8 CPU, 64 GPU)")
    p.add_argument("--iters", type=int, default=5, help="timed iterations per model in (2)")
    p.add_argument("--skip-loop", action="store_true", help="skip (1)")
    p.add_argument("--skip-resnets", action="store_true", help="skip (2)")
    p.add_argument("--cifar", action="store_true", help="run (3)")
    p.add_argument("--epochs", type=float, default=5, help="epochs for (3)")
    p.add_argument("--wall", action="store_true",
                   help="time with the wall clock on a CPU too (default: CPU time)")
    args = p.parse_args(argv)
    global WALL_CLOCK
    WALL_CLOCK = args.wall
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    if not args.skip_loop:
        if CIFAR_DIR.is_dir():
            data = load_dataset("imagefolder", CIFAR_DIR, limit=args.limit)
        else:  # same shapes, random pixels: throughput does not care
            g = torch.Generator().manual_seed(0)
            split = Split(torch.randn(args.limit, 3, 32, 32, generator=g),
                          torch.randint(0, 10, (args.limit,), generator=g))
            data = DataSplits("random", split, split, split, 10, (3, 32, 32), augment=True)
        bench_loop(data, device, args.batch, args.steps, args.rounds)
    if not args.skip_resnets:
        bench_resnets(device, args.resnet_batch or (64 if device.type == "cuda" else 8),
                      args.iters)
    if args.cifar:
        bench_cifar(device, args.epochs, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
