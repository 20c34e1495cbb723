"""Process groups, model wrapping and the few collectives the trainer needs, identical for 1 process, CPU and GPU.

Launch with ``torchrun --nproc_per_node N ...`` (or ``python -m torch.distributed.run``): ``init_distributed`` reads
RANK / WORLD_SIZE / LOCAL_RANK, picks "nccl" when CUDA is available and "gloo" otherwise, and returns a
:class:`DistInfo`. Without those variables it is a single process and every collective here is a no-op, so the same
script runs unchanged as ``python train.py``, CPU ``torchrun`` (gloo) and GPU ``torchrun`` (nccl).

Wrapping: DDP by default (CPU and GPU). With ``fsdp=True``: FSDP2 (``torch.distributed.fsdp.fully_shard``) on every
element of every ``nn.ModuleList`` (the transformer blocks) and then on the root; this works on CPU with gloo too.
Only rank 0 writes files and shows a progress bar (:func:`is_main`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

# ----------------------------------------------------------------------------------------------------------------------
# Process group
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str  # "gloo", "nccl" or "none" (single process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistInfo:
    """Join the torchrun process group (idempotent); a single process when not launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size <= 1 and not dist.is_initialized():
        return DistInfo(rank=0, world_size=1, local_rank=0, backend="none")
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistInfo(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, backend=dist.get_backend()
    )


def is_main() -> bool:
    """True on rank 0 (and in a single process)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (call once at the very end of a torchrun script)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(device: str, info: DistInfo) -> torch.device:
    """"auto" -> cuda:LOCAL_RANK when CUDA is available, else cpu."""
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for but CUDA is not available; use 'auto' or 'cpu'")
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------------------------------
# Wrapping and gradient synchronisation
# ----------------------------------------------------------------------------------------------------------------------


def wrap_model(module: nn.Module, info: DistInfo, device: torch.device, *, fsdp: bool) -> nn.Module:
    """DDP (or FSDP2 when fsdp=True) around a module already on `device`; the module itself when single-process.

    FSDP2 shards in place, so the returned object IS `module` and its parameters become DTensors. Both paths start
    every rank from rank 0's weights, so ranks may build the model with different initialisations.
    """
    if not info.distributed:
        return module
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        with torch.no_grad():  # the same start on every rank, as DDP gives
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)
        for sub in module.modules():
            if isinstance(sub, nn.ModuleList):
                for block in sub:
                    fully_shard(block)
        fully_shard(module)
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(module, device_ids=[device.index] if device.type == "cuda" else None)


@contextmanager
def grad_sync(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulated step."""
    from torch.distributed.fsdp import FSDPModule
    from torch.nn.parallel import DistributedDataParallel as DDP

    if isinstance(model, DDP) and not enabled:
        with model.no_sync():
            yield
    elif isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(enabled)
        yield
    else:
        yield


# ----------------------------------------------------------------------------------------------------------------------
# Collectives (no-ops in a single process)
# ----------------------------------------------------------------------------------------------------------------------


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce(t: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Sum / mean / max of a tensor over ranks; returns a new tensor on t's device."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return t.clone()
    x = t.detach().to(_comm_device(), copy=True)
    dist.all_reduce(x, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    if op == "mean":
        x /= dist.get_world_size()
    return x.to(t.device)


def all_gather(t: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's copy of a same-shaped tensor (e.g. RNG states), in rank order, on the CPU."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [t.detach().cpu().clone()]
    x = t.detach().to(_comm_device())
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x)
    return [o.cpu() for o in out]


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor of an FSDP shard (a collective: every rank must call it in the same order); else t itself."""
    from torch.distributed.tensor import DTensor  # here, not at the top: it costs ~1 s of every cold start

    return t.full_tensor() if isinstance(t, DTensor) else t


def shard_like(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The inverse of full_tensor: this rank's piece of `full`, laid out like `like`."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if isinstance(like, DTensor):
        return distribute_tensor(full.to(like.device, like.dtype), like.device_mesh, like.placements)
    return full.to(like.device, like.dtype)
