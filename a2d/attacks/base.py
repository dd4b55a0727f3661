"""What every crafting attack shares: the result type, the one call loop, distortions, targets.

A crafting attack turns correctly classified inputs into the adversarial inputs that A2D must
detect (paper Table 5, Env1). :class:`CraftAttack` owns the one shared ``__call__`` (foolbox-3
style): input and label checks, eval mode, parameter freezing, target handling, batching, and
the final forward pass that sets ``success`` from the model's predictions on the returned
inputs. Each attack supplies only :meth:`CraftAttack._run`.
"""

from __future__ import annotations

import itertools
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, final

import torch
from torch import Tensor, nn

from a2d.errors import ConfigError
from a2d.utils.progress import progress

if TYPE_CHECKING:
    import foolbox

logger = logging.getLogger(__name__)

Bounds = tuple[float, float]
"""The input box ``(lo, hi)``; every returned input stays inside it."""

TargetPolicy = Literal["none", "optional", "random"]
"""How an attack uses target classes: never (untargeted), only when given, or drawn at random."""

Units = Literal["input", "normalized"]
"""What a step size is measured in: input units (pixels in [0, 1]) or the model's normalised
space (Env2: BL3 attacks normalised tensors, so its eps = 0.35 is 0.35 * std in pixels)."""


@dataclass(frozen=True)
class CraftResult:
    """What a crafting attack returns: one row per input, in input order, on the input's device.

    Attributes:
        adversarial: (N, C, H, W) the crafted inputs, same dtype as the inputs, within the
            bounds. Failed examples are kept (Env1 does not drop them): they hold the attack's
            last iterate (FGSM, BIM, JSMA) or the unperturbed input (C&W, see its Notes).
        success: (N,) bool; untargeted: ``prediction != label``; targeted: ``prediction ==
            target``. Always computed from one forward pass on ``adversarial``.
        label: (N,) int64, the true labels the attack was given.
        prediction: (N,) int64, the model's prediction on ``adversarial``.
        target: (N,) int64 target classes for a targeted run, else ``None``.
        steps: (N,) int64 number of attack steps that produced ``adversarial`` (FGSM 1; BIM the
            updates applied; JSMA the feature pairs changed), or ``None`` where the attack does
            not expose one (C&W).
    """

    adversarial: Tensor
    success: Tensor
    label: Tensor
    prediction: Tensor
    target: Tensor | None = None
    steps: Tensor | None = None

    def __len__(self) -> int:
        return int(self.success.shape[0])

    def to(self, device: torch.device | str) -> CraftResult:
        """The same result with every tensor on ``device``."""
        return CraftResult(
            adversarial=self.adversarial.to(device),
            success=self.success.to(device),
            label=self.label.to(device),
            prediction=self.prediction.to(device),
            target=None if self.target is None else self.target.to(device),
            steps=None if self.steps is None else self.steps.to(device),
        )


def l0_distortion(x: Tensor, adversarial: Tensor, *, tolerance: float = 0.0) -> Tensor:
    """(N,) int64 number of features (elements of C*H*W) that differ by more than ``tolerance``."""
    diff = _flat_diff(x, adversarial)
    return (diff.abs() > tolerance).sum(1)


def l2_distortion(x: Tensor, adversarial: Tensor) -> Tensor:
    """(N,) Euclidean norm of the perturbation of each example."""
    return torch.linalg.vector_norm(_flat_diff(x, adversarial), ord=2, dim=1)


def linf_distortion(x: Tensor, adversarial: Tensor) -> Tensor:
    """(N,) largest absolute change of any feature of each example."""
    diff = _flat_diff(x, adversarial)
    if diff.shape[1] == 0:
        return diff.new_zeros(diff.shape[0])
    return diff.abs().amax(1)


def _flat_diff(x: Tensor, adversarial: Tensor) -> Tensor:
    if x.shape != adversarial.shape:
        raise ValueError(
            f"x and adversarial must have the same shape, got {tuple(x.shape)} "
            f"and {tuple(adversarial.shape)}"
        )
    return (adversarial - x).reshape(x.shape[0], -1)


