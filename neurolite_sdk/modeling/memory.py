"""Hierarchical memory (``config.use_external_memory``, issue 17): short-term, long-term and persistent
slots, read by every token through modern-Hopfield retrieval behind a learned gate.

Each text is one memory item: its key and value are projections of the text's pooled hidden state
(masked mean and max, before memory), the key L2-normalised. A call with writing on (``write`` = 1 for
the row) stores the item in

- the short-term ring: the slot under the cursor, which then moves on (the oldest item is replaced);
- long-term, only when the item is novel: its key's highest cosine to the valid long-term and
  persistent keys is below ``novelty_threshold_ltm``; into the first free long-term slot, else the least
  used one;
- persistent: consolidation, once per call, of the most used long-term item whose use (the attention mass
  reads have given it) reached ``PROMOTE_USE``, when it is novel with respect to the persistent keys
  (cosine below ``novelty_threshold_pm``); its long-term use then restarts from zero.

Reading happens before writing: token t's query ``q_t`` (normalised) attends over every valid slot,
``a_t = softmax(β · q_t · Kᵀ)`` (the modern Hopfield update, β = ``memory_beta``), the retrieved
``r_t = a_t · V`` enters the token as ``h_t + g_t · W_o r_t`` with the gate ``g_t = σ(w·h_t + u·r_t + b)``.
The text's read distribution (``attention``, the mean of ``a_t`` over real tokens) is an output and adds
to each slot's use.

Export: the state (keys, values, valid, use, cursor; fixed capacity S = short + long + persistent slots)
is an explicit input and output of the graph, so the graph stays pure and static-shaped; every write is a
masked update ``x · (1 − w·o) + w·o · new`` with ``o`` a one-hot slot choice. Choices are computed
without ``argmax``, ``topk`` or comparisons, in ops XNNPACK delegates, as routing does
(modeling/routing.py): ``first_max`` counts, for each slot, the slots scoring strictly higher (or equal
with a lower index) with ``ceil(clamp(·, 0, 1))``, and a threshold test is ``ceil(clamp(t − x, 0, 1))``.
Sums over one axis are ``linear`` products with constant rows of ones. Padding: a row's reads and writes
depend only on its own real tokens and its own state; a row without tokens (or a padded row) writes nothing.
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
        short, long_, persistent = (config.memory_short_term_size, config.memory_long_term_size,
                                    config.memory_persistent_size)
        self.dim, self.slots, self.beta = m, short + long_ + persistent, float(config.memory_beta)
        self.threshold_ltm, self.threshold_pm = float(config.novelty_threshold_ltm), float(config.novelty_threshold_pm)
        self.key = nn.Linear(2 * d, m)
        self.value = nn.Linear(2 * d, m)
        self.query = nn.Linear(d, m)
        self.out = nn.Linear(m, d)
        self.gate_hidden = nn.Linear(d, 1)
        self.gate_read = nn.Linear(m, 1, bias=False)
        nn.init.constant_(self.gate_hidden.bias, -1.0)  # memory starts by entering each token a little
        s = self.slots
        region = torch.zeros(3, s)
        region[0, :short], region[1, short:short + long_], region[2, short + long_:] = 1.0, 1.0, 1.0
        self.register_buffer("short_term", region[0].reshape(1, s), persistent=False)
        self.register_buffer("long_term", region[1].reshape(1, s), persistent=False)
        self.register_buffer("persistent", region[2].reshape(1, s), persistent=False)
        advance = torch.zeros(s, s)  # cursor -> next short-term slot (a ring)
        for i in range(short):
            advance[(i + 1) % short, i] = 1.0
        self.register_buffer("advance", advance, persistent=False)
        # earlier[e, j] = 1 when slot j comes before slot e: the tie-break of first_max
        self.register_buffer("earlier", torch.tril(torch.ones(s, s), diagonal=-1), persistent=False)
        self.register_buffer("ones_slots", torch.ones(1, s), persistent=False)
        self.register_buffer("ones_dim", torch.ones(1, m), persistent=False)

    def empty_state(self, batch: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """No valid slot, no use, the cursor on the first short-term slot."""
        s, m = self.slots, self.dim
        cursor = torch.zeros(batch, s, device=device)
        cursor[:, 0] = 1.0
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
             state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [B, L, D] with memory added, padding rows zeroed; the text's read distribution [B, S])."""
        batch, length, _ = hidden.shape
        s = self.slots
        valid = state["valid"]
        query = self._normalise(self.query(hidden))
        scores = self.beta * torch.bmm(query, state["keys"].transpose(1, 2))
        scores = scores + (valid.reshape(batch, 1, s) - 1.0) * MASKED
        attention = torch.softmax(scores, dim=-1) * valid.reshape(batch, 1, s)  # no valid slot: reads zeros
        retrieved = torch.bmm(attention, state["values"])
        gate = torch.sigmoid(self.gate_hidden(hidden) + self.gate_read(retrieved))
        hidden = (hidden + gate * self.out(retrieved)) * mask.reshape(batch, length, 1)
        weights = mask.reshape(batch, 1, length)
        count = torch.clamp(torch.bmm(weights, mask.reshape(batch, length, 1)).reshape(batch, 1), min=1.0)
        return hidden, torch.bmm(weights, attention).reshape(batch, s) / count

    # ------------------------------------------------------------------------------------------ write
    def write(self, pooled: torch.Tensor, mask: torch.Tensor, state: dict[str, torch.Tensor], attention: torch.Tensor,
              write: torch.Tensor) -> dict[str, torch.Tensor]:
        """The next state after storing each row's item (``pooled`` [B, 2D]) where ``write`` [B] is 1."""
        batch, length = mask.shape
        keys, values, valid, usage, cursor = (state[name] for name in STATE)
        tokens = torch.clamp(torch.bmm(mask.reshape(batch, 1, length), mask.reshape(batch, length, 1)), max=1.0)
        w = write.reshape(batch, 1) * tokens.reshape(batch, 1)  # rows that write (never one without tokens)
        key = self._normalise(self.key(pooled))
        value = self.value(pooled)
        usage = usage + w * attention

        # short-term ring: the slot under the cursor, then the cursor moves on
        keys, values, valid, usage = _store(keys, values, valid, usage, w * cursor, key, value)
        cursor = w * F.linear(cursor, self.advance) + (1.0 - w) * cursor

        # long-term, when novel against what long-term and persistent memory hold (the keys before this call)
        stored = state["valid"] * (self.long_term + self.persistent)
        novel = self._below(self.threshold_ltm, self._max_cosine(state["keys"], stored, key))
        slot = self._first_max(-(valid * (1.0 + usage)) * self.long_term - MASKED * (1.0 - self.long_term))
        keys, values, valid, usage = _store(keys, values, valid, usage, (w * novel) * slot, key, value)

        # persistent: consolidate the most used long-term item once its use reaches PROMOTE_USE
        used = valid * self.long_term
        candidate = self._first_max(usage * used - MASKED * (1.0 - used))
        use = F.linear(candidate * usage, self.ones_slots)
        ready = w * (1.0 - self._below(PROMOTE_USE, use)) * F.linear(candidate * used, self.ones_slots)
        candidate_key = torch.bmm(candidate.reshape(batch, 1, self.slots), keys).reshape(batch, self.dim)
        candidate_value = torch.bmm(candidate.reshape(batch, 1, self.slots), values).reshape(batch, self.dim)
        novel_pm = self._below(self.threshold_pm, self._max_cosine(keys, valid * self.persistent, candidate_key))
        slot = self._first_max(-(valid * (1.0 + usage)) * self.persistent - MASKED * (1.0 - self.persistent))
        keys, values, valid, usage = _store(keys, values, valid, usage, (ready * novel_pm) * slot,
                                            candidate_key, candidate_value)
        usage = usage * (1.0 - ready * candidate)  # its use is consolidated (or already held): count afresh
        return {"keys": keys, "values": values, "valid": valid, "usage": usage, "cursor": cursor}

    # ------------------------------------------------------------------------------------------ helpers
    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(F.linear(x * x, self.ones_dim) + EPS)

    def _max_cosine(self, keys: torch.Tensor, among: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """[B, 1]: the highest cosine of ``key`` [B, M] to the ``keys`` [B, S, M] where ``among`` [B, S] is 1
        (-4, below any cosine, when there are none)."""
        batch = key.shape[0]
        cosine = torch.bmm(keys, key.reshape(batch, self.dim, 1)).reshape(batch, self.slots)
        score = cosine * among - 4.0 * (1.0 - among)
        return F.linear(self._first_max(score) * score, self.ones_slots)

    def _first_max(self, score: torch.Tensor) -> torch.Tensor:
        """[B, S] one-hot of the highest score (the lowest index among equals), in delegated ops only."""
        batch, s = score.shape
        difference = score.reshape(batch, 1, s) - score.reshape(batch, s, 1)  # [b, e, j] = score_j - score_e
        above = torch.ceil(torch.clamp(difference, 0.0, 1.0))
        below = torch.ceil(torch.clamp(-difference, 0.0, 1.0))
        ahead = above + (1.0 - above - below) * self.earlier  # slot j beats slot e
        rank = F.linear(ahead, self.ones_slots).reshape(batch, s)
        return torch.clamp(1.0 - rank, 0.0, 1.0)

    @staticmethod
    def _below(threshold: float, x: torch.Tensor) -> torch.Tensor:
        """1 where ``x < threshold``, else 0 (exact: ceil of a positive difference clamped to [0, 1])."""
        return torch.ceil(torch.clamp(threshold - x, 0.0, 1.0))


def _store(keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor, usage: torch.Tensor, where: torch.Tensor,
           key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Write (key, value) into the slots where ``where`` [B, S] is 1 (at most one per row); their use restarts."""
    batch, s = where.shape
    spot = where.reshape(batch, s, 1)
    keep = 1.0 - where
    return (keys * (1.0 - spot) + spot * key.reshape(batch, 1, -1),
            values * (1.0 - spot) + spot * value.reshape(batch, 1, -1),
            valid * keep + where, usage * keep)
