"""Where a child runs and how: device choice, mixed-precision dtype, memory format.

One place decides these so that the trainer, the benchmarks and the latency measurement agree.
The CPU choices were measured, not assumed (2-core Sapphire Rapids with AMX, torch 2.14, one
thread, training steps of batch 128; the variants alternated while other jobs shared the
machine, so compare within a row; median img/s):

=====================  ===========  ==============  ===========  ================
network                fp32 NCHW    fp32 NHWC (cl)  bf16 NCHW    bf16 NHWC
=====================  ===========  ==============  ===========  ================
ResNet-20-like, 32px   74           108             134          178
MobileNetV2, 32px      108          189             81           89
ResNet-18, 32px        143          172             139          122
tiny ResNet, 8px       2064         2625            2247         2728
=====================  ===========  ==============  ===========  ================

channels_last wins everywhere, so CPUs use it too; bf16 autocast wins for plain 3x3 convs on
AMX but loses for depthwise convs and on CPUs without bf16 units, so CPUs stay float32. On
CUDA the usual wins apply: bf16 autocast where the GPU supports it (fp16 with a gradient
scaler otherwise), channels_last, cuDNN autotuning and non-blocking copies.

Threads are left to whoever owns the process (Ray gives each worker ``num_cpus`` threads;
``nas train --threads``). On a busy machine more threads than free cores is ruinous: the same
ResNet-20 step ran at 12 img/s with 2 threads against 74 with 1 while other jobs held the
cores, because every op's threads wait for each other.
"""

from __future__ import annotations

import torch

from nas.errors import NasError


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


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training on ``device``, or None for plain float32.

    bf16 needs no loss scaling, so it is preferred wherever the GPU supports it; older GPUs
    get fp16 (the trainer then adds a gradient scaler). CPUs stay float32 (see the module doc).
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
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
