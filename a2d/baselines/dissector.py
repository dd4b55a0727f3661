"""BL4: Dissector (Wang et al., ICSE'20), Env2 ImageNet: how consistently the layers agree.

A benign input is recognised more and more confidently as it travels through the network; an
adversarial one is pulled to its wrong label late. Dissector cuts the network at a few
snapshot layers, trains one linear *sub-model* per snapshot (a softmax head on the frozen
features), and asks of each how strongly it supports the final prediction ``y``:
the validity ``SV_k = p_k[y] / (p_k[y] + max_{j != y} p_k[j])`` (above 1/2 when ``y`` is the
sub-model's top class, below it otherwise). The prediction validity is their weighted mean
``PV = sum_k w_k SV_k / sum_k w_k`` with weights growing with depth; a low PV is suspicious.

References:
    Wang, Xu, Xu, Ma, Lu. Dissector: Input Validation for Deep Learning Applications by
    Crossing-layer Dissection, ICSE 2020 (ParagonLight/dissector e2922e1:
    ``merge_raw_layer_outputs.py`` for the validity and the weights, ``models/embedding/``
    for the snapshots); spec/baselines.md section 4.

Notes:
    * Snapshots: for torchvision's ResNet-101 the authors' six (:data:`RESNET_SNAPSHOTS`:
      layer1, layer2, blocks 8 and 16 of layer3, layer3, layer4), plus the model's own softmax
      as the last, deepest layer (x = L), as in their script.
    * Heads: the authors flattened whole feature maps (200k to 400k inputs per head; the
      layer2 head alone has 401M weights) and never released the training code. Here each
      snapshot is average-pooled to ``pool_size`` x ``pool_size`` (default 1: global average
      pooling) and standardised with the training features' mean and std before its linear
      layer; the heads are fitted with Adam on cross-entropy against the true labels.
    * Validity: the authors' two branches (``y`` is or is not the sub-model's top class) are
      the single formula above; 0/0 (both probabilities underflow) is 0, as their 1e-100 guard.
    * Weights: the authors' ``output_weight`` formulas (:func:`layer_weights`), including the
      log case with alpha = 0 and beta != 0, which leaves w = x. Their linear case with
      alpha != 0 raises a NameError in their code; we use its evident intent, alpha x + 1.
    * For A2D's Table 2 the adversarial score is ``-PV`` (:meth:`Dissector.adversarial_score`);
      the authors' own AUROC scores correct vs incorrect clean predictions instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from a2d.costs.suite import device_of, eval_mode
from a2d.detectors import roc

Weighting = Literal["linear", "log", "exp"]
WEIGHTINGS: tuple[str, ...] = ("linear", "log", "exp")

RESNET_SNAPSHOTS: tuple[str, ...] = (
    "layer1",
    "layer2",
    "layer3.8",
    "layer3.16",
    "layer3",
    "layer4",
)
"""The authors' snapshots of torchvision's ResNet-101 (module names): res_layer1, res_layer2,
res_block8, res_block16 (blocks 8 and 16 of the 23 in layer3), res_layer3, res_layer4."""


def layer_weights(
    n_layers: int, *, weighting: Weighting = "exp", alpha: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """The weight of each layer x = 1..n_layers (the authors' ``output_weight``).

    * ``linear``: ``alpha x + 1`` if alpha != 0, else ``x``.
    * ``log``: ``alpha ln(beta x + 1) + 1`` if alpha, beta != 0; ``alpha ln x + 1`` if only
      beta = 0; ``ln x`` if both are 0; ``x`` if only alpha = 0 (no case of theirs applies).
    * ``exp``: ``e^(beta x)`` if alpha = 0, else ``alpha e^(beta x) + 1`` (their example script:
      exp with alpha 0, beta 1).

    Raises:
        ValueError: an unknown weighting, fewer than one layer, or weights that do not sum to a
            positive number (the mean would be undefined or flip sign).
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    x = np.arange(1, n_layers + 1, dtype=np.float64)
    if weighting == "linear":
        w = alpha * x + 1 if alpha != 0 else x
    elif weighting == "log":
        if alpha != 0 and beta != 0:
            w = alpha * np.log(beta * x + 1) + 1
        elif alpha != 0:
            w = alpha * np.log(x) + 1
        elif beta == 0:
            w = np.log(x)
        else:
            w = x
    else:
        w = np.exp(beta * x) if alpha == 0 else alpha * np.exp(beta * x) + 1
    if not np.all(np.isfinite(w)) or not w.sum() > 0:
        raise ValueError(
            f"{weighting} weights with alpha={alpha}, beta={beta} over {n_layers} layers are "
            f"{w.tolist()}; they must be finite and sum to > 0"
        )
    return w


def validity_scores(probabilities: Tensor, prediction: Tensor) -> Tensor:
    """(N, L) validity of each layer's support for the final prediction.

    Args:
        probabilities: (L, N, K) softmax outputs of the L sub-models (and the model itself).
        prediction: (N,) the model's final predicted class of each input.

    Returns ``p[y] / (p[y] + max_{j != y} p[j])`` per layer and input, in float64.
    """
    if probabilities.dim() != 3 or prediction.shape != probabilities.shape[1:2]:
        raise ValueError(
            f"probabilities must be (L, N, K) and prediction (N,), got "
            f"{tuple(probabilities.shape)} and {tuple(prediction.shape)}"
        )
    p = probabilities.double()
    index = prediction.long().to(p.device).view(1, -1, 1).expand(p.shape[0], -1, 1)
    p_y = p.gather(2, index).squeeze(2)
    p_other = p.scatter(2, index, -math.inf).amax(2)
    total = p_y + p_other
    return torch.where(total > 0, p_y / total.clamp_min(torch.finfo(p.dtype).tiny), 0.0).T


def prediction_validity(validity: np.ndarray | Tensor, weights: np.ndarray) -> np.ndarray:
    """(N,) weighted mean of the (N, L) layer validities: ``sum_k w_k SV_k / sum_k w_k``."""
    sv = np.asarray(validity.cpu() if isinstance(validity, Tensor) else validity, dtype=np.float64)
    if sv.ndim != 2 or sv.shape[1] != len(weights):
        raise ValueError(f"validity must be (N, {len(weights)}), got {sv.shape}")
    return sv @ weights / weights.sum()


class Dissector(BaseEstimator):
    """Dissector's input validation as a scikit-learn estimator on a fixed target model.

    Args:
        model: the target, mapping (N, C, H, W) inputs to logits (a
            :class:`~a2d.models.ClassifierWrapper`: the snapshot names are then those of its
            ``net``). It is only read: eval mode during every call, parameters untouched.
        layers: the snapshot module names, shallow to deep; default the authors' ResNet-101
            ones (:data:`RESNET_SNAPSHOTS`).
        pool_size: each snapshot is average-pooled to this many rows and columns (default 1).
        weighting, alpha, beta: the layer weights (:func:`layer_weights`); default the
            authors' example, exp with alpha 0, beta 1.
        epochs: passes of Adam over the training features per head; default 30.
        lr: Adam's learning rate; default 1e-2.
        batch_size: inputs per forward pass and per head update; default 256.
        seed: seeds the heads' initial weights and the minibatch order; default 0.

    Input contract: ``x`` is a float tensor (or anything sliceable as ``x[i:j]`` into one, e.g.
    a lazily decoded ImageNet split) of (N, C, H, W) inputs the model accepts; ``y`` (N,) true
    labels. Fitted state: ``heads_`` (one ``nn.Linear`` per snapshot), ``feature_mean_``,
    ``feature_std_``, ``weights_`` (L + 1, the last for the model's own softmax),
    ``n_classes_``.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        layers: Sequence[str] = RESNET_SNAPSHOTS,
        pool_size: int = 1,
        weighting: Weighting = "exp",
        alpha: float = 0.0,
        beta: float = 1.0,
        epochs: int = 30,
        lr: float = 1e-2,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.layers = layers
        self.pool_size = pool_size
        self.weighting = weighting
        self.alpha = alpha
        self.beta = beta
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed

    # --- fitting -----------------------------------------------------------------------------

    def fit(self, x: Any, y: Tensor | np.ndarray) -> Dissector:
        """Train one linear head per snapshot on the frozen features of ``x`` with labels ``y``."""
        self._check_settings()
        labels = torch.as_tensor(np.asarray(y)).long()
        if labels.dim() != 1 or len(labels) != len(x) or not len(labels):
            raise ValueError(
                f"y must hold one label per input (N = {len(x)} >= 1), got shape {tuple(labels.shape)}"
            )
        features, logits = self._features(x)
        self.n_classes_ = int(logits.shape[1])
        if int(labels.max()) >= self.n_classes_ or int(labels.min()) < 0:
            raise ValueError(
                f"labels must lie in 0..{self.n_classes_ - 1} (the model's classes), got "
                f"{int(labels.min())}..{int(labels.max())}"
            )
        self.weights_ = layer_weights(
            len(self.layers) + 1, weighting=self.weighting, alpha=self.alpha, beta=self.beta
        )
        generator = torch.Generator().manual_seed(int(self.seed))
        self.feature_mean_: list[Tensor] = []
        self.feature_std_: list[Tensor] = []
        self.heads_: list[nn.Linear] = []
        for feats in features:
            mean, std = feats.mean(0), feats.std(0, unbiased=False).clamp_min(1e-6)
            self.feature_mean_.append(mean)
            self.feature_std_.append(std)
            head = self._train_head((feats - mean) / std, labels, generator)
            self.heads_.append(head)
        return self

    def _check_settings(self) -> None:
        if not isinstance(self.model, nn.Module):
            raise ValueError(f"model must be the target nn.Module, got {type(self.model).__name__}")
        if not self.layers:
            raise ValueError("layers is empty; name at least one snapshot module, e.g. 'layer4'")
        names = dict(self._net().named_modules())
        missing = [name for name in self.layers if name not in names]
        if missing:
            some = ", ".join(n for n in list(names)[1:12] if n)
            raise ValueError(
                f"snapshot layer(s) {missing} are not modules of {type(self._net()).__name__}; "
                f"its modules include: {some}, ..."
            )
        for key, value, least in (
            ("pool_size", self.pool_size, 1),
            ("epochs", self.epochs, 1),
            ("batch_size", self.batch_size, 1),
        ):
            if isinstance(value, bool) or int(value) != value or value < least:
                raise ValueError(f"{key} must be an integer >= {least}, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def _train_head(self, feats: Tensor, labels: Tensor, generator: torch.Generator) -> nn.Linear:
        head = nn.Linear(feats.shape[1], self.n_classes_)
        bound = 1 / math.sqrt(feats.shape[1])
        with torch.no_grad():  # torch's default init, drawn from our generator
            head.weight.uniform_(-bound, bound, generator=generator)
            head.bias.uniform_(-bound, bound, generator=generator)
        optimizer = torch.optim.Adam(head.parameters(), lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.epochs):
                order = torch.randperm(len(labels), generator=generator)
                for batch in order.split(self.batch_size):
                    optimizer.zero_grad(set_to_none=True)
                    F.cross_entropy(head(feats[batch]), labels[batch]).backward()
                    optimizer.step()
        return head.eval().requires_grad_(False)

    # --- features ----------------------------------------------------------------------------

    def _net(self) -> nn.Module:
        assert self.model is not None  # checked in _check_settings
        return getattr(self.model, "net", self.model)

    @torch.no_grad()
    def _features(self, x: Any) -> tuple[list[Tensor], Tensor]:
        """Pooled, flattened features of every snapshot (CPU, float32) and the model's logits."""
        assert self.model is not None
        modules = dict(self._net().named_modules())
        captured: dict[str, Tensor] = {}

        def hook(name: str):  # noqa: ANN202 - a forward hook
            def record(_module: nn.Module, _inputs: object, output: Tensor) -> None:
                # pooled at once: a later in-place op (ReLU(inplace=True)) may reuse the tensor
                captured[name] = self._pool(output).cpu()

            return record

        handles = [modules[name].register_forward_hook(hook(name)) for name in self.layers]
        parts: list[list[Tensor]] = [[] for _ in self.layers]
        logits: list[Tensor] = []
        device = device_of(self.model)
        try:
            with eval_mode(self.model):
                for start in range(0, len(x), int(self.batch_size)):
                    batch = torch.as_tensor(x[start : start + int(self.batch_size)]).to(device)
                    logits.append(self.model(batch).float().cpu())
                    for part, name in zip(parts, self.layers, strict=True):
                        part.append(captured.pop(name))
        finally:
            for handle in handles:
                handle.remove()
        return [torch.cat(part) for part in parts], torch.cat(logits)

    def _pool(self, output: Tensor) -> Tensor:
        if output.dim() == 4:
            output = F.adaptive_avg_pool2d(output, int(self.pool_size))
        return torch.flatten(output, 1).float()

    # --- scoring -----------------------------------------------------------------------------

    @torch.no_grad()
    def sub_model_probabilities(self, x: Any) -> Tensor:
        """(L + 1, N, K) softmax outputs: one per snapshot head, then the model's own."""
        check_is_fitted(self, "heads_")
        features, logits = self._features(x)
        probs = [
            F.softmax(head((feats - mean) / std), dim=1)
            for head, feats, mean, std in zip(
                self.heads_, features, self.feature_mean_, self.feature_std_, strict=True
            )
        ]
        return torch.stack([*probs, F.softmax(logits, dim=1)])

    def validity(self, x: Any) -> np.ndarray:
        """(N, L + 1) validity of each layer (the last: the model's own softmax) for ``x``."""
        probs = self.sub_model_probabilities(x)
        return validity_scores(probs, probs[-1].argmax(1)).numpy()

    def decision_function(self, x: Any) -> np.ndarray:
        """(N,) prediction validity PV in [0, 1]: high = the layers agree (benign-looking)."""
        return prediction_validity(self.validity(x), self.weights_)

    def adversarial_score(self, x: Any) -> np.ndarray:
        """(N,) ``-PV``: higher = more adversarial (the score Table 2's AUROC takes)."""
        return -self.decision_function(x)

    def auroc(self, benign: Any, adversarial: Any) -> float:
        """AUROC of :meth:`adversarial_score` on adversarial vs benign inputs."""
        return roc.auroc(self.adversarial_score(benign), self.adversarial_score(adversarial))
