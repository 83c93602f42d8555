"""Training on several processes with PyTorch's own launcher: ``torchrun ... -m tlbook train``.

``torchrun`` starts one process per GPU (or per CPU slot) and sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`setup` joins the process group
(NCCL on CUDA, Gloo on the CPU). After that :func:`tlbook.train.fit` and
:func:`tlbook.train.evaluate` see :func:`world` > 1 and

* wrap the model in ``DistributedDataParallel`` (BatchNorm synchronised across
  GPUs with ``SyncBatchNorm``), so gradients are averaged over processes;
* split every global batch of ``recipe.batch_size`` images between the
  processes: all draw the same shuffle and the same augmentation matrices
  from the shared seed (a new shuffle every epoch), and each one warps and
  trains on its own share only, so one optimiser step sees the same images
  as one step of a single process with the same batch size;
* evaluate each process's share of the images and gather the logits, each
  image exactly once (no padding, no double counting).

Only the process of rank 0 writes files (:func:`is_main`); the others wait at
a barrier. Without ``torchrun`` all of this is inert: one process, world 1.

>>> world()
(1, 0)
>>> shard(torch.arange(10), rank=1, size=4).tolist()
[1, 5, 9]
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "reduce_sums",
    "world",
    "is_main",
    "setup",
    "teardown",
    "barrier",
    "shard",
    "wrap",
    "gather_rows",
]


def world() -> tuple[int, int]:
    """``(number of processes, this process's rank)``; ``(1, 0)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def is_main() -> bool:
    """True in the one process that prints results and writes files."""
    return world()[1] == 0


def setup() -> torch.device:
    """Join the process group ``torchrun`` describes in the environment; return this process's device.

    Outside ``torchrun`` (no ``WORLD_SIZE``, or 1) nothing happens and the
    default device is returned.
    """
    from .devices import default_device

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return default_device()
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return device


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if world()[0] > 1:
        dist.barrier()


def shard(
    items: torch.Tensor, *, rank: int | None = None, size: int | None = None
) -> torch.Tensor:
    """This process's share of ``items``: every ``size``-th one from position ``rank``."""
    n, r = world()
    return items[(r if rank is None else rank) :: (n if size is None else size)]


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` for training in this process group: DDP (with SyncBatchNorm on CUDA), or unchanged alone."""
    if world()[0] == 1:
        return model
    if device.type == "cuda":
        # BatchNorm statistics over the global batch, as in one process (Gloo on the CPU cannot sync them).
        _sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def _sync_batchnorm(module: nn.Module) -> None:
    """Replace, in place, every trained BatchNorm layer by its synchronised twin (the backbones keep
    activations in modules of their own, so torch's conversion loses nothing). A frozen one (:func:`tlbook.backbones.is_frozen_bn`) normalises with its
    running statistics once :func:`tlbook.backbones.set_bn_eval` has run, and needs no synchronising (the
    BatchNorm trap of chapter 4, frozen but left in training mode, is therefore not synchronised either)."""
    from .backbones import is_frozen_bn

    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not is_frozen_bn(
            child
        ):
            setattr(module, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        else:
            _sync_batchnorm(child)


def reduce_sums(*values: torch.Tensor | float) -> tuple[float, ...]:
    """Each value summed over the processes under torchrun (itself, alone), as Python floats.

    Values may be device tensors: they are read once, here, not per batch.

    >>> reduce_sums(torch.tensor(3.0, dtype=torch.float64), 2.0)
    (3.0, 2.0)
    """
    if world()[0] == 1:
        return tuple(float(v) for v in values)
    device = next(
        (v.device for v in values if isinstance(v, torch.Tensor)), torch.device("cpu")
    )
    totals = torch.stack(
        [torch.as_tensor(v, dtype=torch.float64, device=device) for v in values]
    )
    dist.all_reduce(totals)
    return tuple(totals.tolist())


def gather_rows(local: torch.Tensor, index: torch.Tensor, total: int) -> torch.Tensor:
    """Every process's rows ``local`` (for positions ``index`` of ``total``) assembled in order, on every process.

    Each position comes from exactly one process, so nothing is counted twice.
    """
    if world()[0] == 1:
        return local
    parts: list = [None] * world()[0]
    dist.all_gather_object(parts, (index.cpu(), local.cpu()))
    out = torch.empty(total, *local.shape[1:], dtype=local.dtype)
    for idx, rows in parts:
        out[idx] = rows
    return out
