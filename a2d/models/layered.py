"""Networks written as an ordered list of named layers, so every layer's output is reachable.

The detection baselines read inside the model: BL1 (kernel density) the last hidden layer, BL2
(LID) the output of *every* Keras layer, including parameter-free ones (ReLU, flatten, dropout)
that PyTorch code usually calls functionally and forward hooks cannot see. A
:class:`LayeredNet` lists its layers once, in :meth:`~LayeredNet.steps`; ``forward`` and
:meth:`~LayeredNet.layer_outputs` both walk that list, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

Step = Callable[[Tensor], Tensor]


def flatten(x: Tensor) -> Tensor:
    """Keras ``Flatten``: keep the batch dimension, flatten the rest."""
    return torch.flatten(x, 1)


class LayeredNet(nn.Module):
    """A network whose forward pass is the fold of :meth:`steps` over the input.

    Subclasses register their modules as usual (the state_dict keys are those attributes) and
    return ``[(name, callable), ...]`` from :meth:`steps`, one entry per Keras layer of the
    original model. :attr:`last_hidden` names the last hidden layer (BL1's ``layers[-4]``: the
    output of the last hidden dense layer after its ReLU).
    """

    last_hidden: ClassVar[str]

    def steps(self) -> list[tuple[str, Step]]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        for _, step in self.steps():
            x = step(x)
        return x

    def layer_outputs(self, x: Tensor) -> dict[str, Tensor]:
        """``{"input": x, <layer name>: output, ...}`` in forward order; the last entry is the logits."""
        outputs = {"input": x}
        for name, step in self.steps():
            x = step(x)
            outputs[name] = x
        return outputs


def hooked_layer_outputs(net: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Layer outputs of any network through forward hooks on its leaf modules.

    The fallback for networks that are not a :class:`LayeredNet`: functional calls
    (``torch.relu``, ``torch.flatten``) are invisible to hooks, and a module called twice
    appears as ``name``, ``name#2``, ...
    """
    outputs: dict[str, Tensor] = {"input": x}

    def record(name: str) -> Callable[[nn.Module, object, Tensor], None]:
        def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
            key, count = name, 1
            while key in outputs:
                count += 1
                key = f"{name}#{count}"
            outputs[key] = output

        return hook

    leaves = [(n, m) for n, m in net.named_modules() if n and not any(m.children())]
    handles = [module.register_forward_hook(record(name)) for name, module in leaves]
    try:
        outputs["output"] = net(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs
