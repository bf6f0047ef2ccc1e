"""Mixture-of-experts channel mixing (``config.use_dynamic_routing``): a learned gate picks the top-k of
``num_experts`` feed-forward experts per token, trained with the Switch Transformer load-balancing loss.

Export: the exported graph has static shapes, so dispatch is dense. Every expert runs on every token as
one wide ``linear`` (``fc1``: D -> E·H), the gate weights (zero outside the token's top k) scale each
expert's hidden block, and one ``linear`` (``fc2``: E·H -> D) sums the experts. The top-k selection is
written in ops every format runs and XNNPACK delegates, without ``topk``, ``sort`` or comparisons:

    rank_e = Σ_j ceil(clamp(s_j - s_e, 0, 1))          (how many experts score strictly higher)
    keep_e = clamp(k - rank_e, 0, 1)                   (1 for the k best, else 0; exact on integers)

where ``s`` is the gate logits plus a fixed offset of -1e-6·e that breaks exact ties by expert index (the
offset is part of the graph, so PyTorch and every export break ties the same way). The sums over
experts are ``linear`` products with a constant row of ones (``sum`` over one dim is not delegated).

Padding: experts act token by token, so a real token's output never depends on padding; the balance
loss and the utilization count real tokens only.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

TIE_BREAK = 1e-6


class MoEFeedForward(nn.Module):
    """``num_experts`` Linear -> GELU -> Linear experts behind a top-k gate; ``forward(x [.., D])``."""

    def __init__(self, dim: int, hidden: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"routing_top_k: must be in [1, num_experts={num_experts}], got {top_k}")
        self.num_experts, self.top_k, self.hidden = num_experts, top_k, hidden
        self.gate = nn.Linear(dim, num_experts)
        self.fc1 = nn.Linear(dim, num_experts * hidden)
        self.fc2 = nn.Linear(num_experts * hidden, dim, bias=False)
        self.expert_bias = nn.Parameter(torch.zeros(dim, num_experts))  # expert e's output bias: column e
        self.register_buffer("ones", torch.ones(1, num_experts), persistent=False)
        self.register_buffer("tie_break", -TIE_BREAK * torch.arange(num_experts, dtype=torch.float32),
                             persistent=False)
        self.balance_loss: torch.Tensor | None = None  # set by a training forward that was given the mask

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weights, keep, probs), each [.., E]: renormalised gate weights over the token's top k (zero
        elsewhere), the 0/1 selection, and the full softmax of the gate."""
        logits = self.gate(x)
        probs = torch.softmax(logits, dim=-1)
        score = logits + self.tie_break
        lead, experts = score.shape[:-1], self.num_experts  # reshape, not unsqueeze: XNNPACK delegates it
        higher = torch.ceil(torch.clamp(score.reshape(*lead, 1, experts) - score.reshape(*lead, experts, 1),
                                        0.0, 1.0))  # [.., e, j]: 1 where expert j scores above expert e
        rank = F.linear(higher, self.ones).reshape(score.shape)
        keep = torch.clamp(self.top_k - rank, 0.0, 1.0)
        chosen = probs * keep
        weights = chosen / F.linear(chosen, self.ones)
        return weights, keep, probs

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        weights, keep, probs = self.route(x)
        hidden = F.gelu(self.fc1(x))
        shape = hidden.shape[:-1]
        hidden = hidden.reshape(*shape, self.num_experts, self.hidden) * weights.reshape(*shape, self.num_experts, 1)
        out = self.fc2(hidden.reshape(*shape, self.num_experts * self.hidden)) + F.linear(weights, self.expert_bias)
        if self.training and mask is not None:
            self.balance_loss = balance_loss(keep, probs, mask, self.top_k)
        return out


def upcycle_experts(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """``state``, a dense encoder's weights, fitted to ``module`` whose channel MLPs are routed.

    Sparse upcycling (Komatsuzaki et al. 2022, "Sparse Upcycling: Training Mixture-of-Experts from Dense
    Checkpoints"): every expert of a ``MoEFeedForward`` starts as the dense ``FeedForward`` it replaces
    (``fc1`` rows and ``fc2`` columns tiled, the dense output bias in each column of ``expert_bias``),
    the gate keeps ``module``'s own initial weights. The top-k weights sum to 1, so at the start the
    routed layer computes the dense MLP exactly; the experts drift apart as each learns from the tokens
    it is given. Keys of every other layer pass through unchanged (strict loading reports what differs).
    """
    fitted, own = dict(state), module.state_dict()
    for name, layer in module.named_modules():
        prefix = f"{name}." if name else ""
        dense = [prefix + key for key in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")]
        if (not isinstance(layer, MoEFeedForward) or not all(key in state for key in dense)
                or prefix + "gate.weight" in state or state[dense[1]].shape != (layer.hidden,)):
            continue
        w1, b1, w2, b2 = (fitted.pop(key) for key in dense)
        experts = layer.num_experts
        fitted[prefix + "fc1.weight"] = w1.repeat(experts, 1)
        fitted[prefix + "fc1.bias"] = b1.repeat(experts)
        fitted[prefix + "fc2.weight"] = w2.repeat(1, experts)
        fitted[prefix + "expert_bias"] = b2[:, None].repeat(1, experts)
        fitted[prefix + "gate.weight"] = own[prefix + "gate.weight"].clone()
        fitted[prefix + "gate.bias"] = own[prefix + "gate.bias"].clone()
    return fitted


def balance_loss(keep: torch.Tensor, probs: torch.Tensor, mask: torch.Tensor, top_k: int) -> torch.Tensor:
    """Switch Transformer auxiliary loss E · Σ_e f_e · P_e over real tokens: f_e the share of routing
    slots expert e received, P_e its mean gate probability. 1.0 when routing is uniform."""
    experts = keep.shape[-1]
    weight = mask.reshape(-1, 1)
    tokens = torch.clamp(weight.sum(), min=1.0)
    share = (keep.reshape(-1, experts) * weight).sum(0) / (tokens * top_k)
    mean_prob = (probs.reshape(-1, experts) * weight).sum(0) / tokens
    return experts * (share * mean_prob).sum()


def moe_layers(model: nn.Module) -> list[MoEFeedForward]:
    return [m for m in model.modules() if isinstance(m, MoEFeedForward)]


def routing_loss(model: nn.Module) -> torch.Tensor | None:
    """Mean balance loss of the MoE layers' last training forward (None for a model without routing);
    each layer's stored value is consumed so a later forward cannot reuse it."""
    terms = []
    for layer in moe_layers(model):
        if layer.balance_loss is not None:
            terms.append(layer.balance_loss)
            layer.balance_loss = None
    return torch.stack(terms).mean() if terms else None


@torch.no_grad()
def expert_utilization(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> list[list[float]]:
    """Per MoE layer, the share of routing slots (real tokens x top_k) each expert received.

    ``model`` is a ``NeuroLiteForClassification`` (or anything whose forward takes (features, mask));
    the token mask is captured from the forward's own inputs.
    """
    layers = moe_layers(model)
    counts = [torch.zeros(layer.num_experts, dtype=torch.float64) for layer in layers]
    current: dict[str, torch.Tensor] = {}

    def hook(index: int):
        def record(module: MoEFeedForward, args: tuple, _output: torch.Tensor) -> None:
            _, keep, _ = module.route(args[0])
            counts[index] += (keep * current["mask"].unsqueeze(-1)).reshape(-1, module.num_experts).sum(0).double()
        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        for features, mask in batches:
            current["mask"] = mask
            model(features, mask)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return [(c / c.sum().clamp(min=1)).tolist() for c in counts]
