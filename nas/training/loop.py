"""The trainer: one function of (model, data, recipe, budget) -> Result.

The search, ``nas train`` and ``nas compare`` all train through :func:`train` (or
:func:`train_genome`, which builds the genome first), so a child and a baseline are trained
exactly the same way. NAS spends nearly all its compute here, so the loop is a minimal
PyTorch loop and nothing else: the data are tensors on the device, a batch is one
``index_select`` plus one gather for crop-and-flip (:func:`nas.training.data.augment_batch`), the
learning rate is set by hand (no scheduler object), and the host waits for the device only
to look at the loss (every step on CPU, where it costs nothing; every ``_CHECK_EVERY`` steps
on a GPU). On CUDA it adds bf16 autocast (fp16 with a gradient scaler on older GPUs),
channels_last and cuDNN autotuning; on CPU it runs float32 channels_last, which measured
fastest across networks (see :mod:`nas.training.device`; ``Recipe(amp=True)`` adds bf16 autocast,
which doubles the speed of plain-convolution networks on AMX CPUs but slows depthwise ones).
Threads are the process owner's choice.

A child can fail without its caller failing: a loss that turns NaN/inf stops the child with
status ``diverged``, running out of memory gives ``oom``, anything else the child raises gives
``error`` with the message, and an ``on_epoch`` hook that returns True gives ``pruned``.
What was measured before the failure is kept in the :class:`Result`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas.core.cost import totals
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import create_space
from nas.training.checkpoint import save_checkpoint
from nas.training.data import DataSplits, Split, augment_batch
from nas.training.device import (
    amp_dtype,
    autocast,
    describe,
    is_oom,
    pick_device,
    prepare_input,
    synchronize,
    use_channels_last,
)
from nas.training.measure import count_macs, measure_latency
from nas.training.recipe import Budget, Recipe
from nas.training.result import LATENCY_BATCH, Progress, Result, Status

_CHECK_EVERY = 50  # on GPUs, look at the loss (a host-device sync) every this many steps
_PROGRESS_SECONDS = 0.25  # call the progress hook at most this often


# --- the pieces of a step -------------------------------------------------------------------


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of training, then cosine to zero."""
    if progress < warmup:
        return progress / warmup
    if warmup >= 1.0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (progress - warmup) / (1.0 - warmup))))


class _Schedule:
    """The learning rate of each step: :func:`lr_factor` of the progress through the budget,
    measured in steps or in seconds, whichever is further along.

    Warm-up lasts ``warmup_epochs`` but at most a fifth of the budget. With a seconds-only
    budget the number of steps is unknown up front, so it is estimated after ten steps.
    """

    def __init__(self, peak: float, warmup_steps: float, total: int | None,
                 seconds: float | None) -> None:
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total = total  # steps, or None when only seconds bound the budget
        self.seconds = seconds
        self.warmup = min(0.2, warmup_steps / total) if total else 0.2  # fraction of budget

    def lr(self, step: int, elapsed: float) -> float:
        done = (step + 1) / self.total if self.total is not None else 0.0
        if self.seconds is not None:
            done = max(done, elapsed / self.seconds, 1e-3)
            if self.total is None and step == 10:
                self.warmup = min(0.2, self.warmup_steps * elapsed / (step * self.seconds))
        return self.peak * lr_factor(done, self.warmup)


