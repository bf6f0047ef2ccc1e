"""Mixture-of-experts routing (issue 17): config checks, the top-k selection the graph computes, padding
and batch invariance on real text, a gate that learns, and the defaults that leave old models alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurolite_sdk.config import ConfigError, NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.modeling.routing import MoEFeedForward, expert_utilization, routing_loss
from neurolite_sdk.public_data import data_path

ROUTED = dict(num_buckets=1024, embedding_dim=32, hidden_size=48, num_mixer_layers=2, max_length=32,
              token_mixing_dim=16, channel_mixing_dim=64, use_dynamic_routing=True, num_experts=4, routing_top_k=2)


def sst2_texts(n: int) -> list[str]:
    lines = data_path("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:n + 1]
    return [line.split("\t")[0] for line in lines]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("routing_top_k", 5, "routing_top_k: must be <= num_experts=4, got 5"),
    ("num_experts", 0, "num_experts: must be a positive integer, got 0"),
    ("routing_balance_weight", -0.1, "routing_balance_weight: must be >= 0"),
    ("continual_adapter_drift_threshold", 1.5, "continual_adapter_drift_threshold: must be in [0, 1], got 1.5"),
    ("continual_adapter_rate", -0.2, "continual_adapter_rate: must be in [0, 1], got -0.2"),
])
def test_bad_routing_and_adapter_fields(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        NeuroLiteConfig(**{field: value})


def test_defaults_leave_config_json_and_weights_unchanged() -> None:
    config = NeuroLiteConfig.tiny()
    data = json.loads(config.to_json())
    assert not {k for k in data if "routing" in k or "expert" in k or "continual" in k}
    names = set(NeuroLiteForClassification(config).state_dict())
    assert not [n for n in names if "gate" in n or "adapter" in n or "expert" in n]
    routed = NeuroLiteConfig.tiny(use_dynamic_routing=True, routing_top_k=1)
    assert json.loads(routed.to_json())["routing_top_k"] == 1
    # a feature that is on writes all of its fields, defaults included: later defaults cannot change it
    written = json.loads(NeuroLiteConfig.tiny(use_continual_adapter=True).to_json())
    assert written["continual_adapter_dim"] == 128 and "num_experts" not in written
    assert NeuroLiteConfig.from_json(routed.to_json()) == routed


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_selection_matches_topk(top_k: int) -> None:
    torch.manual_seed(0)
    layer = MoEFeedForward(16, 8, 5, top_k)
    x = torch.randn(7, 11, 16)
    weights, keep, probs = layer.route(x)
    expected = torch.zeros_like(keep).scatter(-1, layer.gate(x).topk(top_k, dim=-1).indices, 1.0)
    assert torch.equal(keep, expected)
    assert torch.allclose(weights.sum(-1), torch.ones(7, 11), atol=1e-6)
    assert torch.equal(weights > 0, keep > 0)
    # exact ties (a zero gate) are broken by expert index, still exactly k per token
    torch.nn.init.zeros_(layer.gate.weight), torch.nn.init.zeros_(layer.gate.bias)
    _, keep, _ = layer.route(x)
    assert torch.equal(keep.sum(-1), torch.full((7, 11), float(top_k)))
    assert torch.equal(keep[0, 0], torch.tensor([1.0] * top_k + [0.0] * (5 - top_k)))


def test_padding_and_batch_invariance_on_sst2() -> None:
    torch.manual_seed(0)
    model = NeuroLiteForClassification(NeuroLiteConfig(**ROUTED)).eval()
    texts = sst2_texts(12)
    features, mask = model.neurolite.featurize(texts)
    assert int(mask.sum(1).min()) < ROUTED["max_length"] // 2 < features.shape[1]  # real padding in the batch
    with torch.no_grad():
        together = model(features, mask)["logits"]
        for i, text in enumerate(texts):
            alone_f, alone_m = model.neurolite.featurize([text])
            alone = model(alone_f, alone_m)["logits"]
            assert torch.allclose(alone[0], together[i], atol=1e-5)
            # more padding than the batch needed changes nothing
            extra = ROUTED["max_length"] - alone_f.shape[1]
            padded_f = torch.nn.functional.pad(alone_f, (0, 0, 0, extra))
            padded_m = torch.nn.functional.pad(alone_m, (0, extra))
            assert torch.allclose(model(padded_f, padded_m)["logits"][0], alone[0], atol=1e-5)


def test_gate_learns_from_task_and_balance_loss() -> None:
    """The seed's router got no gradient: here both the task loss and the balance loss reach the gate,
    and the balance loss counts real tokens only."""
    torch.manual_seed(0)
    model = NeuroLiteForClassification(NeuroLiteConfig(**{**ROUTED, "dropout": 0.0}))  # train mode, same draw
    model.train()
    features, mask = model.neurolite.featurize(sst2_texts(16))
    output = model(features, mask, labels=torch.tensor([0, 1] * 8))
    balance = routing_loss(model)
    assert balance is not None and 0.99 < float(balance) < 4.0  # 1.0 is perfectly balanced, E the worst
    assert routing_loss(model) is None  # consumed
    gates = [block.channel_mixing.gate.weight for block in model.neurolite.blocks]
    grads = torch.autograd.grad(output["loss"], gates, retain_graph=True)
    assert all(g.abs().sum() > 0 for g in grads)
    grads = torch.autograd.grad(balance, gates)
    assert all(g.abs().sum() > 0 for g in grads)
    # padding rows do not enter the balance loss
    extra = ROUTED["max_length"] - features.shape[1]
    model(torch.nn.functional.pad(features, (0, 0, 0, extra), value=3), torch.nn.functional.pad(mask, (0, extra)))
    assert torch.allclose(routing_loss(model), balance, atol=1e-6)


def test_utilization_counts_real_tokens() -> None:
    torch.manual_seed(0)
    model = NeuroLiteForClassification(NeuroLiteConfig(**ROUTED))
    features, mask = model.neurolite.featurize(sst2_texts(40))
    shares = expert_utilization(model, [(features, mask)])
    assert len(shares) == 2 and all(abs(sum(layer) - 1.0) < 1e-9 for layer in shares)
    # by hand for the first layer: the selection of every real token
    with torch.no_grad():
        hidden = model.neurolite.positional(model.neurolite.projection(features))
        block = model.neurolite.blocks[0]
        hidden = hidden + block.token_mixing(block.token_norm(hidden), mask)
        _, keep, _ = block.channel_mixing.route(block.channel_norm(hidden))
    counts = keep[mask > 0].sum(0).double()
    np.testing.assert_allclose(shares[0], (counts / counts.sum()).numpy(), atol=1e-9)


def test_routed_model_starts_from_the_pretrained_dense_encoder() -> None:
    """`--init auto` on a routed `tiny` (it crashed on the experts' shapes): every expert starts as the
    shipped encoder's dense channel MLP, so the routed encoder computes exactly what the dense one does,
    whatever the gate picks; the gates keep their own initial weights."""
    from neurolite_sdk.training.pretrain import SHIPPED, load_encoder

    torch.manual_seed(0)
    dense = NeuroLiteForClassification(NeuroLiteConfig.tiny(), num_labels=2).eval()
    routed_config = NeuroLiteConfig.tiny(use_dynamic_routing=True, num_experts=4, routing_top_k=2)
    routed = NeuroLiteForClassification(routed_config, num_labels=2).eval()
    gates = [block.channel_mixing.gate.weight.detach().clone() for block in routed.neurolite.blocks]
    load_encoder(dense, SHIPPED / "tiny")
    load_encoder(routed, SHIPPED / "tiny")
    blocks = routed.neurolite.blocks
    assert all(torch.equal(g, block.channel_mixing.gate.weight) for g, block in zip(gates, blocks, strict=True))
    features, mask = dense.neurolite.featurize(sst2_texts(16))
    with torch.no_grad():
        expected, got = dense.neurolite(features, mask), routed.neurolite(features, mask)
    assert got.abs().max() > 0.1 and torch.allclose(got, expected, atol=1e-5)
    experts = routed.neurolite.blocks[0].channel_mixing
    assert torch.equal(experts.fc1.weight[:experts.hidden], dense.neurolite.blocks[0].channel_mixing.fc1.weight)
