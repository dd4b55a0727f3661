"""Input gradients of a layer-list network for many cotangents, without autograd's overheads.

CLEVER needs, at every sampled point, the input gradient of K - 1 margins: K - 1
vector-Jacobian products through the same forward pass. Autograd does them well but not at the
CPU's speed: its convolution backward runs on NCHW tensors (oneDNN reorders them on every call),
its max-pool backward copies between memory layouts, and the input-gradient of a first
convolution with one input channel takes oneDNN's slow path. Here a network that is a plain
list of known layers is run forward once, each layer returning a closure for its own
vector-Jacobian product, and the K - 1 cotangents go back through those closures with
channels-last tensors, where oneDNN's backward-data convolution runs near peak (on the Env1
MNIST CNN, 10 ms instead of 16 ms per batch of 64 for the 64 -> 64 convolution).

A network is a layer list when it is (recursively) an ``nn.Sequential``, a
:class:`~a2d.models.LayeredNet`, a :class:`~a2d.models.ClassifierWrapper` or a softmax over
one, made of: Conv2d (zero padding), Linear, ReLU, Tanh, Sigmoid, MaxPool2d, Flatten, Dropout
and Identity in eval mode. Anything else makes :func:`layer_list` return None, and callers fall
back to autograd. Tests compare every layer's product with autograd's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2d.models.layered import LayeredNet, flatten
from a2d.models.wrapper import ClassifierWrapper
from a2d.robustness.scored import SoftmaxOutput

VJP = Callable[[Tensor], Tensor]
Layer = Callable[[Tensor], tuple[Tensor, VJP]]
"""Runs a layer forward and returns its output with the layer's vector-Jacobian product."""

CHANNELS_LAST = torch.channels_last


def _identity(x: Tensor) -> tuple[Tensor, VJP]:
    return x, lambda g: g


# Elementwise products scale g in place: the pullback owns every gradient it passes on (it
# copies the cotangent first), and on CPU a fresh 10 MB tensor per call costs more than the
# multiplication itself.


def _relu(x: Tensor) -> tuple[Tensor, VJP]:
    mask = (x > 0).to(x.dtype)
    return x * mask, lambda g: g.mul_(mask)


def _tanh(x: Tensor) -> tuple[Tensor, VJP]:
    y = torch.tanh(x)
    slope = 1 - y * y
    return y, lambda g: g.mul_(slope)


def _sigmoid(x: Tensor) -> tuple[Tensor, VJP]:
    y = torch.sigmoid(x)
    slope = y * (1 - y)
    return y, lambda g: g.mul_(slope)


def _flatten(x: Tensor) -> tuple[Tensor, VJP]:
    shape = x.shape
    # NCHW order, whatever the memory layout: the next Linear expects Keras/PyTorch order
    return x.contiguous().flatten(1), lambda g: g.reshape(shape)


def softmax_layer(x: Tensor) -> tuple[Tensor, VJP]:
    """Softmax over dim 1; its product is s * (g - <g, s>)."""
    s = torch.softmax(x, dim=1)
    return s, lambda g: s * (g - (g * s).sum(dim=1, keepdim=True))


def _linear(module: nn.Linear) -> Layer:
    weight = module.weight.detach()
    bias = module.bias.detach() if module.bias is not None else None

    def layer(x: Tensor) -> tuple[Tensor, VJP]:
        return F.linear(x, weight, bias), lambda g: g @ weight

    return layer


def _normalise(model: ClassifierWrapper) -> Layer:
    mean, std = model.mean.detach(), model.std.detach()

    def layer(x: Tensor) -> tuple[Tensor, VJP]:
        return (x - mean) / std, lambda g: g / std

    return layer


def _conv2d(module: nn.Conv2d) -> Layer | None:
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        return None
    weight = module.weight.detach().contiguous(memory_format=CHANNELS_LAST)
    bias = module.bias.detach() if module.bias is not None else None
    stride, padding, dilation = module.stride, module.padding, module.dilation
    groups, kernel = module.groups, module.kernel_size
    # When the unfolded columns are no larger than the incoming gradient (a first layer with few
    # input channels), a GEMM plus col2im beats oneDNN's backward-data, which is slow there (2.9
    # vs 0.7 ms for 1 -> 64 channels, batch 64).
    columns = groups == 1 and module.in_channels * kernel[0] * kernel[1] <= module.out_channels
    weight_matrix = module.weight.detach().reshape(module.out_channels, -1)

    def layer(x: Tensor) -> tuple[Tensor, VJP]:
        x = x.contiguous(memory_format=CHANNELS_LAST)
        y = F.conv2d(x, weight, bias, stride, padding, dilation, groups)

        def by_columns(g: Tensor) -> Tensor:
            rows = g.permute(0, 2, 3, 1).reshape(len(g), -1, g.shape[1]) @ weight_matrix
            return F.fold(rows.transpose(1, 2), x.shape[-2:], kernel, dilation, padding, stride)

        def by_onednn(g: Tensor) -> Tensor:
            (grad, _, _) = torch.ops.aten.convolution_backward(
                g.contiguous(memory_format=CHANNELS_LAST), x, weight, None,
                stride, padding, dilation, False, (0, 0), groups, (True, False, False),
            )  # fmt: skip
            return grad

        return y, by_columns if columns else by_onednn

    return layer