def _optimizer(model: nn.Module, recipe: Recipe, device: torch.device) -> torch.optim.Optimizer:
    """SGD or AdamW with weight decay on weights only: biases and norm scales (1-D) are exempt."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    other = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.decay},
              {"params": other, "weight_decay": 0.0}]
    fused = True if device.type == "cuda" else None  # CUDA: one kernel for all parameters
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.peak_lr, fused=fused)
    return torch.optim.SGD(groups, lr=recipe.peak_lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov and recipe.momentum > 0, fused=fused)

@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch_size: int = 256,
             device: torch.device | None = None,
             amp: torch.dtype | None = None) -> tuple[float, float, float]:
    """(mean cross-entropy, top-1 %, top-5 %) of ``model`` on ``split`` (eval mode).

    Sums stay on the device and are read once at the end: one sync per evaluation.
    """
    device = device or split.x.device
    model.eval()
    loss = torch.zeros((), device=device)
    top1 = torch.zeros((), device=device, dtype=torch.long)
    top5 = torch.zeros((), device=device, dtype=torch.long)
    for i in range(0, len(split), batch_size):
        x = prepare_input(split.x[i:i + batch_size].to(device, non_blocking=True), device)
        y = split.y[i:i + batch_size].to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(x)
        logits = logits.float()  # (B, classes)
        loss += F.cross_entropy(logits, y, reduction="sum")
        k = min(5, logits.shape[1])
        hits = logits.topk(k, dim=1).indices == y.unsqueeze(1)  # (B, k), at most one True
        top1 += hits[:, 0].sum()
        top5 += hits.any(dim=1).sum()
    n = max(1, len(split))
    return loss.item() / n, 100.0 * top1.item() / n, 100.0 * top5.item() / n

# --- train ----------------------------------------------------------------------------------


class _HookError(Exception):
    """Wraps an exception raised by the caller's hook: the caller's bug, never the child's."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Stop(Exception):
    def __init__(self, status: Status, message: str = "") -> None:
        super().__init__(message)
        self.status: Status = status
        self.message = message


