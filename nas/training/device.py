"""Where a child runs and how: device choice, mixed-precision dtype, memory format.

One place decides these so that the trainer, the benchmarks and the latency measurement agree.
The CPU choices were measured, not assumed (2-core Sapphire Rapids with AMX, torch 2.14, one
thread, training steps of batch 128, the four variants alternating; median img/s):

=====================  ===========  ==============  ===========  ================
network                fp32 NCHW    fp32 NHWC (cl)  bf16 NCHW    bf16 NHWC
=====================  ===========  ==============  ===========  ================
ResNet-20-like, 32px   235          303             447          572
MobileNetV2, 32px      242          454             185          200
ResNet-18, 32px        314          321             301          320
NASNet-A, 32px         5            7               5            5
tiny ResNet, 8px       4895         6305            5457         6676
=====================  ===========  ==============  ===========  ================

channels_last is never slower, so CPUs use it too. bf16 autocast doubles plain 3x3
convolutions on AMX but slows depthwise ones (and every convolution on CPUs without bf16
units), so CPUs stay float32 unless a recipe asks (``Recipe(amp=True)``). On CUDA the usual
wins apply: bf16 autocast where the GPU supports it (fp16 with a gradient scaler otherwise),
channels_last, cuDNN autotuning and non-blocking copies.

Threads are left to whoever owns the process (Ray gives each worker ``num_cpus`` threads;
``nas train --threads``). Two threads on two idle cores trained the ResNet-20-like network
1.8x faster than one (424 against 235 img/s), but more threads than free cores is ruinous:
with other jobs holding the cores the same step ran at 12 img/s with 2 threads against 74
with 1, because every op's threads wait for each other.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor

from nas.core.errors import NasError


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` means the first GPU if there is one, else CPU.

    A named device that this machine does not have is a user error (one line, says why).
    """
    if device is None:
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() \
            else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise NasError(f"unknown device {device!r} ({e}); use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise NasError(f"device {device!r} asked for, but this machine has no CUDA GPU; "
                           "use --device cpu")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise NasError(f"device {device!r} asked for, but only "
                           f"{torch.cuda.device_count()} GPU(s) are visible")
        return torch.device("cuda", index)
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise NasError(f"device {device!r} asked for, but MPS is not available; use cpu")
    return dev


def amp_dtype(device: torch.device, enabled: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None for plain float32.

    ``enabled=None`` is the measured default: on CUDA bf16 where the GPU supports it (no loss
    scaling needed), else fp16 (the trainer then adds a gradient scaler); CPUs stay float32
    (see the module doc). ``enabled=True`` asks for mixed precision anyway (bf16 on a CPU,
    worth it on AMX CPUs for plain convolutions); ``False`` forces float32.
    """
    if enabled is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if enabled and device.type == "cpu":
        return torch.bfloat16
    if enabled and device.type == "mps":
        return torch.float16
    return None


def use_channels_last(device: torch.device) -> bool:
    """Whether NHWC memory layout is faster for convolutions on ``device`` (CUDA, CPU: yes)."""
    return device.type in ("cuda", "cpu")


def describe(device: torch.device) -> str:
    """A short human name for reports: ``cpu`` or ``cuda:0 (NVIDIA A100-SXM4-80GB)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so that wall-clock timings measure finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def is_oom(error: BaseException) -> bool:
    """True for out-of-memory on any device (CUDA's own error or the allocators' messages)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text
        or isinstance(error, MemoryError))


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """``torch.autocast`` to ``dtype`` on ``device``, or nothing when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def prepare_input(x: Tensor, device: torch.device) -> Tensor:
    """``x`` in the memory layout the device runs fastest (channels-last where it pays)."""
    return x.contiguous(memory_format=torch.channels_last) if use_channels_last(device) else x
