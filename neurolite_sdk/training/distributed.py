"""Multi-process training on PyTorch's own engine: ``torchrun`` + ``DistributedDataParallel``.

    torchrun --nproc-per-node 2 .venv/bin/neurolite train --train ... --eval ... --out ...
    torchrun --nnodes 2 --node-rank 0 --rdzv-endpoint HOST:29500 --nproc-per-node 8 .venv/bin/neurolite train ...

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and the rendezvous; ``World.from_env`` joins
the process group (gloo on CPU, NCCL when CUDA is there). Every rank draws the same global batches
(same seed) and trains on its contiguous share of each one; each rank's loss is scaled by
``world_size * local_rows / global_rows``, so that DDP's gradient average equals the gradient of the
mean loss over the global batch: N processes follow one process at the same global batch, up to
floating-point summation order (tests/test_distributed.py states the tolerance).

Before any work the ranks compare what they were given (data digests, config, settings) and refuse
to start, naming the fields that differ, when they disagree.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurolite_sdk.errors import NeuroLiteError


class DistributedError(NeuroLiteError):
    """Processes of one ``torchrun`` world that cannot train together; the message names the difference."""


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_env(cls) -> World:
        """The world ``torchrun`` describes in the environment (joined once), else a single process."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if not dist.is_initialized():
            # a transformer teacher fine-tunes on rank 0 while the others wait: allow hours, not 30 minutes
            dist.init_process_group(backend, timeout=datetime.timedelta(hours=12))
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), backend)

    def check_agreement(self, document: dict[str, Any]) -> None:
        """Refuse to start unless every rank was given the same ``document`` (data digests, config, settings)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, document)
        problems = []
        for rank, other in enumerate(gathered):
            fields = sorted(k for k in set(other) | set(gathered[0]) if other.get(k) != gathered[0].get(k))
            if fields:
                shown = ", ".join(f"{k} ({_short(gathered[0].get(k))} vs {_short(other.get(k))})" for k in fields)
                problems.append(f"rank {rank} differs from rank 0 in {shown}")
        if problems:
            raise DistributedError("torchrun processes disagree on their inputs: " + "; ".join(problems))

    def shard(self, indices: np.ndarray) -> tuple[np.ndarray, float]:
        """This rank's contiguous share of a global batch and its loss scale.

        A rank whose share is empty (a last batch smaller than the world) still runs forward and
        backward, on one row with scale 0, because DDP needs every rank in every all-reduce.
        """
        if not self.distributed:
            return indices, 1.0
        share = np.array_split(indices, self.size)[self.rank]
        if len(share) == 0:
            return indices[:1], 0.0
        return share, self.size * len(share) / len(indices)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over ranks (float64), for epoch statistics."""
        if not self.distributed:
            return list(values)
        import torch.distributed as dist

        tensor = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
