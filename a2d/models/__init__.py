"""Target models: architectures by name, wrapped once with bounds and input normalisation.

Everything downstream (attacks, costs, CLEVER, detectors) takes a :class:`ClassifierWrapper`
and sees inputs in ``[0, 1]``, whatever the model's own input convention.
"""

from a2d.models.layered import LayeredNet
from a2d.models.pretrained import load_pretrained
from a2d.models.registry import ARCHITECTURES, build_model, build_network, build_target
from a2d.models.targets import load_target
from a2d.models.wrapper import ClassifierWrapper, load_weights, save_weights

__all__ = [
    "ARCHITECTURES",
    "ClassifierWrapper",
    "LayeredNet",
    "build_model",
    "build_target",
    "build_network",
    "load_pretrained",
    "load_target",
    "load_weights",
    "save_weights",
]
