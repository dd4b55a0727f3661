"""Architecture registry: config names -> network factories (RobustBench style)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from torch import nn

from a2d.errors import ConfigError
from a2d.models.env1 import Env1Cifar10ConvNet, Env1MnistCNN
from a2d.models.env2 import Env2MnistLeNet5
from a2d.models.googlenet import Env2Cifar10GoogLeNet
from a2d.models.imagenet import imagenet_resnet101
from a2d.models.wrapper import ClassifierWrapper


@dataclass(frozen=True)
class Architecture:
    """A named network: how to build it and what it expects."""

    factory: Callable[[], nn.Module]
    input_shape: tuple[int, int, int]
    num_classes: int
    description: str


ARCHITECTURES: dict[str, Architecture] = {
    "env1_mnist_cnn": Architecture(Env1MnistCNN, (1, 28, 28), 10, "BL1 MNIST CNN (Env1)"),
    "env1_cifar10_convnet": Architecture(
        Env1Cifar10ConvNet, (3, 32, 32), 10, "BL1 CIFAR-10 12-layer convnet (Env1)"
    ),
    "env2_mnist_lenet5": Architecture(Env2MnistLeNet5, (1, 28, 28), 10, "BL3 LeNet-5 (Env2)"),
    "env2_cifar10_googlenet": Architecture(
        Env2Cifar10GoogLeNet, (3, 32, 32), 10, "BL3 CIFAR-10 GoogLeNet (Env2)"
    ),
    # the CPU substitute (conf/googlenet/cpu.yaml): every channel count x 1/4
    "env2_cifar10_googlenet_quarter": Architecture(
        partial(Env2Cifar10GoogLeNet, width=0.25),
        (3, 32, 32),
        10,
        "BL3 CIFAR-10 GoogLeNet at 1/4 width (Env2, CPU substitute)",
    ),
    "imagenet_resnet101": Architecture(
        imagenet_resnet101, (3, 224, 224), 1000, "torchvision ResNet-101 (Env2 ImageNet, BL4)"
    ),
}


def build_network(arch: str) -> nn.Module:
    """A freshly initialised network by registry name."""
    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"unknown architecture {arch!r}; valid: {', '.join(sorted(ARCHITECTURES))}"
        )
    return ARCHITECTURES[arch].factory()


def build_target(
    arch: str, *, normalize: bool, mean: Sequence[float], std: Sequence[float]
) -> ClassifierWrapper:
    """A wrapped model for a config target: normalisation inside only when the target asks for it."""
    return build_model(arch, mean=mean, std=std) if normalize else build_model(arch)


def build_model(
    arch: str, *, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> ClassifierWrapper:
    """A wrapped, freshly initialised model; pass ``mean``/``std`` to normalise inside the model."""
    return ClassifierWrapper(build_network(arch), mean=mean, std=std)