def _max_pool2d(module: nn.MaxPool2d) -> Layer | None:
    if module.return_indices:
        return None
    settings = (
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        module.ceil_mode,
    )

    def layer(x: Tensor) -> tuple[Tensor, VJP]:
        y, indices = F.max_pool2d_with_indices(x, *settings)
        batch, channels, height, width = x.shape
        # indices are flat positions in each input plane; scatter in (N, H*W, C) order so that
        # channels-last gradients need no copy (scatter_add: overlapping windows accumulate)
        flat = indices.permute(0, 2, 3, 1).reshape(batch, -1, channels)

        def vjp(g: Tensor) -> Tensor:
            source = g.permute(0, 2, 3, 1).reshape(batch, -1, channels)
            grad = g.new_zeros(batch, height * width, channels).scatter_add_(1, flat, source)
            return grad.view(batch, height, width, channels).permute(0, 3, 1, 2)

        return y, vjp

    return layer


_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_FUNCTIONS: dict[object, Layer] = {
    torch.relu: _relu,
    F.relu: _relu,
    torch.tanh: _tanh,
    torch.sigmoid: _sigmoid,
    flatten: _flatten,
}


def _module_layers(module: nn.Module) -> list[Layer] | None:
    """The layers of one module, or None if some part is not supported."""
    if isinstance(module, nn.Sequential):
        return _chain(module.children())
    if isinstance(module, LayeredNet):
        return _chain(step for _, step in module.steps())
    if isinstance(module, ClassifierWrapper):
        inner = _module_layers(module.net)
        if inner is None or not module.normalized:
            return inner
        return [_normalise(module), *inner]
    if isinstance(module, nn.Conv2d):
        return _single(_conv2d(module))
    if isinstance(module, nn.MaxPool2d):
        return _single(_max_pool2d(module))
    if isinstance(module, nn.Linear):
        return [_linear(module)]
    if isinstance(module, nn.ReLU):
        return [_relu]
    if isinstance(module, nn.Tanh):
        return [_tanh]
    if isinstance(module, nn.Sigmoid):
        return [_sigmoid]
    if isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
        return [_flatten]
    if isinstance(module, _DROPOUT) and not module.training or isinstance(module, nn.Identity):
        return [_identity]
    if isinstance(module, SoftmaxOutput):
        inner = _module_layers(module.model)
        return None if inner is None else [*inner, softmax_layer]
    return None


def _single(layer: Layer | None) -> list[Layer] | None:
    return None if layer is None else [layer]


def _is_relu(step: object) -> bool:
    return isinstance(step, nn.ReLU) or step is torch.relu or step is F.relu


def _pool_before_relu(steps: Iterable[object]) -> list[object]:
    """Swap each ReLU -> MaxPool2d pair: max-pooling commutes with the (monotone) ReLU.

    The outputs are equal, and so are the gradients (a window whose maximum is <= 0 passes no
    gradient either way); the ReLU then masks a 4x smaller tensor.
    """
    order = list(steps)
    for i in range(len(order) - 1):
        if _is_relu(order[i]) and isinstance(order[i + 1], nn.MaxPool2d):
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


def _chain(steps: Iterable[object]) -> list[Layer] | None:
    layers: list[Layer] = []
    for step in _pool_before_relu(steps):
        part = _module_layers(step) if isinstance(step, nn.Module) else _function_layer(step)
        if part is None:
            return None
        layers += part
    return layers


def _function_layer(step: object) -> list[Layer] | None:
    try:
        return _single(_FUNCTIONS.get(step))
    except TypeError:  # unhashable callable
        return None


def layer_list(model: nn.Module) -> list[Layer] | None:
    """``model`` as a list of layers with hand-written products, or None if it is not one.

    Dropout counts as a layer only in eval mode (in training mode it is random, and the caller
    should use autograd, which applies it).
    """
    return _module_layers(model)


def linearise(layers: list[Layer], points: Tensor) -> tuple[Tensor, VJP]:
    """Run ``layers`` forward on ``points``; return the output and the network's product.

    The product maps a cotangent of the output's shape, (M, K), to the input gradient
    J(points)^T cotangent, of ``points``' shape (its memory layout may differ). Call it as often
    as needed: the forward pass is shared.
    """
    products = []
    with torch.no_grad():
        x = points.detach()
        for layer in layers:
            x, vjp = layer(x)
            products.append(vjp)

    def pullback(cotangent: Tensor) -> Tensor:
        with torch.no_grad():
            g = cotangent.clone()  # the products may scale their gradient in place
            for vjp in reversed(products):
                g = vjp(g)
            return g

    return x, pullback
