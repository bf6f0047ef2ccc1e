"""Hierarchical memory (``config.use_external_memory``, issue 17): short-term, long-term and persistent
slots, read by every token through modern-Hopfield retrieval behind a learned gate.

Each text is one memory item: its key and value are projections of the text's pooled hidden state
(masked mean and max, before memory), the key L2-normalised. Each level is a ring with its own cursor
(the oldest item is replaced). A call with writing on (``write`` = 1 for the row) stores the item in

- short-term: always;
- long-term: only when the item is novel: its key's highest cosine to the valid long-term and persistent
  keys is below ``novelty_threshold_ltm``;
- persistent: consolidation, at most one item a call, of the first long-term item whose use (the
  attention mass reads have given it) reached ``PROMOTE_USE``, when it is novel with respect to the
  persistent keys (cosine below ``novelty_threshold_pm``); its long-term use then restarts from zero.

Reading happens before writing: token t's query ``q_t`` attends over every valid slot,
``a_t = softmax(β · q_t · Kᵀ)`` (the modern Hopfield update, β = ``memory_beta``; the keys are unit
vectors, the query's norm is learned, so a token can read sharply or barely), and the retrieved
``r_t = a_t · V`` enters the token as ``h_t + g_t · W_o r_t`` with the gate ``g_t = σ(w·h_t + u·r_t + b)``.
The text's read distribution (``attention``, the mean of ``a_t`` over real tokens) is an output and adds
to each slot's use.

Export: the state (keys, values, valid, use, cursor; fixed capacity S = short + long + persistent slots)
is an explicit input and output of the graph, so the graph stays pure and static-shaped; the three
levels' writes are one masked update ``x · (1 − o) + o · new`` with ``o`` the written slots. Decisions
are computed without ``argmax``, ``topk`` or comparisons, in ops XNNPACK delegates, as routing does
(modeling/routing.py): a threshold test is ``ceil(clamp(t − x, 0, 1))``, a maximum the 4-D ``keepdim``
reduction, "the first of the marked slots" a ``linear`` with a constant triangular matrix; the cursors
move by a ``linear`` with a constant ring-shift matrix. Every op counts on a model this small: each one
costs onnxruntime about 2 µs whatever its size, so the write path is written in few, fused steps
(benchmarks/memory_retrieval.py measures the cost). Padding: a row's reads and writes depend only on its
own real tokens and its own state; a row without tokens (or a padded row) writes nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.config import NeuroLiteConfig

STATE = ("keys", "values", "valid", "usage", "cursor")  # graph names: "memory_" + name; outputs "next_memory_" + name
PROMOTE_USE = 1.0  # a long-term item read with this much attention mass in total is consolidated
MASKED = 1e4  # logit offset that takes an invalid slot out of the softmax
EPS = 1e-6


class HierarchicalMemory(nn.Module):
    """The memory's projections and the fixed layout of its slots: [short-term | long-term | persistent]."""

    def __init__(self, config: NeuroLiteConfig) -> None:
        super().__init__()
        d, m = config.hidden_size, config.memory_dim
        sizes = (config.memory_short_term_size, config.memory_long_term_size, config.memory_persistent_size)
        self.dim, self.slots, self.beta = m, sum(sizes), float(config.memory_beta)
        self.threshold_ltm, self.threshold_pm = float(config.novelty_threshold_ltm), float(config.novelty_threshold_pm)
        self.key = nn.Linear(2 * d, m)
        self.value = nn.Linear(2 * d, m)
        self.query = nn.Linear(d, m)
        self.out = nn.Linear(m, d)
        self.gate_hidden = nn.Linear(d, 1)
        self.gate_read = nn.Linear(m, 1, bias=False)
        nn.init.constant_(self.gate_hidden.bias, -1.0)  # memory starts by entering each token a little
        s = self.slots
        starts = (0, sizes[0], sizes[0] + sizes[1])
        region = torch.zeros(3, s)
        shift = -torch.eye(s)  # linear(written, shift): the written slot's cursor moves to the next slot of its ring
        for level, (start, size) in enumerate(zip(starts, sizes, strict=True)):
            region[level, start:start + size] = 1.0
            for i in range(size):
                shift[start + (i + 1) % size, start + i] += 1.0
        self.starts = starts
        self.register_buffer("short_term", region[0].reshape(1, s), persistent=False)
        self.register_buffer("long_term", region[1].reshape(1, s), persistent=False)
        self.register_buffer("persistent", region[2].reshape(1, s), persistent=False)
        self.register_buffer("stored", (region[1] + region[2]).reshape(1, s), persistent=False)
        self.register_buffer("shift", shift, persistent=False)
        # earlier[e, j] = 1 when slot j comes before slot e: linear(marked, earlier) counts marked slots before e
        self.register_buffer("earlier", torch.tril(torch.ones(s, s), diagonal=-1), persistent=False)
        self.register_buffer("ones_slots", torch.ones(1, s), persistent=False)
        self.register_buffer("ones_dim", torch.ones(1, m), persistent=False)

    def empty_state(self, batch: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """No valid slot, no use, each level's cursor on its first slot."""
        s, m = self.slots, self.dim
        cursor = torch.zeros(batch, s, device=device)
        cursor[:, list(self.starts)] = 1.0
        return {"keys": torch.zeros(batch, s, m, device=device), "values": torch.zeros(batch, s, m, device=device),
                "valid": torch.zeros(batch, s, device=device), "usage": torch.zeros(batch, s, device=device),
                "cursor": cursor}

    def state_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        s, m = self.slots, self.dim
        return {"keys": (batch, s, m), "values": (batch, s, m), "valid": (batch, s), "usage": (batch, s),
                "cursor": (batch, s)}

    def check_state(self, state: dict[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
        """``state`` if it holds this memory's tensors for ``batch`` rows; a ValueError naming both shapes."""
        if torch.compiler.is_compiling():  # traced for export: the graph's input specs fix the shapes
            return state
        missing = sorted(set(STATE) - set(state))
        if missing:
            raise ValueError(f"memory: missing {', '.join(missing)} (a memory state holds {', '.join(STATE)})")
        for name, shape in self.state_shapes(batch).items():
            if tuple(state[name].shape) != shape:
                raise ValueError(f"memory[{name!r}]: shape {tuple(state[name].shape)}, this model's memory needs "
                                 f"{shape} (memory_dim {self.dim}, {self.slots} slots)")
        return state

    # ------------------------------------------------------------------------------------------ read
    def read(self, hidden: torch.Tensor, mask: torch.Tensor,
             state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hidden [B, L, D] with memory added, padding rows zeroed; the text's read distribution [B, S];
        whether the row has a token [B, 1])."""
        batch, length, _ = hidden.shape
        s = self.slots
        valid = state["valid"].reshape(batch, 1, s)
        scores = torch.bmm(self.query(hidden), state["keys"].transpose(1, 2)) * self.beta
        attention = torch.softmax(scores + (valid - 1.0) * MASKED, dim=-1) * valid  # no valid slot: reads zeros
        retrieved = torch.bmm(attention, state["values"])
        gate = torch.sigmoid(self.gate_hidden(hidden) + self.gate_read(retrieved))
        hidden = (hidden + gate * self.out(retrieved)) * mask.reshape(batch, length, 1)
        weights = mask.reshape(batch, 1, length)
        count = torch.bmm(weights, mask.reshape(batch, length, 1)).reshape(batch, 1)
        read = torch.bmm(weights, attention).reshape(batch, s) / torch.clamp(count, min=1.0)
        return hidden, read, torch.clamp(count, max=1.0)

    # ------------------------------------------------------------------------------------------ write
    def write(self, pooled: torch.Tensor, state: dict[str, torch.Tensor], attention: torch.Tensor,
              tokens: torch.Tensor, write: torch.Tensor) -> dict[str, torch.Tensor]:
        """The next state after storing each row's item (``pooled`` [B, 2D]) where ``write`` [B] is 1 and the
        row has a token (``tokens`` [B, 1], from ``read``)."""
        batch, s, m = pooled.shape[0], self.slots, self.dim
        keys, values, valid, usage, cursor = (state[name] for name in STATE)
        w = write.reshape(batch, 1) * tokens
        key = self.unit_key(pooled)
        usage = usage + w * attention

        # short-term always; long-term when novel against what long-term and persistent memory hold
        novel = self._novel(keys, valid * self.stored, key, self.threshold_ltm)
        item = (w * cursor) * (self.short_term + novel * self.long_term)

        # persistent: the first long-term item whose use reached PROMOTE_USE, when novel against persistent keys
        eligible = (valid * self.long_term) * (1.0 - _below(PROMOTE_USE, usage))
        candidate = eligible * (1.0 - torch.clamp(F.linear(eligible, self.earlier), 0.0, 1.0))
        ready = w * F.linear(candidate, self.ones_slots)
        chosen = candidate.reshape(batch, 1, s)
        candidate_key = torch.bmm(chosen, keys)
        candidate_value = torch.bmm(chosen, values)
        novel_pm = self._novel(keys, valid * self.persistent, candidate_key.reshape(batch, m), self.threshold_pm)
        promote = (ready * novel_pm) * (cursor * self.persistent)

        # one masked update for the three levels
        written = item + promote
        spot, fresh, moved = written.reshape(batch, s, 1), item.reshape(batch, s, 1), promote.reshape(batch, s, 1)
        keep = 1.0 - spot
        return {"keys": keys * keep + fresh * key.reshape(batch, 1, m) + moved * candidate_key,
                "values": values * keep + fresh * self.value(pooled).reshape(batch, 1, m) + moved * candidate_value,
                "valid": torch.clamp(valid + written, max=1.0),
                "usage": usage * (1.0 - written) * (1.0 - ready * candidate),  # written slots, the candidate restart
                "cursor": cursor + F.linear(written, self.shift)}

    def unit_key(self, pooled: torch.Tensor) -> torch.Tensor:
        """The item's key [B, M], a unit vector (cosines are dot products), from its pooled state [B, 2D]."""
        key = self.key(pooled)
        return key * torch.rsqrt(F.linear(key * key, self.ones_dim) + EPS)

    def _novel(self, keys: torch.Tensor, among: torch.Tensor, key: torch.Tensor, threshold: float) -> torch.Tensor:
        """[B, 1]: 1 when the highest cosine of ``key`` [B, M] to the ``keys`` [B, S, M] where ``among`` [B, S]
        is 1 is below ``threshold`` (always, when there are none: they count as -1)."""
        batch, s = among.shape
        cosine = torch.bmm(keys, key.reshape(batch, self.dim, 1)).reshape(batch, 1, s, 1)
        highest = torch.max((cosine + 2.0) * among.reshape(batch, 1, s, 1), dim=2, keepdim=True).values
        return _below(threshold + 2.0, highest.reshape(batch, 1))


def _below(threshold: float, x: torch.Tensor) -> torch.Tensor:
    """1 where ``x < threshold``, else 0 (exact: ceil of a positive difference clamped to [0, 1])."""
    return torch.ceil(torch.clamp(threshold - x, 0.0, 1.0))
