"""BL2: local intrinsic dimensionality (LID) of every layer, Ma et al. 2018 (on Env1's models).

Adversarial regions have a higher local intrinsic dimension than the data manifold: around an
adversarial input, the distances to its nearest normal neighbours grow faster. BL2 estimates
the LID of each input at every layer, against a minibatch of normal inputs, and fits a logistic
regression on the per-layer LIDs.

References:
    Ma, Li, Wang, Erfani, Wijewickrema, Schoenebeck, Song, Houle, Bailey. Characterizing
    Adversarial Subspaces Using Local Intrinsic Dimensionality, ICLR 2018
    (xingjunm/lid_adversarial_subspace_detection 29ae6f5: ``util.py::mle_batch``,
    ``get_lids_random_batch``, ``block_split``; ``detect_adv_examples.py``); spec/baselines.md
    section 2. The A2D paper runs BL2 on BL1's models and adversarial sets (Env1).

Notes:
    * MLE (Levina-Bickel) with k = 20 over minibatches of 100 consecutive normal inputs; the
      normal, noisy and adversarial versions of the same 100 inputs are scored against the
      *normal* batch's activations, skipping the nearest neighbour (the point itself for normal
      queries, usually the clean source for the others). k is capped at batch size - 1.
    * Layers: the input and the output of every Keras layer, softmax included (13 features for
      the MNIST model, 26 for CIFAR-10); dropout layers (identity at test time) repeat the
      previous layer's LID, as in the original.
    * Distances in float64 with ``torch.cdist`` (the original: float32 activations, scipy cdist).
    * :func:`lid_auroc` is BL2's number: MinMax scaling fitted on all data, then the 80/20
      ``block_split`` (blocks of 100 per set), LogisticRegressionCV, AUROC on the 20%.
      :func:`lid_auroc_heldout` fits scaler and detector on a disjoint training pool instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from sklearn.preprocessing import MinMaxScaler
from torch import Tensor

from a2d.baselines.logistic import DetectionSets, auroc, heldout_auroc, logistic_regression_cv
from a2d.models import ClassifierWrapper
from a2d.utils.progress import progress


def mle_lid(queries: Tensor, reference: Tensor, k: int = 20) -> Tensor:
    """LID of each query row against ``reference`` rows, skipping the nearest reference point.

    ``LID(z) = -k / sum_{i=1..k} log(r_i / r_k)`` over the sorted distances r_1 <= ... <= r_k
    to ``reference`` after dropping the smallest one (so a query that is itself in
    ``reference`` is not its own neighbour). k is capped at ``len(reference) - 1``.

    Args:
        queries: (m, d) activations. reference: (n, d) activations, n >= 2. k: neighbours, >= 1.

    Returns:
        (m,) float64 LIDs on the device of the inputs.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if reference.ndim != 2 or queries.ndim != 2 or queries.shape[1] != reference.shape[1]:
        raise ValueError(
            f"queries (m, d) and reference (n, d) must be 2-D with the same d, got "
            f"{tuple(queries.shape)} and {tuple(reference.shape)}"
        )
    if len(reference) < 2:
        raise ValueError(
            f"the reference batch needs at least 2 points (one is skipped), got {len(reference)}"
        )
    k = min(k, len(reference) - 1)
    distances = torch.cdist(queries.double(), reference.double())
    nearest = distances.topk(k + 1, dim=1, largest=False).values[:, 1:]
    return -k / torch.log(nearest / nearest[:, -1:]).sum(1)


def _layer_activations(model: ClassifierWrapper, x: Tensor) -> list[Tensor]:
    """Input, every layer's output and the softmax (Keras' last layer), each flattened to (b, -1)."""
    outputs = list(model.layer_outputs(x).values())
    outputs.append(outputs[-1].softmax(1))
    return [torch.flatten(o, 1) for o in outputs]


