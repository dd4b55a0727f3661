"""Env2 models: BL3's (Wang et al., ICSE'19) PyTorch models.

References:
    Wang, Dong, Sun, Wang, Zhang. Adversarial Sample Detection for Deep Neural Network through
    Model Mutation Testing, ICSE 2019 (dgl-prc/m_testing_adversatial_sample, ``models/lenet.py``).

Notes:
    Module names follow BL3's ``MnistNet4`` so that its published state_dict loads as is.
    BL3's forward applies ReLU twice after fc1/fc2; ReLU is idempotent, so once is the same.
"""

from __future__ import annotations

import torch
from torch import nn


class Env2MnistLeNet5(nn.Module):
    """BL3's LeNet-5 ("MnistNet4"). Input: (N, 1, 28, 28) *normalised*. Output: (N, 10) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Sequential(nn.Linear(16 * 5 * 5, 120), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(120, 84), nn.ReLU())
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.flatten(self.conv2(self.conv1(x)), 1)
        return self.fc3(self.fc2(self.fc1(hidden)))
