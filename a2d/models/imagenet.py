"""Env2 ImageNet: torchvision's ResNet-101, BL4's (Dissector's) target model.

The network is built without weights; they come from a file the user gives
(``models.imagenet_resnet101.pretrained``, loaded by :func:`a2d.models.load_pretrained`), and
nothing is ever downloaded at run time. The paper's top-1 of 77.36% is torchvision's
``IMAGENET1K_V1`` weights (``resnet101-63fe2227.pth``; ``V2`` reaches 81.9%).

References:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition, CVPR 2016; Wang et al.
    Dissector, ICSE 2020 (``models/pretrained/resnet.py``: torchvision's model); paper Appendix A.
"""

from __future__ import annotations

from torch import nn

TORCHVISION_V1_SHA256_PREFIX = "63fe2227"
"""The start of the sha256 of torchvision's ``resnet101-63fe2227.pth`` (IMAGENET1K_V1), which
torchvision writes into the file name."""


def imagenet_resnet101() -> nn.Module:
    """torchvision's ResNet-101 (1000 classes), randomly initialised: load weights from a file.

    Input: (N, 3, 224, 224) *normalised* with the ImageNet mean and std (the wrapper's job).
    Output: (N, 1000) logits.
    """
    from torchvision.models import resnet101

    return resnet101(weights=None)