@torch.no_grad()
def lid_features(
    model: ClassifierWrapper,
    normal: Tensor,
    others: Mapping[str, Tensor] | None = None,
    *,
    k: int = 20,
    minibatch: int = 100,
) -> dict[str, np.ndarray]:
    """Per-layer LIDs of ``normal`` and of each set in ``others``, all against normal minibatches.

    Args:
        model: the wrapped classifier (eval mode is used; the previous mode is restored).
        normal: (N, C, H, W) normal inputs, in the order that forms the minibatches.
        others: name -> (N, C, H, W) noisy or adversarial versions of ``normal``, same order.
        k: neighbours; default 20 (BL2).
        minibatch: consecutive normal inputs per reference batch; default 100 (BL2).

    Returns:
        ``{"normal": (N, L), name: (N, L), ...}`` with L = number of layers + 2 (input, softmax).
    """
    others = dict(others or {})
    bad = {name: tuple(x.shape) for name, x in others.items() if x.shape != normal.shape}
    if bad:
        raise ValueError(
            f"every set must pair one-to-one with the normal inputs {tuple(normal.shape)}, got {bad}"
        )
    if minibatch < 2:
        raise ValueError(
            f"minibatch must be >= 2 (the nearest neighbour is skipped), got {minibatch}"
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    lids: dict[str, list[Tensor]] = {name: [] for name in ("normal", *others)}
    try:
        for start in progress(range(0, len(normal), minibatch), desc="LID", unit="batch"):
            rows = slice(start, start + minibatch)
            reference = _layer_activations(model, normal[rows].to(device))
            lids["normal"].append(_batch_lids(reference, reference, k))
            for name, x in others.items():
                queries = _layer_activations(model, x[rows].to(device))
                lids[name].append(_batch_lids(queries, reference, k))
    finally:
        model.train(was_training)
    return {name: torch.cat(parts).cpu().numpy() for name, parts in lids.items() if parts}


def _batch_lids(queries: list[Tensor], reference: list[Tensor], k: int) -> Tensor:
    return torch.stack([mle_lid(q, r, k) for q, r in zip(queries, reference, strict=True)], dim=1)


def block_split_rows(per_set: int, block_size: int = 100) -> int:
    """Training rows per set of BL2's 80/20 split: ``int(0.8 * per_set / block_size) * block_size``.

    (``int(n * 0.008) * 100`` in the original.) Raises ValueError when the split would leave
    no training or no test rows.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    n_train = int(per_set * 0.8 / block_size) * block_size
    if not 0 < n_train < per_set:
        raise ValueError(
            f"an 80/20 split of {per_set} inputs per set in blocks of {block_size} leaves "
            f"{n_train} for training and {per_set - n_train} for testing; lower "
            "baselines.bl2.block_size (the ci profile uses 10) or use more inputs"
        )
    return n_train


def block_split(
    x: np.ndarray, y: np.ndarray, *, block_size: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BL2's 80/20 split of [adversarial | normal | noisy] thirds, in whole blocks.

    The first :func:`block_split_rows` rows of each third train, the rest test. Training rows
    are laid out [normal | noisy | adversarial], as in the original.

    Returns:
        x_train, y_train, x_test, y_test.
    """
    if len(x) != len(y) or len(x) % 3:
        raise ValueError(
            f"x and y must hold three equal thirds [adversarial | normal | noisy], got {len(x)} "
            f"rows and {len(y)} labels"
        )
    third = len(x) // 3
    n_train = block_split_rows(third, block_size)
    adv, normal, noisy = (slice(i * third, (i + 1) * third) for i in range(3))
    order = (normal, noisy, adv)
    x_train = np.concatenate([x[part][:n_train] for part in order])
    y_train = np.concatenate([y[part][:n_train] for part in order])
    x_test = np.concatenate([x[part][n_train:] for part in order])
    y_test = np.concatenate([y[part][n_train:] for part in order])
    return x_train, y_train, x_test, y_test


def lid_xy(sets: DetectionSets) -> tuple[np.ndarray, np.ndarray]:
    """BL2's layout: [adversarial | normal | noisy], labels 1, 0, 0."""
    x = np.concatenate([sets.adversarial, sets.normal, sets.noisy])
    return x, np.repeat([1, 0, 0], len(sets))


def lid_auroc(sets: DetectionSets, *, block_size: int = 100) -> float:
    """BL2's AUROC: MinMax on all data, block split, LogisticRegressionCV, AUROC on the 20%."""
    x, y = lid_xy(sets)
    x = MinMaxScaler().fit_transform(x)
    x_train, y_train, x_test, y_test = block_split(x, y, block_size=block_size)
    detector = logistic_regression_cv().fit(x_train, y_train)
    return auroc(y_test, detector.predict_proba(x_test)[:, 1])


def lid_auroc_heldout(train: DetectionSets, test: DetectionSets) -> float:
    """MinMax scaler and detector fitted on a disjoint training pool, AUROC on all of ``test``."""
    return heldout_auroc(MinMaxScaler(), train, test)
