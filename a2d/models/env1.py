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


def keras_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, as Keras initialises Dense and Conv2D layers."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Env1MnistCNN(nn.Module):
    """BL1's MNIST CNN (the paper calls it "LeNet"): two 3x3 valid convs, pool, two dense layers.

    Input: (N, 1, 28, 28) in [0, 1]. Output: (N, 10) logits.
    """

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.dense1(torch.flatten(self.features(x), 1)))
        return self.logits(self.dropout(hidden))


def _conv_pair(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(out_ch, out_ch, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]


class Env1Cifar10ConvNet(nn.Module):
    """BL1's CIFAR-10 "deep 12-layer convnet": 3 pairs of 3x3 same convs, then 1024-512-10 dense.

    Input: (N, 3, 32, 32) in [0, 1]. Output: (N, 10) logits. ``dense1`` and ``dense2`` carry the
    Keras ``l2(0.01)`` penalty (applied by the trainer, see ``TrainConfig.l2_layers``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_conv_pair(3, 32), *_conv_pair(32, 64), *_conv_pair(64, 128))
        self.dropout = nn.Dropout(0.5)
        self.dense1 = nn.Linear(4 * 4 * 128, 1024)
        self.dense2 = nn.Linear(1024, 512)
        self.logits = nn.Linear(512, 10)
        keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(torch.flatten(self.features(x), 1))
        hidden = self.dropout(torch.relu(self.dense1(hidden)))
        hidden = self.dropout(torch.relu(self.dense2(hidden)))
        return self.logits(hidden)
