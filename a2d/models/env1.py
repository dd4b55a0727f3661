"""Env1 models: Feinman et al.'s (BL1) Keras models, ported to PyTorch.

References:
    Feinman, Curtin, Shintre, Gardner. Detecting Adversarial Samples from Artifacts, 2017
    (rfeinman/detecting-adversarial-samples, ``detect/util.py::get_model``).

Notes:
    Differences from the Keras original: NCHW instead of NHWC (irrelevant unless weights are
    transferred); the softmax is left out, models return logits. Initialisation follows Keras
    (glorot-uniform weights, zero biases) because the paper's accuracies were reached with it.
"""

from __future__ import annotations

import torch
from torch import nn

from a2d.models.layered import LayeredNet, Step, flatten


def keras_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, as Keras initialises Dense and Conv2D layers."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Env1MnistCNN(LayeredNet):
    """BL1's MNIST CNN (the paper calls it "LeNet"): two 3x3 valid convs, pool, two dense layers.

    Input: (N, 1, 28, 28) in [0, 1]. Output: (N, 10) logits. :meth:`steps` lists Keras' 11
    layers before the softmax (BL2 adds the softmax and the input: 13 LID features).
    """

    last_hidden = "dense1_relu"

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, 3),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.5),
        )
        self.dense1 = nn.Linear(12 * 12 * 64, 128)
        self.dropout = nn.Dropout(0.5)
        self.logits = nn.Linear(128, 10)
        keras_init(self)

    def steps(self) -> list[tuple[str, Step]]:
        conv1, relu1, conv2, relu2, pool, dropout = self.features
        return [
            ("conv1", conv1),
            ("conv1_relu", relu1),
            ("conv2", conv2),
            ("conv2_relu", relu2),
            ("pool", pool),
            ("pool_dropout", dropout),
            ("flatten", flatten),
            ("dense1", self.dense1),
            ("dense1_relu", torch.relu),
            ("dense1_dropout", self.dropout),
            ("logits", self.logits),
        ]


def _conv_pair(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(out_ch, out_ch, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]


class Env1Cifar10ConvNet(LayeredNet):
    """BL1's CIFAR-10 "deep 12-layer convnet": 3 pairs of 3x3 same convs, then 1024-512-10 dense.

    Input: (N, 3, 32, 32) in [0, 1]. Output: (N, 10) logits. ``dense1`` and ``dense2`` carry the
    Keras ``l2(0.01)`` penalty (applied by the trainer, see ``TrainConfig.l2_layers``).
    :meth:`steps` lists Keras' 24 layers before the softmax (26 LID features with it and the input).
    """

    last_hidden = "dense2_relu"

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_conv_pair(3, 32), *_conv_pair(32, 64), *_conv_pair(64, 128))
        self.dropout = nn.Dropout(0.5)
        self.dense1 = nn.Linear(4 * 4 * 128, 1024)
        self.dense2 = nn.Linear(1024, 512)
        self.logits = nn.Linear(512, 10)
        keras_init(self)

    def steps(self) -> list[tuple[str, Step]]:
        names = []
        for block in (1, 2, 3):
            first, second = 2 * block - 1, 2 * block
            names += [f"conv{first}", f"conv{first}_relu", f"conv{second}", f"conv{second}_relu"]
            names.append(f"pool{block}")
        convs: list[tuple[str, Step]] = list(zip(names, self.features, strict=True))
        return convs + [
            ("flatten", flatten),
            ("flatten_dropout", self.dropout),
            ("dense1", self.dense1),
            ("dense1_relu", torch.relu),
            ("dense1_dropout", self.dropout),
            ("dense2", self.dense2),
            ("dense2_relu", torch.relu),
            ("dense2_dropout", self.dropout),
            ("logits", self.logits),
        ]
