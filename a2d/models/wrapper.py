"""The one model wrapper: [0, 1] inputs, normalisation inside, logits out, explicit bounds."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import torch
from torch import nn

from a2d.errors import DataError
from a2d.models.layered import LayeredNet, hooked_layer_outputs
from a2d.utils.io import atomic_path


class ClassifierWrapper(nn.Module):
    """Wrap a logits network so that callers always feed pixels in ``bounds``.

    Args:
        net: any ``nn.Module`` mapping (N, C, H, W) to (N, num_classes) logits.
        mean, std: per-channel normalisation applied inside ``forward`` (``None`` = identity).
        bounds: the input box callers (and attacks) must stay in; default (0, 1).

    Attacks, cost attacks and CLEVER work in pixel space; an epsilon given in normalised units
    (Env2) must be converted by the caller with :attr:`std`.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        bounds: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.net = net
        self.bounds = bounds
        self.normalized = mean is not None
        shape = (1, -1, 1, 1)
        self.register_buffer(
            "mean", torch.tensor(mean if mean is not None else [0.0]).view(shape), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(std if std is not None else [1.0]).view(shape), persistent=False
        )

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """What the inner network sees for pixels ``x``: normalised when the model normalises."""
        return (x - self.mean) / self.std if self.normalized else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(x))

    def layer_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output for ``x`` in [0, 1], by layer name, in forward order.

        ``"input"`` is what the network sees (after normalisation); the last entry is the
        logits. Uses :meth:`LayeredNet.layer_outputs` when the network is one (every Keras
        layer, including ReLU/flatten/dropout), else forward hooks on its leaf modules. Runs
        in the current mode: call ``eval()`` first for deterministic outputs.
        """
        x = self.preprocess(x)
        if isinstance(self.net, LayeredNet):
            return self.net.layer_outputs(x)
        return hooked_layer_outputs(self.net, x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted labels, in eval mode and in batches (restores the previous mode)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            preds = [
                self(x[i : i + batch_size].to(device)).argmax(1).cpu()
                for i in range(0, len(x), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def save_weights(model: ClassifierWrapper, path: str | os.PathLike[str]) -> None:
    """Save the inner network's state_dict atomically (CPU tensors, so files are device-free)."""
    state = {
        key: value.detach().cpu().contiguous() for key, value in model.net.state_dict().items()
    }
    # torch.save names the zip archive after the file; saving through a buffer keeps the bytes
    # (and so the file hash) a function of the weights only, whatever the output path.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_weights(model: ClassifierWrapper, path: str | os.PathLike[str]) -> ClassifierWrapper:
    """Load a state_dict written by :func:`save_weights` into ``model.net``; eval mode."""
    if not os.path.isfile(path):
        raise DataError(
            f"no model weights at '{path}'; run `dvc repro model` (or `make models`) first"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.net.load_state_dict(state)
    return model.eval()