def train(model: nn.Module, data: DataSplits, recipe: Recipe, budget: Budget, *,
          device: str | torch.device | None = None, evaluate_test: bool = False,
          on_epoch: Callable[[int, dict[str, float]], bool] | None = None,
          progress: Callable[[Progress], None] | None = None,
          macs: int | None = None) -> Result:
    """Train ``model`` on ``data`` with ``recipe`` until ``budget`` runs out; never raises for a
    bad child (see the module doc). Returns the measured :class:`Result`.

    ``model`` is moved to ``device`` (default: the first GPU, else CPU), trained in place and
    left there in eval mode.
    After each epoch (and after a final partial one) it is evaluated on the validation split
    and ``on_epoch(epoch, metrics)`` is called with ``epoch`` counting from 1 and ``metrics``
    holding ``accuracy`` (this evaluation's validation top-1), ``val_top5``, ``val_loss``,
    ``train_loss``, ``epoch`` (fractional) and ``step``; returning True stops the child
    (status ``pruned``). The test split is evaluated only when ``evaluate_test`` is set.
    ``progress`` is called a few times a second with a :class:`Progress`.
    ``macs``, the multiply-adds of one image, is taken as given when the caller knows it (a
    genome's cost model, as :func:`train_genome` passes) and otherwise counted by
    :func:`count_macs` (one hooked forward, by the same per-layer rules).
    """
    dev = pick_device(device)
    if len(data.val) == 0:
        raise NasError(f"dataset {data.name!r} has no validation split (val_fraction = 0?): "
                       "rewards need one")
    result = Result(device=describe(dev), params=sum(p.numel() for p in model.parameters()),
                    macs=0 if macs is None else macs)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(recipe.seed)  # dropout and any other global-RNG use inside the model
        try:
            _fit(model, data, recipe, budget, dev, result, evaluate_test, on_epoch, progress,
                 count=macs is None)
        except _HookError as e:
            raise e.error from None
        except _Stop as stop:
            result.status, result.message = stop.status, stop.message
        except Exception as e:  # the child's own failure: a status, never an exception
            result.status = "oom" if is_oom(e) else "error"
            first = (str(e).strip().splitlines() or [""])[0]
            result.message = f"{type(e).__name__}: {first}"[:500]
            model.zero_grad(set_to_none=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    if result.status in ("ok", "pruned", "diverged"):  # the architecture's speed still counts
        try:
            shape = tuple(data.input_shape)
            amp = amp_dtype(dev, recipe.amp)
            result.latency_ms_b1 = measure_latency(model, shape, 1, dev, amp=amp)
            result.latency_ms_batch = measure_latency(model, shape, LATENCY_BATCH, dev,
                                                      amp=amp, warmup=1, repeats=5)
        except Exception as e:  # e.g. out of memory at the throughput batch
            result.message = (result.message + "; " if result.message else "") + \
                f"latency not measured ({type(e).__name__})"
    return result


def _fit(model: nn.Module, data: DataSplits, recipe: Recipe, budget: Budget,
         dev: torch.device, result: Result, evaluate_test: bool,
         on_epoch: Callable[[int, dict[str, float]], bool] | None,
         progress: Callable[[Progress], None] | None, count: bool) -> None:
    """The loop; fills ``result`` as it goes so a failure keeps what was measured. With
    ``count``, first counts the model's multiply-adds into ``result.macs``."""
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # autotune convolutions for these shapes ...
        torch.backends.cudnn.deterministic = True  # ... among deterministic algorithms only
    data = data.to(dev)
    model.to(dev)
    if use_channels_last(dev):
        model.to(memory_format=torch.channels_last)
    if count:
        result.macs = count_macs(model, tuple(data.input_shape), dev)

    train_x, train_y = data.train.x, data.train.y
    n = len(data.train)
    bs = min(recipe.batch_size, n)
    steps_per_epoch = n // bs  # the last partial batch is dropped: equal batches for BN
    total = budget.total_steps(steps_per_epoch)
    schedule = _Schedule(recipe.peak_lr, recipe.warmup_epochs * steps_per_epoch, total,
                         budget.seconds)
    augment = data.augment if recipe.augment is None else recipe.augment
    eval_bs = recipe.eval_batch_size or 2 * bs
    check_every = 1 if dev.type == "cpu" else _CHECK_EVERY

    optimizer = _optimizer(model, recipe, dev)
    amp = amp_dtype(dev, recipe.amp)
    scaler = torch.amp.GradScaler(dev.type) if amp == torch.float16 else None
    generator = torch.Generator(device=dev)
    generator.manual_seed(recipe.seed)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    step, evaluations, seen, elapsed = 0, 0, 0, 0.0
    last_report = 0.0
    val_top1: float | None = None
    while True:
        order = torch.randperm(n, device=dev, generator=generator)
        model.train()
        loss_sum = torch.zeros((), device=dev)
        epoch_steps = 0
        t_epoch = time.perf_counter()
        for i in range(steps_per_epoch):
            now = elapsed + time.perf_counter() - t_epoch
            if (total is not None and step >= total) or \
                    (budget.seconds is not None and now >= budget.seconds):
                break
            lr = schedule.lr(step, now)
            for group in optimizer.param_groups:
                group["lr"] = lr

            idx = order[i * bs:(i + 1) * bs]
            x = train_x.index_select(0, idx)  # (B, C, H, W)
            y = train_y.index_select(0, idx)  # (B,)
            x = augment_batch(x, generator) if augment else prepare_input(x, dev)
            with autocast(dev, amp):
                loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                if recipe.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                optimizer.step()
            else:  # fp16: scale the loss so small gradients survive, unscale before clipping
                scaler.scale(loss).backward()
                if recipe.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                scaler.step(optimizer)
                scaler.update()

            loss_sum += loss.detach()
            step += 1
            epoch_steps += 1
            seen += bs
            if step % check_every == 0 and not math.isfinite(loss.item()):
                _diverged(result, loss.item(), step, steps_per_epoch, seen,
                          elapsed + time.perf_counter() - t_epoch)
            if progress is not None and time.perf_counter() - last_report > _PROGRESS_SECONDS:
                last_report = time.perf_counter()
                now = elapsed + last_report - t_epoch
                _call(progress, Progress(step / steps_per_epoch, step, total, now,
                                         budget.seconds, loss_sum.item() / epoch_steps, lr,
                                         seen / max(now, 1e-9), val_top1))
        synchronize(dev)
        elapsed += time.perf_counter() - t_epoch
        if epoch_steps == 0:
            break
        _account(result, step, steps_per_epoch, seen, elapsed)
        train_loss = loss_sum.item() / epoch_steps
        if not math.isfinite(train_loss):
            _diverged(result, train_loss, step, steps_per_epoch, seen, elapsed)

        val_loss, val_top1, val_top5 = evaluate(model, data.val, eval_bs, dev, amp)
        evaluations += 1
        result.train_loss.append(train_loss)
        result.val_loss.append(val_loss)
        result.val_top1.append(val_top1)
        result.val_top5.append(val_top5)
        result.best_val_top1 = max(result.val_top1)
        result.final_val_top1 = val_top1
        finished = (total is not None and step >= total) or \
            (budget.seconds is not None and elapsed >= budget.seconds)
        if progress is not None:
            _call(progress, Progress(step / steps_per_epoch, step, total, elapsed,
                                     budget.seconds, train_loss, lr, seen / elapsed, val_top1))
        if on_epoch is not None:
            metrics = {"accuracy": val_top1, "val_top5": val_top5, "val_loss": val_loss,
                       "train_loss": train_loss, "epoch": step / steps_per_epoch,
                       "step": float(step)}
            if _call(on_epoch, evaluations, metrics) and not finished:
                result.status, result.message = "pruned", f"stopped after epoch {evaluations}"
                break
        if finished:
            break
    if evaluate_test:
        result.test_top1 = evaluate(model, data.test, eval_bs, dev, amp)[1]


def _account(result: Result, step: int, steps_per_epoch: int, seen: int,
             elapsed: float) -> None:
    result.steps = step
    result.epochs = step / steps_per_epoch
    result.train_seconds = elapsed
    result.images_per_second = seen / elapsed if elapsed > 0 else 0.0


def _diverged(result: Result, loss: float, step: int, steps_per_epoch: int, seen: int,
              elapsed: float) -> None:
    _account(result, step, steps_per_epoch, seen, elapsed)
    raise _Stop("diverged", f"training loss became {loss} at step {step} "
                            f"(epoch {step / steps_per_epoch:.2f})")


def _call(hook: Callable[..., Any], *args: Any) -> Any:
    try:
        return hook(*args)
    except Exception as e:
        raise _HookError(e) from e


# --- genomes and checkpoints ----------------------------------------------------------------


def build_child(genome: Genome, input_shape: Sequence[int], num_classes: int, seed: int,
                space_options: Mapping[str, Any] | None = None) -> tuple[nn.Module, int]:
    """``genome`` built for ``input_shape`` and ``num_classes``, its weights initialised from
    ``seed``, and its multiply-adds per image (the cost model's, from the one description).
    Raises what the space raises (a :class:`~nas.core.errors.ShapeError` for a misfit)."""
    space = create_space(genome.space, **dict(space_options or {}))
    genome = space.validate(genome)
    graph = space.graph(genome, input_shape, num_classes)  # described once
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.module(graph)
    return model, totals(graph).macs


def train_genome(genome: Genome, data: DataSplits, recipe: Recipe, budget: Budget, *,
                 space_options: Mapping[str, Any] | None = None,
                 device: str | torch.device | None = None, evaluate_test: bool = False,
                 on_epoch: Callable[[int, dict[str, float]], bool] | None = None,
                 checkpoint: str | Path | None = None,
                 progress: Callable[[Progress], None] | None = None) -> Result:
    """Build ``genome`` for the data's input shape and class count, then :func:`train` it.

    The genome is described once: its graph is compiled (:meth:`Space.module`) and costed, and
    ``macs`` is the exact cost model's count (:mod:`nas.core.cost`), so :func:`train` counts
    nothing. Weights are initialised from ``recipe.seed``, so a genome, recipe and device give
    the same result every time. A genome that cannot be built (a
    :class:`~nas.core.errors.ShapeError` for this input size, an unknown space ...) gives status
    ``error`` with the message. With ``checkpoint``, a finished child
    (ok or pruned) is saved there (:func:`save_checkpoint`).
    """
    options = dict(space_options or {})
    dev = pick_device(device)
    try:
        genome = create_space(genome.space, **options).validate(genome)
        model, macs = build_child(genome, data.input_shape, data.num_classes, recipe.seed,
                                   options)
    except Exception as e:  # NasError (most often) or a builder's bug: the child fails alone
        return Result(status="error", message=f"{type(e).__name__}: {e}"[:500],
                      device=describe(dev))
    result = train(model, data, recipe, budget, device=dev, evaluate_test=evaluate_test,
                   on_epoch=on_epoch, progress=progress, macs=macs)
    if checkpoint is not None and result.status in ("ok", "pruned"):
        save_checkpoint(checkpoint, model, genome, recipe, result, data, space_options=options)
    return result