def random_targets(labels: Tensor, *, num_classes: int, seed: int) -> Tensor:
    """(N,) int64 target classes drawn uniformly among the classes other than each label.

    Draws one offset in ``1 .. num_classes - 1`` per example, in order, from a CPU
    ``torch.Generator`` seeded with ``seed`` (so the targets are the same on every device), and
    returns ``(label + offset) % num_classes`` on ``labels.device``. BL1 used
    ``np.random.choice(other_classes)`` per example; the distribution is the same.
    When a data set is crafted in several calls, draw the targets for the whole set once with
    this function and pass each chunk its slice, so that chunking cannot change them.
    """
    if num_classes < 2:
        raise ValueError(f"random targets need at least 2 classes, got {num_classes}")
    generator = torch.Generator().manual_seed(int(seed))
    offsets = torch.randint(1, num_classes, (labels.shape[0],), generator=generator)
    return (labels.detach().cpu().long() + offsets).remainder(num_classes).to(labels.device)


class _FrozenParameters(nn.Module):
    """Calls ``model`` with its parameters detached, so no attack ever writes ``.grad`` into it.

    foolbox 3 takes input gradients with ``loss.backward()``, which would also accumulate
    gradients in the caller's parameters; detaching them keeps the model untouched and skips
    the weight-gradient work.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        params = {name: p.detach() for name, p in self.model.named_parameters()}
        return torch.func.functional_call(self.model, params, (x,))


class CraftAttack(ABC):
    """Base class of the crafting attacks: the one shared call loop.

    Args:
        bounds: the input box ``(lo, hi)``; default ``None`` = the model's ``bounds`` attribute
            (:class:`a2d.models.wrapper.ClassifierWrapper` has one), else (0, 1).

    Call ``attack(model, x, labels, target=None, batch_size=None)``:

    * ``model``: any ``nn.Module`` mapping (N, C, H, W) inputs in ``bounds`` to (N, classes)
      logits, on ``x.device``. It is put in eval mode for the call (its previous mode is
      restored) and never modified: gradients are taken with respect to the inputs only.
    * ``x``: (N, C, H, W) floating inputs in ``bounds``; ``labels``: (N,) true labels.
    * ``target``: (N,) target classes, only for attacks whose :attr:`target_policy` is
      ``"optional"`` or ``"random"`` (``None`` = untargeted, or drawn with :func:`random_targets`
      from the attack's ``seed`` for ``"random"``).
    * ``batch_size``: examples attacked at once (default all); results do not depend on it.

    Subclasses set :attr:`name` and :attr:`target_policy` and implement :meth:`_run`. A random
    attack sets :attr:`seeded` and takes a ``seed`` keyword: the config resolver
    (:func:`a2d.attacks.craft_hyperparameters`) then gives it the run's seed, so no stage has to
    know which attacks are random. An attack that learns something first from images it does
    not attack (BB's substitute) sets :attr:`needs_pool` and implements :meth:`prepare`.
    """

    name: ClassVar[str] = "craft"
    target_policy: ClassVar[TargetPolicy] = "none"
    seeded: ClassVar[bool] = False
    needs_pool: ClassVar[bool] = False

    def __init__(self, *, bounds: Bounds | None = None) -> None:
        if bounds is not None:
            bounds = _check_bounds(bounds)
        self.bounds: Bounds | None = bounds

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def _run(
        self, model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None, bounds: Bounds
    ) -> tuple[Tensor, Tensor | None]:
        """Attack one batch; return the adversarial inputs and the per-example steps (or None).

        ``model`` is already in eval mode with frozen parameters; ``x`` is within ``bounds``.
        """

    def prepare(self, model: nn.Module, pool: Tensor) -> None:  # noqa: B027 - optional hook
        """Set the attack up on ``pool``, (P, C, H, W) images in the bounds it will not attack.

        Only attacks with :attr:`needs_pool` use it (BB trains its substitute model here);
        :func:`a2d.attacks.crafting.craft_set` calls it once per set, before the first batch, so
        that batching cannot change what it learns. The default does nothing.
        """

    def _draw_targets(self, labels: Tensor, num_classes: int) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not draw random targets")

    @torch.no_grad()
    def draw_targets(self, model: nn.Module, x: Tensor, labels: Tensor) -> Tensor | None:
        """The targets a call without ``target=`` would use on these inputs, or ``None``.

        Only attacks whose :attr:`target_policy` is ``"random"`` draw targets. A set crafted in
        several calls (resumable chunks) draws them once here and passes each call its slice,
        so that chunking cannot change them.
        """
        if self.target_policy != "random" or not len(x):
            return None
        was_training = model.training
        model.eval()
        try:
            return self._draw_targets(labels, _num_classes(model, x))
        finally:
            model.train(was_training)

    @final
    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        labels: Tensor,
        *,
        target: Tensor | None = None,
        batch_size: int | None = None,
    ) -> CraftResult:
        """Craft adversarial inputs for every example and return one :class:`CraftResult`."""
        bounds = self.bounds if self.bounds is not None else _model_bounds(model)
        x = _check_input(model, x, bounds)
        n = int(x.shape[0])
        labels = _check_classes(labels, n, x.device, "labels")
        if target is not None:
            if self.target_policy == "none":
                raise ValueError(
                    f"{type(self).__name__} is untargeted and takes no target; drop target="
                )
            target = _check_classes(target, n, x.device, "target")
        if batch_size is None:
            batch_size = max(n, 1)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        batch_size = int(batch_size)

        frozen = _FrozenParameters(model)
        was_training = model.training
        model.eval()
        frozen.eval()
        try:
            num_classes = _num_classes(frozen, x)
            for name, classes in (("labels", labels), ("target", target)):
                if classes is not None and n and int(classes.max()) >= num_classes:
                    raise ValueError(
                        f"{name} must lie in 0..{num_classes - 1} (the model has "
                        f"{num_classes} classes), got {int(classes.max())}"
                    )
            if target is None and self.target_policy == "random" and n:
                target = self._draw_targets(labels, num_classes)
            if target is not None and bool((target == labels).any()):
                logger.warning(
                    "%s: %d target(s) equal the true label",
                    self.name,
                    int((target == labels).sum()),
                )

            adversarial = torch.empty_like(x)
            steps: Tensor | None = None
            starts = range(0, n, batch_size)
            chunks = (
                progress(starts, desc=f"{self.name} batches", total=len(starts))
                if len(starts) > 1
                else starts
            )
            for start in chunks:
                stop = min(start + batch_size, n)
                t = None if target is None else target[start:stop]
                adv, st = self._run(frozen, x[start:stop], labels[start:stop], t, bounds)
                adversarial[start:stop] = adv.detach().to(x.dtype).clamp(*bounds)
                if st is not None:
                    if steps is None:
                        steps = torch.zeros(n, dtype=torch.long, device=x.device)
                    steps[start:stop] = st.to(device=x.device, dtype=torch.long)
            prediction = _predict(frozen, adversarial, batch_size)
        finally:
            model.train(was_training)
        success = prediction == target if target is not None else prediction != labels
        logger.debug("%s: %d inputs, %d succeeded", self.name, n, int(success.sum()))
        return CraftResult(
            adversarial=adversarial,
            success=success,
            label=labels,
            prediction=prediction,
            target=target,
            steps=steps,
        )


def _check_bounds(bounds: Bounds) -> Bounds:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ConfigError(f"bounds must be a pair (lo, hi), got {bounds!r}") from None
    if not lo < hi:
        raise ConfigError(f"bounds must be (lo, hi) with lo < hi, got {tuple(bounds)!r}")
    return (lo, hi)


def _model_bounds(model: nn.Module) -> Bounds:
    bounds = getattr(model, "bounds", None)
    return (0.0, 1.0) if bounds is None else _check_bounds(bounds)


def _check_input(model: nn.Module, x: Tensor, bounds: Bounds) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
        raise ValueError(f"x must be a floating (N, C, H, W) tensor, got {got}")
    param = next(itertools.chain(model.parameters(), model.buffers()), None)
    if param is not None and param.device != x.device:
        raise ValueError(
            f"model is on {param.device} but x is on {x.device}; "
            f"move the inputs with x.to({str(param.device)!r})"
        )
    lo, hi = bounds
    if x.numel():
        tol = 1e-6 * (hi - lo)
        x_min, x_max = float(x.min()), float(x.max())
        if x_min < lo - tol or x_max > hi + tol:
            raise ValueError(
                f"inputs must lie in bounds {bounds}, got values in "
                f"[{x_min:.4g}, {x_max:.4g}]; give the attack the model's bounds"
            )
    return x.detach().clamp(lo, hi)


def _check_classes(classes: Tensor, n: int, device: torch.device, name: str) -> Tensor:
    classes_t = torch.as_tensor(classes)
    if (
        classes_t.shape != (n,)
        or classes_t.is_floating_point()
        or classes_t.is_complex()
        or classes_t.dtype == torch.bool
    ):
        raise ValueError(
            f"{name} must be {n} integer class indices (one per input), got "
            f"{classes_t.dtype} {tuple(classes_t.shape)}"
        )
    if n and int(classes_t.min()) < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {int(classes_t.min())}")
    return classes_t.detach().to(device=device, dtype=torch.long)


@torch.no_grad()
def _num_classes(model: nn.Module, x: Tensor) -> int:
    if x.shape[0] == 0:
        return 0
    logits = model(x[:1])
    if logits.dim() != 2:
        raise ValueError(f"model must return (N, classes) logits, got shape {tuple(logits.shape)}")
    return int(logits.shape[1])


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    if x.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=x.device)
    return torch.cat(
        [model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)]
    )


def foolbox_model(model: nn.Module, bounds: Bounds, device: torch.device) -> foolbox.PyTorchModel:
    """A ``foolbox.PyTorchModel`` over ``model`` (already frozen and in eval mode) on ``device``.

    The device is passed explicitly: foolbox 3 would otherwise pick ``cuda:0`` whenever CUDA is
    available and move the model there.
    """
    import foolbox as fb

    return fb.PyTorchModel(model, bounds=bounds, device=device)


def unit_scale(model: nn.Module, units: Units, like: Tensor) -> Tensor:
    """(1, C, 1, 1) size in input units of one unit of ``units``, as ``like``'s dtype and device.

    ``"input"`` is 1. ``"normalized"`` is the per-channel ``std`` of the model's inside
    normalisation (:class:`a2d.models.wrapper.ClassifierWrapper` with ``mean``/``std``): a step
    ``s`` in the normalised tensor the network sees is ``s * std`` in pixels.

    Raises:
        ConfigError: ``"normalized"`` units on a model without normalisation inside.
    """
    if units not in ("input", "normalized"):
        raise ConfigError(f"units must be 'input' or 'normalized', got {units!r}")
    one = torch.ones((1, 1, 1, 1), dtype=like.dtype, device=like.device)
    if units == "input":
        return one
    inner = model.model if isinstance(model, _FrozenParameters) else model
    std = getattr(inner, "std", None)
    if not getattr(inner, "normalized", False) or not isinstance(std, Tensor):
        raise ConfigError(
            f"units='normalized' needs a model that normalises its inputs inside "
            f"(ClassifierWrapper with mean and std), got {type(inner).__name__}; "
            "give the step in input units (units: input) or wrap the model with its std"
        )
    return std.detach().to(dtype=like.dtype, device=like.device).reshape(1, -1, 1, 1) * one


def check_units(units: object) -> Units:
    """``units`` if it is ``"input"`` or ``"normalized"``, else a :class:`ConfigError`."""
    if units == "input":
        return "input"
    if units == "normalized":
        return "normalized"
    raise ConfigError(f"units must be 'input' or 'normalized', got {units!r}")


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """``float(value)``, or a :class:`ConfigError` naming the hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def check_count(name: str, value: int, *, minimum: int = 1) -> int:
    """``int(value)`` for an integer count >= ``minimum``, or a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
