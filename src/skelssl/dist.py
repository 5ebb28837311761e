"""Distributed helpers as free functions (lightly's ``utils/dist``, nanoGPT's setup).

Launched by ``torchrun`` the environment carries ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` joins the process group (NCCL on CUDA, Gloo on CPU).
Launched as a plain ``python`` process everything falls back to one process and every
helper here is the identity / a no-op, so the same code runs on a laptop CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as torch_dist
from torch import nn

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """True when torchrun's environment variables are present."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def setup(device_type: str | None = None) -> tuple[int, int, torch.device]:
    """Join the process group from torchrun's environment; fall back to one process.

    Args:
        device_type: ``"cuda"`` or ``"cpu"``; None picks CUDA when available.

    Returns:
        ``(rank, world_size, device)``; under torchrun on CUDA the device is
        ``cuda:LOCAL_RANK``. Calling it again reuses the existing process group.
    """
    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device_type == "cuda":
        device = torch.device(
            "cuda", local_rank if launched_by_torchrun() else torch.cuda.current_device()
        )
        torch.cuda.set_device(device)
    else:
        device = torch.device(device_type)
    if launched_by_torchrun() and int(os.environ["WORLD_SIZE"]) > 1 and not is_distributed():
        backend = "nccl" if device_type == "cuda" else "gloo"
        torch_dist.init_process_group(backend=backend)
    return rank(), world_size(), device


def cleanup() -> None:
    """Leave the process group, if any."""
    if is_distributed():
        torch_dist.destroy_process_group()


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def rank() -> int:
    return torch_dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch_dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process)."""
    return rank() == 0


def print0(*args, **kwargs) -> None:
    """``print`` on rank 0 only."""
    if is_main():
        print(*args, **kwargs)


def barrier() -> None:
    if is_distributed():
        torch_dist.barrier()


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over ranks (a new tensor); identity in one process."""
    if not is_distributed():
        return x
    x = x.detach().clone()
    torch_dist.all_reduce(x, op=torch_dist.ReduceOp.SUM)
    return x / world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is True on any rank (so that all ranks take the same branch)."""
    if not is_distributed():
        return flag
    value = torch.tensor([float(flag)], device=device)
    torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def all_gather_object(obj: object) -> list[object]:
    """Every rank's ``obj``, in rank order; ``[obj]`` in one process."""
    if not is_distributed():
        return [obj]
    gathered: list[object] = [None] * world_size()
    torch_dist.all_gather_object(gathered, obj)
    return gathered


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the incoming gradients over ranks and keeps this
    rank's slice (an all-reduce + slice, since Gloo has no reduce_scatter)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(torch_dist.get_world_size())]
        torch_dist.all_gather(parts, x)
        ctx.local_rows = x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        grad = grad_output.contiguous().clone()
        torch_dist.all_reduce(grad, op=torch_dist.ReduceOp.SUM)
        start = torch_dist.get_rank() * ctx.local_rows
        return grad[start : start + ctx.local_rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all ranks, keeping gradients for this rank's part.

    Shape: ``(n, D) -> (world_size * n, D)``, rank r's rows at ``[r*n, (r+1)*n)``; every
    rank must pass the same ``n``. The backward pass all-reduces (sums) the gradient of
    the gathered tensor and returns this rank's rows, so a loss averaged over the local
    anchors against the gathered set gives, after DDP's gradient averaging, the gradients
    of one process computing the mean loss on the global batch. Identity in one process.
    """
    if not is_distributed() or world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """Exponential moving average of parameters: ξ ← m·ξ + (1 − m)·θ (BYOL Eq. (1), MoCo Eq. (2)).

    Parameters only, matched by order; buffers (BatchNorm statistics) are the caller's
    choice. ``target`` and ``online`` must have the same architecture.
    """
    target_params = list(target.parameters())
    online_params = list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError(
            f"ema_update: target has {len(target_params)} parameters, online {len(online_params)}"
        )
    for target_param, online_param in zip(target_params, online_params):
        target_param.mul_(momentum).add_(online_param.detach(), alpha=1.0 - momentum)
