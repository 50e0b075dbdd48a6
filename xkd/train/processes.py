"""Several training processes: who is who, and the few collectives xkd needs.

Under ``torchrun --nproc_per_node N`` or ``accelerate launch --multi_gpu --num_processes N``
every process runs the same ``xkd train`` command. :func:`start` joins them into one process
group (gloo on CPU, NCCL on GPUs, through Accelerate) and returns this process's
:class:`Processes`. Process 0 is the main process: it alone owns the run folder (status,
metrics, checkpoints, models, evaluation); the others train their share of every batch and
write nothing. A single process is ``Processes()`` and every helper here is then a no-op.

Usage::

    procs = start("auto")
    run_dir = broadcast(make_folder() if procs.is_main else None, procs)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = [
    "Processes",
    "all_gather",
    "any_true",
    "barrier",
    "broadcast",
    "finish",
    "launched",
    "mean_across",
    "start",
]

#: how long a process waits for the others at a collective (the main process may queue for the
#: device first); a process that dies ends the whole launch anyway (torchrun stops the others)
WAIT = timedelta(hours=24)


@dataclass(frozen=True)
class Processes:
    """This process's place in a launch: ``rank`` of ``world_size`` (``local_rank`` on its
    machine). ``Processes()`` is a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def record(self) -> dict[str, Any]:
        """What ``env.json`` says about the launch (``processes``)."""
        out: dict[str, Any] = {"world_size": self.world_size}
        if self.distributed:
            import torch.distributed as dist

            out["backend"] = str(dist.get_backend())
            out["machines"] = int(os.environ.get("GROUP_WORLD_SIZE", "0")) or None
            out["processes_per_machine"] = int(os.environ.get("LOCAL_WORLD_SIZE", "0")) or None
        return out


def launched() -> Processes:
    """This process's place from the launcher's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, set by torchrun and ``accelerate launch``); a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Processes()
    return Processes(
        rank=int(os.environ.get("RANK", "0")),
        world_size=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def start(device: str = "auto") -> Processes:
    """Join the launch's process group (once per process) and return this process's place.

    ``device`` is ``train.device``: ``cpu`` (or ``auto`` without CUDA) joins with gloo.
    """
    procs = launched()
    if not procs.distributed:
        return procs
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
        PartialState(cpu=cpu, timeout=WAIT)
    return procs


def _device():
    from accelerate import PartialState

    return PartialState().device


def broadcast(obj: Any, procs: Processes) -> Any:
    """The main process's ``obj``, in every process (picklable objects)."""
    if not procs.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if procs.is_main else None]
    dist.broadcast_object_list(box, src=0, device=_device())
    return box[0]


def all_gather(obj: Any, procs: Processes) -> list[Any]:
    """Every process's ``obj``, in rank order, in every process."""
    if not procs.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * procs.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(procs: Processes) -> None:
    if procs.distributed:
        import torch.distributed as dist

        dist.barrier()


def any_true(flag: bool, procs: Processes) -> bool:
    """Whether ``flag`` is true in any process (a stop request seen by the main process)."""
    if not procs.distributed:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_across(values: dict[str, float], procs: Processes) -> dict[str, float]:
    """The mean of each value over the processes (same keys in every process)."""
    if not procs.distributed or not values:
        return values
    import torch
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_device())
    dist.all_reduce(t)
    return {k: float(v) / procs.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def finish(procs: Processes, *, together: bool = True) -> None:
    """Leave the process group (call once, when the process is done with it): a process that
    exits without leaving can abort at exit ("terminate called without an active exception")
    and fail the whole launch. ``together``: wait for every process first, so that none tears
    its connections down while another still uses them (a stopped run's processes reach the
    end at different times); pass False after an error, when the others may never arrive."""
    if procs.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            if together:
                dist.barrier()
            dist.destroy_process_group()
