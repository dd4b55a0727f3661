"""Env2 CIFAR-10: BL3's GoogLeNet (the common CIFAR-10 variant of Szegedy et al.'s Inception net).

References:
    Szegedy et al. Going Deeper with Convolutions, CVPR 2015. Wang, Dong, Sun, Wang, Zhang.
    Adversarial Sample Detection for Deep Neural Network through Model Mutation Testing,
    ICSE 2019 (dgl-prc/m_testing_adversatial_sample ``models/googlenet.py``, the widely copied
    CIFAR-10 port); spec/baselines.md section 3.

Notes:
    * Module names (``pre_layers``, ``a3`` ... ``b5``, ``linear``; ``b1`` ... ``b4`` inside a
      block) follow the CIFAR port, so a state dict saved from it loads as is.
    * ``width`` scales every channel count (the CPU substitute, conf/googlenet/cpu.yaml); at
      ``width=1`` the network is the paper's, 6.2M parameters and about 1.5 GFLOPs per image.
"""

from __future__ import annotations

import torch
from torch import nn

# (in-channels from the previous layer are implied) 1x1, 3x3-reduce, 3x3, 5x5-reduce, 5x5, pool-proj
_BLOCKS: tuple[tuple[str, tuple[int, int, int, int, int, int]], ...] = (
    ("a3", (64, 96, 128, 16, 32, 32)),
    ("b3", (128, 128, 192, 32, 96, 64)),
    ("a4", (192, 96, 208, 16, 48, 64)),
    ("b4", (160, 112, 224, 24, 64, 64)),
    ("c4", (128, 128, 256, 24, 64, 64)),
    ("d4", (112, 144, 288, 32, 64, 64)),
    ("e4", (256, 160, 320, 32, 128, 128)),
    ("a5", (256, 160, 320, 32, 128, 128)),
    ("b5", (384, 192, 384, 48, 128, 128)),
)
_STEM = 192
_POOL_AFTER = ("b3", "e4")  # max-pool 3/2 after these blocks: 32 -> 16 -> 8


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(True),
    ]


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: 1x1; 1x1->3x3; 1x1->3x3->3x3; pool->1x1.

    The "5x5" branch is two stacked 3x3 convolutions, as in the CIFAR port.
    """

    def __init__(
        self, in_ch: int, n1: int, n3_reduce: int, n3: int, n5_reduce: int, n5: int, pool: int
    ) -> None:
        super().__init__()
        self.b1 = nn.Sequential(*_conv_bn_relu(in_ch, n1, 1))
        self.b2 = nn.Sequential(
            *_conv_bn_relu(in_ch, n3_reduce, 1), *_conv_bn_relu(n3_reduce, n3, 3)
        )
        self.b3 = nn.Sequential(
            *_conv_bn_relu(in_ch, n5_reduce, 1),
            *_conv_bn_relu(n5_reduce, n5, 3),
            *_conv_bn_relu(n5, n5, 3),
        )
        self.b4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), *_conv_bn_relu(in_ch, pool, 1)
        )
        self.out_channels = n1 + n3 + n5 + pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class Env2Cifar10GoogLeNet(nn.Module):
    """BL3's CIFAR-10 GoogLeNet. Input: (N, 3, 32, 32) *normalised*. Output: (N, 10) logits.

    Args:
        width: multiplier of every channel count (default 1.0, the paper's network); each
            count is rounded and kept >= 1. 0.25 is the CPU substitute (about 1/14 the FLOPs).
        num_classes: outputs of the final linear layer.

    Stem conv 3x3 (192) + BN + ReLU; inception blocks a3, b3, max-pool, a4 ... e4, max-pool,
    a5, b5; 8x8 average pool; linear 1024 -> 10 (at width 1).
    """

    def __init__(self, *, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be > 0, got {width}")
        self.width = width

        def scaled(n: int) -> int:
            return max(1, round(n * width))

        channels = scaled(_STEM)
        self.pre_layers = nn.Sequential(*_conv_bn_relu(3, channels, 3))
        for name, sizes in _BLOCKS:
            block = Inception(channels, *(scaled(n) for n in sizes))
            setattr(self, name, block)
            channels = block.out_channels
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avgpool = nn.AvgPool2d(8, stride=1)
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_layers(x)
        for name, _ in _BLOCKS:
            x = getattr(self, name)(x)
            if name in _POOL_AFTER:
                x = self.maxpool(x)
        return self.linear(torch.flatten(self.avgpool(x), 1))
