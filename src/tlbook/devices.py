"""Where tensors live and in what precision: the device, copies to it, mixed precision.

>>> default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
True
>>> autocast_dtype(torch.device("cpu")) is None  # no fast half precision on these CPUs
True
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = [
    "default_device",
    "runtime_report",
    "machine_description",
    "to_device",
    "autocast_dtype",
    "mixed_precision",
]


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def runtime_report() -> str:
    """What this runtime computes on, and what a GPU would change: the chapters' setup cell prints it in Colab.

    >>> print(runtime_report() if not torch.cuda.is_available() else "Running on the CPU")  # doctest: +ELLIPSIS
    Running on the CPU...
    """
    device = default_device()
    if device.type == "cuda":
        return (
            f"Running on a GPU ({torch.cuda.get_device_name(device)}). The chapters' runs (the cpu preset "
            "the pages show) take seconds here. %env TLBOOK_PRESET=full trains on all of CIFAR-10 at 224 px "
            "instead: minutes to hours, with other numbers than the page's."
        )
    return (
        f"Running on the CPU ({os.cpu_count()} cores): each chapter's runs take minutes (its opening box "
        "says how many). For a GPU: Runtime > Change runtime type > a GPU (T4), then run this cell again. "
        "The numbers stay those of the page (the cpu preset); a GPU brings them in seconds and makes "
        "%env TLBOOK_PRESET=full (all of CIFAR-10 at 224 px) practical."
    )


def machine_description(device: torch.device | str | None = None) -> str:
    """The machine a measurement was made on, for the files that record timings.

    The processor's model name (Linux's ``/proc/cpuinfo``, else ``platform``), the
    architecture, the cores this process may use, torch's version and the device.

    >>> "cores, torch" in machine_description("cpu")
    True
    """
    import platform

    device = torch.device(device) if device is not None else default_device()
    model = platform.processor()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in f
                    if line.startswith("model name")
                ),
                model,
            )
    cores = (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count()
    )
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return (
        f"{model or 'unknown processor'}, {platform.machine()}, {cores} cores, "
        f"torch {torch.__version__}, device {device.type}{gpu}"
    )


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``t`` (made on the CPU) on ``device``, without making the host wait for a GPU.

    A copy from ordinary (pageable) memory blocks until the GPU has finished
    everything queued before it; from pinned memory it is queued like a kernel.
    On the CPU this is ``t`` itself.

    >>> to_device(torch.ones(2), "meta").device  # any device torch knows; "meta" holds no data
    device(type='meta')
    """
    device = torch.device(device)
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision training computes in on ``device``, or None for float32 throughout.

    On a GPU with bfloat16 support (Ampere and later, ``torch.cuda.is_bf16_supported()``),
    bfloat16: float32's range, so no gradient scaling. On an older GPU (a T4, Colab's usual
    one), float16, whose small range needs a gradient scaler (:func:`tlbook.train.fit` adds
    one). On the CPU, none: these cores have no fast half precision.
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def mixed_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast that training and evaluation run the network under (see :func:`autocast_dtype`).

    Mixed precision runs matrix products and convolutions in 16 bits, where the
    tensor cores are, and keeps weights, the optimiser and reductions such as the
    loss in float32; it changes speed and memory, not the recipe.

    >>> with mixed_precision(torch.device("cpu")):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
    """
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
