"""The model: parameter budgets, the seed README's API, padding invariance and torch.export."""

from __future__ import annotations

import pytest
import torch

from neurolite_sdk import NeuroLiteConfig, NeuroLiteForClassification, NeuroLiteModel
from neurolite_sdk.modeling import count_parameters

TEXTS = ["it 's a charming and often affecting journey .", "unflinchingly bleak and desperate",
         "Une architecture légère d'IA.", ""]
BACKBONES = ["mixer", "hypermixer", "fnet"]
POSITIONAL = ["none", "learned", "orbital"]


def tiny(**overrides) -> NeuroLiteConfig:
    return NeuroLiteConfig.tiny(dropout=0.0, **overrides)


@pytest.mark.parametrize(("preset", "budget"), [("tiny", 1.0e6), ("small", 3.5e6), ("base", 9.0e6),
                                                 ("base_symbolic", 9.0e6)])
def test_preset_parameter_budget(preset: str, budget: float) -> None:
    model = NeuroLiteForClassification(NeuroLiteConfig.from_preset(preset), num_labels=2)
    count = count_parameters(model)
    assert 0.6 * budget < count <= budget, f"{preset}: {count:,} parameters"


def test_seed_readme_usage() -> None:
    torch.manual_seed(0)
    model = NeuroLiteModel(NeuroLiteConfig.tiny()).eval()
    outputs = model(input_texts=["NeuroLite est une architecture légère d'IA."])
    assert outputs.shape[0] == 1 and outputs.shape[2] == model.config.hidden_size
    embedding = outputs.mean(dim=1)
    assert embedding.shape == (1, model.config.hidden_size)
    classifier = NeuroLiteForClassification(NeuroLiteConfig.small(), num_labels=2).eval()
    prediction = classifier(input_texts=["Texte à classifier"])["logits"].argmax(dim=1)
    assert prediction.shape == (1,)
    as_dict = model(input_texts=TEXTS, return_dict=True)
    assert as_dict["pooled"].shape == (len(TEXTS), 2 * model.config.hidden_size)


def test_loss_when_labels_given() -> None:
    model = NeuroLiteForClassification(tiny(), num_labels=3)
    out = model(input_texts=TEXTS[:2], labels=torch.tensor([0, 2]))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert model.neurolite.projection.table.grad is not None


@pytest.mark.parametrize("positional", POSITIONAL)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_padding_never_changes_real_token_outputs(backbone: str, positional: str) -> None:
    torch.manual_seed(0)
    model = NeuroLiteModel(tiny(backbone=backbone, positional=positional)).eval()
    batch = model.featurizer(TEXTS)
    longer = model.featurizer(TEXTS, pad_to=model.config.max_length)
    with torch.no_grad():
        short = model(torch.from_numpy(batch.features), torch.from_numpy(batch.mask), return_dict=True)
        padded = model(torch.from_numpy(longer.features), torch.from_numpy(longer.mask), return_dict=True)
        alone = [model(input_texts=[t], return_dict=True) for t in TEXTS]
    width = batch.features.shape[1]
    torch.testing.assert_close(padded["hidden_states"][:, :width], short["hidden_states"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded["pooled"], short["pooled"], atol=1e-5, rtol=1e-5)
    for i, single in enumerate(alone):  # batched with others == on its own
        torch.testing.assert_close(single["pooled"][0], short["pooled"][i], atol=1e-5, rtol=1e-5)
    # Padded positions are zero in the returned hidden states.
    assert torch.all(padded["hidden_states"][longer.mask == 0] == 0)


def test_garbage_in_padding_is_ignored() -> None:
    torch.manual_seed(0)
    model = NeuroLiteForClassification(tiny(), num_labels=2).eval()
    batch = model.featurizer(TEXTS, pad_to=16)
    features = torch.from_numpy(batch.features)
    noisy = features.clone()
    noisy[torch.from_numpy(batch.mask) == 0] = 1234  # real bucket indices where the mask says padding
    with torch.no_grad():
        clean = model(features, torch.from_numpy(batch.mask))["logits"]
        dirty = model(noisy, torch.from_numpy(batch.mask))["logits"]
    torch.testing.assert_close(clean, dirty)


def test_hypermixer_accepts_every_length_up_to_max() -> None:
    config = tiny(backbone="hypermixer", positional="orbital", max_length=32)
    model = NeuroLiteModel(config).eval()
    for length in (1, 7, 31, 32):
        features = torch.randint(0, config.num_buckets, (2, length, config.num_hashes), dtype=torch.int32)
        assert model(features, torch.ones(2, length)).shape == (2, length, config.hidden_size)


def test_orbital_positions_are_distinct_and_bounded() -> None:
    from neurolite_sdk.modeling.projection import OrbitalPositionalEncoding

    encoding = OrbitalPositionalEncoding(tiny(positional="orbital"))
    codes = encoding.codes
    assert codes.abs().max() <= 1.0
    distances = torch.cdist(codes, codes) + torch.eye(codes.shape[0]) * 10
    assert distances.min() > 1e-2  # every pair of positions is distinguishable


def test_channel_norm_matches_layer_norm() -> None:
    from neurolite_sdk.modeling.layers import ChannelNorm

    norm = ChannelNorm(48)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(3, 5, 48) * 4 + 2
    expected = torch.nn.functional.layer_norm(x, (48,), norm.weight, norm.bias, 1e-5)
    torch.testing.assert_close(norm(x), expected, atol=2e-6, rtol=1e-5)


def test_norms_by_mean_compute_the_same_norm_and_only_inside_the_block() -> None:
    """The LiteRT export's form of every ChannelNorm (statistics by ``mean``): same values, then restored."""
    from neurolite_sdk.modeling.layers import ChannelNorm, norms_by_mean

    model = NeuroLiteModel(tiny())
    norms = [m for m in model.modules() if isinstance(m, ChannelNorm)]
    assert norms and not any(norm.by_mean for norm in norms)
    x = torch.randn(2, 7, norms[0].weight.shape[0]) * 3 + 1
    with norms_by_mean(model):
        assert all(norm.by_mean for norm in norms)
        by_mean = norms[0](x)
    assert not any(norm.by_mean for norm in norms) and "by_mean" not in vars(norms[0])
    torch.testing.assert_close(by_mean, norms[0](x), atol=2e-6, rtol=1e-5)
    assert not torch.equal(by_mean, x)


class _LogitsOnly(torch.nn.Module):
    def __init__(self, model: NeuroLiteForClassification) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(features, mask)["logits"]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_torch_export_has_no_graph_break(backbone: str) -> None:
    torch.manual_seed(0)
    config = tiny(backbone=backbone, positional="orbital", max_length=32)
    model = _LogitsOnly(NeuroLiteForClassification(config, num_labels=2).eval())
    batch = model.model.featurizer(TEXTS, pad_to=12)
    args = (torch.from_numpy(batch.features), torch.from_numpy(batch.mask))
    batch_dim = torch.export.Dim("batch", min=1, max=64)
    length_dim = torch.export.Dim("length", min=1, max=config.max_length)
    program = torch.export.export(model, args, dynamic_shapes=({0: batch_dim, 1: length_dim},
                                                                {0: batch_dim, 1: length_dim}), strict=True)
    exported = program.module()
    with torch.no_grad():
        torch.testing.assert_close(exported(*args), model(*args))
        other = model.model.featurizer(TEXTS[:3], pad_to=config.max_length)
        other_args = (torch.from_numpy(other.features), torch.from_numpy(other.mask))
        torch.testing.assert_close(exported(*other_args), model(*other_args))
