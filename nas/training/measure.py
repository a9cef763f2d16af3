"""Measurements of a network that are not training: inference latency and multiply-adds."""

from __future__ import annotations

import statistics
import time

import torch
from torch import Tensor, nn

from nas.core.layers import live_kind
from nas.training.device import autocast, prepare_input, synchronize


def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch: int,
                    device: torch.device, *, amp: torch.dtype | None = None, warmup: int = 3,
                    repeats: int = 10, max_seconds: float = 1.0) -> float:
    """Median milliseconds of one inference forward of ``batch`` random images on ``device``.

    A few warm-up runs (allocator, cuDNN autotuning), then up to ``repeats`` timed runs or
    ``max_seconds``, whichever ends first, so that latency never dominates a small child.
    """
    model.eval()
    x = prepare_input(torch.randn(batch, *input_shape, device=device), device)

    def run() -> float:
        t0 = time.perf_counter()
        model(x)
        synchronize(device)
        return time.perf_counter() - t0

    with torch.inference_mode(), autocast(device, amp):
        spent = 0.0
        for _ in range(warmup):
            spent += run()
            if spent > max_seconds / 2:  # a slow model is warm after one run
                break
        times = [run()]
        while len(times) < repeats and sum(times) < max_seconds:
            times.append(run())
    return 1000.0 * statistics.median(times)


def count_macs(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> int:
    """Multiply-accumulates of one image, counted with forward hooks on one batch-1 forward.

    Any module, torchvision's too, is counted as the layer kind of :mod:`nas.core.layers`
    whose live types it is an instance of (convolutions, linear layers, pooling), by that
    kind's own formula, the one the cost model (:mod:`nas.core.cost`) applies to a graph.
    Other modules, and functions called outside any module, count nothing.

    Hooks rather than ``torch.utils.flop_counter``: that imports torch._dynamo, which costs
    seconds in every fresh worker process.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        kind = live_kind(module)
        assert kind is not None  # hooked below only if it has one
        total += kind.count(module, inputs[0], output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if live_kind(m)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
