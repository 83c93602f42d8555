"""Where tensors live and in what precision: the device, copies to it, mixed precision.

>>> default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
True
>>> autocast_dtype(torch.device("cpu")) is None  # no fast half precision on these CPUs
True
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["default_device", "to_device", "autocast_dtype", "mixed_precision"]


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``t`` (made on the CPU) on ``device``, without making the host wait for a GPU.

    A copy from ordinary (pageable) memory blocks until the GPU has finished
    everything queued before it; from pinned memory it is queued like a kernel.
    On the CPU this is ``t`` itself.

    >>> to_device(torch.ones(2), "cpu")
    tensor([1., 1.])
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
