"""The NeuroLite model in PyTorch: Bloom projection, all-MLP backbones, classification head."""

from neurolite_sdk.modeling.model import NeuroLiteForClassification, NeuroLiteModel, count_parameters

__all__ = ["NeuroLiteModel", "NeuroLiteForClassification", "count_parameters"]
