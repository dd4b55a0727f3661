"""LSA_d: Narodytska and Kasiviswanathan's local search attack as a cost attack (RQ1 only).

A black-box attack: each round it probes how much the model's confidence in its own label
drops when single pixels are set far outside the box, then changes the most sensitive pixels
cyclically and searches next around them (foolbox 1.8 ``LocalSearchAttack`` defaults). The
paper found LSA_d's benign/adversarial difference unstable: its low success rate leaves many
inputs at the cap (Section 5.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.costs.base import Bounds, CostAttack, State, StepOutcome
from a2d.costs.boundary import example_generator
from a2d.errors import ConfigError


class LocalSearchCost(CostAttack):
    """LSA_d: rounds of greedy local search until the model's own label changes.

    Pixels are worked on in normalised coordinates ``u = (x - mid) / range`` in [-1/2, 1/2].
    Start: a random set of ``min(initial_fraction * H * W, max_candidates)`` pixel locations.
    Each round: draw a random order of the current locations and keep the first
    ``max_candidates``; for each, a probe image sets that pixel (all channels) to
    ``sensitivity * sign(u)``; the ``pixels_per_round`` probes with the lowest softmax
    probability of the label give the pixels that are changed, every channel by the cyclic
    map ``u -> cyclic_factor * u`` wrapped back into [-1/2, 1/2]; then the image is checked.
    The next round's locations are the squares of half side ``neighbourhood`` around the
    changed pixels.

    Args:
        max_iterations: round cap (foolbox ``R``); default 150. Failure = 150.
        cyclic_factor: ``r`` of the cyclic perturbation, in [0, 2]; default 1.5.
        sensitivity: ``p``, the probe value in normalised units; default 10.
        neighbourhood: ``d``, the half side of the next round's squares; default 5.
        pixels_per_round: ``t``, pixels changed per round; default 5.
        max_candidates: probes per round (foolbox: 128); default 128.
        initial_fraction: share of the pixels in the first random set (foolbox: 0.1);
            default 0.1.
        seed: base seed; example ``i`` draws from ``example_generator(seed, ids[i])``.
            Default 0.
        bounds: input box; default (0, 1).

    Input contract: (N, C, H, W) in ``bounds``; label = the model's own prediction.
    Cost: the 0-based round after which the image is misclassified; failure =
    ``max_iterations``. Queries: 1 for the label, then per round one per probe and one check.

    References:
        Narodytska, Kasiviswanathan, "Simple Black-Box Adversarial Perturbations for Deep
        Networks", CVPR Workshops 2017; foolbox 1.8 ``LocalSearchAttack``; Zhao et al., ISSTA
        2021 (LSA_d, Figure 4g).

    Notes:
        * Success is the changed image being misclassified (foolbox's return point). Foolbox's
          ``Adversarial`` also records misclassified *probes*; those lie far outside the box
          (a pixel at 10 range units) and do not count here.
        * Random numbers come from one ``torch.Generator`` per example (foolbox: numpy's global
          generator), and locations are kept in row-major order before each random draw
          (foolbox: the order of a Python ``set``), so the draws differ from foolbox's while
          following the same distribution. Ties between probe scores go to the earlier probe
          (a stable sort; numpy's default sort is not stable).
        * Foolbox indexes the pixel ``(x, y)`` with ``x = location % W`` on the first spatial
          axis; here a location is ``(row, column) = divmod(location, W)``. For square images
          this only relabels the locations.
    """

    name = "lsa"
    seeded = True

    def __init__(
        self,
        *,
        max_iterations: int = 150,
        cyclic_factor: float = 1.5,
        sensitivity: float = 10.0,
        neighbourhood: int = 5,
        pixels_per_round: int = 5,
        max_candidates: int = 128,
        initial_fraction: float = 0.1,
        seed: int = 0,
        bounds: Bounds = (0.0, 1.0),
    ) -> None:
        super().__init__(max_iterations=max_iterations, bounds=bounds)
        if not 0 <= cyclic_factor <= 2:
            raise ConfigError(f"cyclic_factor must be in [0, 2], got {cyclic_factor!r}")
        for name, count in (
            ("neighbourhood", neighbourhood),
            ("pixels_per_round", pixels_per_round),
            ("max_candidates", max_candidates),
        ):
            if isinstance(count, bool) or int(count) != count or count < 1:
                raise ConfigError(f"{name} must be a positive integer, got {count!r}")
        if not sensitivity > 0:
            raise ConfigError(f"sensitivity must be > 0, got {sensitivity!r}")
        if not 0 < initial_fraction <= 1:
            raise ConfigError(f"initial_fraction must be in (0, 1], got {initial_fraction!r}")
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        self.cyclic_factor = float(cyclic_factor)
        self.sensitivity = float(sensitivity)
        self.neighbourhood = int(neighbourhood)
        self.pixels_per_round = int(pixels_per_round)
        self.max_candidates = int(max_candidates)
        self.initial_fraction = float(initial_fraction)
        self.seed = int(seed)

    def _normalize(self, x: Tensor) -> Tensor:
        lo, hi = self.bounds
        return (x - (lo + hi) / 2) / (hi - lo)

    def _unnormalize(self, u: Tensor) -> Tensor:
        lo, hi = self.bounds
        return u * (hi - lo) + (lo + hi) / 2

    def _start(self, model: nn.Module, x: Tensor, ids: Tensor) -> tuple[State, Tensor]:
        if x.dim() != 4:
            raise ValueError(f"LSA_d needs (N, C, H, W) images, got shape {tuple(x.shape)}")
        k, dev = x.shape[0], x.device
        h, w = x.shape[2], x.shape[3]
        with torch.no_grad():
            label = model(x).argmax(1)
        gens = [example_generator(self.seed, int(i), dev) for i in ids.tolist()]
        n_start = min(int(self.initial_fraction * h * w), self.max_candidates)
        candidates = torch.zeros((k, h * w), dtype=torch.bool, device=dev)
        for row, gen in enumerate(gens):
            chosen = torch.randperm(h * w, generator=gen, device=dev)[:n_start]
            candidates[row, chosen] = True
        state = {
            "x": x.clone(),
            "label": label,
            "u": self._normalize(x),
            "candidates": candidates,
            "generators": gens,
        }
        return state, torch.ones(k, dtype=torch.long, device=dev)

    def _step(self, model: nn.Module, state: State, steps: Tensor) -> StepOutcome:
        u, label, candidates = state["u"], state["label"], state["candidates"]
        r, dev = u.shape[0], u.device
        h, w = u.shape[2], u.shape[3]
        probes, owners, locations = [], [], []
        for row, gen in enumerate(state["generators"]):
            where = candidates[row].nonzero().squeeze(1)
            order = torch.randperm(len(where), generator=gen, device=dev)[: self.max_candidates]
            chosen = where[order]
            flat = u[row].flatten(1).unsqueeze(0).repeat(len(chosen), 1, 1)
            picked = torch.arange(len(chosen), device=dev)
            flat[picked, :, chosen] = self.sensitivity * torch.sign(flat[picked, :, chosen])
            probes.append(flat.view(len(chosen), *u.shape[1:]))
            owners.append(torch.full((len(chosen),), row, dtype=torch.long, device=dev))
            locations.append(chosen)
        batch, owner = torch.cat(probes), torch.cat(owners)
        score = torch.empty(0, dtype=u.dtype, device=dev)
        if len(batch):
            with torch.no_grad():
                probs = F.softmax(model(self._unnormalize(batch)), dim=1)
            score = probs.gather(1, label[owner].view(-1, 1)).squeeze(1)
        queries = torch.bincount(owner, minlength=r) + 1

        u = u.clone()
        changed = torch.zeros((r, h * w), dtype=torch.bool, device=dev)
        start = 0
        for row, chosen in enumerate(locations):
            mine = score[start : start + len(chosen)]
            start += len(chosen)
            best = torch.sort(mine, stable=True).indices[: self.pixels_per_round]
            pixels = chosen[best]
            flat = u[row].flatten(1)
            flat[:, pixels] = self._cyclic(flat[:, pixels])
            changed[row, pixels] = True
        state["u"] = u
        state["x"] = self._unnormalize(u)
        with torch.no_grad():
            won = model(state["x"]).argmax(1) != label
        state["candidates"] = self._neighbourhood(changed, h, w)
        # no location left to probe (a start set of 0 pixels): nothing can change again
        stalled = ~state["candidates"].any(1)
        return StepOutcome(success=won, queries=queries, stalled=stalled)

    def _cyclic(self, values: Tensor) -> Tensor:
        """``r * u``, brought back into [-1/2, 1/2] by adding or subtracting the box width 1."""
        result = self.cyclic_factor * values
        result = torch.where(result < -0.5, result + 1.0, result)
        return torch.where(result > 0.5, result - 1.0, result)

    def _neighbourhood(self, changed: Tensor, h: int, w: int) -> Tensor:
        """(R, H * W) locations within ``neighbourhood`` (Chebyshev) of a changed pixel."""
        size = 2 * self.neighbourhood + 1
        grown = F.max_pool2d(
            changed.view(-1, 1, h, w).float(), size, stride=1, padding=self.neighbourhood
        )
        return grown.view(-1, h * w) > 0
