"""The predicate head's name (issue 15, item 2): ``PredicateHead``, the seed's ``NeuralSymbolicLayer`` an alias."""

from __future__ import annotations

import torch

from neurolite_sdk import NeuroLiteConfig, NeuroLiteForClassification
from neurolite_sdk.modeling.symbolic import NeuralSymbolicLayer, PredicateHead


def test_alias_is_the_same_class_with_the_same_weights() -> None:
    assert NeuralSymbolicLayer is PredicateHead and PredicateHead.__name__ == "PredicateHead"
    config = NeuroLiteConfig.tiny()
    config.symbolic_predicates = ["time", "place"]
    model = NeuroLiteForClassification(config, num_labels=2)
    assert isinstance(model.symbolic, PredicateHead)
    keys = {k for k in model.state_dict() if k.startswith("symbolic.")}
    assert keys == {"symbolic.norm.weight", "symbolic.norm.bias", "symbolic.hidden.weight", "symbolic.hidden.bias",
                    "symbolic.out.weight", "symbolic.out.bias"}  # the keys saved checkpoints hold
    head = NeuralSymbolicLayer(16, ["a", "b", "c"])
    scores = head(torch.randn(2, 5, 16), torch.ones(2, 5))
    assert scores.shape == (2, 3)
