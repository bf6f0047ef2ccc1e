"""PredicateHead: scoring a fixed vocabulary of predicates for the rule engine.

The rules file's ``model.predicates`` (``neurolite_sdk/reasoning/model_facts.py``) names P predicates,
each a kind of thing an utterance can mention (a time, a place, a party size). The head reads the
backbone's hidden states token by token, so a predicate can fire on one local cue whatever surrounds
it, and pools each predicate's token scores by a masked max: the text has the predicate when some
token carries it. The exported graph returns the sigmoid of that maximum as ``predicates`` float32
[batch, P] beside ``logits``; the host turns scores at or above the rules file's threshold into facts
(``runtime/postprocess.py``). Training supervises it with the cues' weak labels (binary cross-entropy),
and what it adds beyond the cues themselves is measured on SNIPS (``examples/symbolic_reasoning_example.py``).

Written like ``masked_mean_max``: a ``linear`` per token, the max over a 4-D tensor with ``keepdim``
and reshapes, so every format converts it and XNNPACK takes it whole. Padding never changes a real
row's scores; a row with no real token scores 0 for every predicate.

``NeuralSymbolicLayer``, the seed's name for it, stays as an alias (same class, same state-dict keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurolite_sdk.modeling.layers import ChannelNorm

PADDING_OFFSET = 1e4  # pushed onto padded tokens' logits so they never win the max
PRIOR_LOGIT = -2.0  # sigmoid(-2) = 0.12, about how often a cue holds


class PredicateHead(nn.Module):
    """hidden [B, L, D], mask [B, L] -> predicate logits [B, P] (``forward``) or scores (``scores``)."""

    def __init__(self, hidden_size: int, predicates: list[str], eps: float = 1e-5, dropout: float = 0.0) -> None:
        super().__init__()
        if not predicates:
            raise ValueError("predicates: the head needs at least one predicate")
        self.predicates = tuple(predicates)
        self.norm = ChannelNorm(hidden_size, eps)
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, len(predicates))
        # Cues are rare (most predicates hold for a tenth of texts or less): start near that prior, not at 0.5.
        nn.init.constant_(self.out.bias, PRIOR_LOGIT)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden.shape
        tokens = self.out(self.dropout(F.gelu(self.hidden(self.norm(hidden)))))  # [B, L, P]
        width = tokens.shape[-1]
        offset = (mask.reshape(batch, length, 1) - 1.0) * PADDING_OFFSET
        best = torch.max((tokens + offset).reshape(batch, 1, length, width), dim=2, keepdim=True).values
        # A row without tokens maxes over padding only (about -1e4): its scores are 0, not noise.
        return best.reshape(batch, width)

    def scores(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(hidden, mask))


def predicate_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over predicates, averaged over the batch.

    Summed, not averaged, over the P predicates: each is its own yes/no task and should pull as hard
    as the intent's cross-entropy does; the mean over P (most of them negative for any one text)
    shrank the head's gradient P-fold, and it learned nothing in a short run (measured on SNIPS).
    """
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / logits.shape[0]


NeuralSymbolicLayer = PredicateHead  # the seed's name (checkpoints and code that import it keep working)
