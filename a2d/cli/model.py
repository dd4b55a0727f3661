"""The user's model on the command line: loading it (a TorchScript file or ``module:factory``)
and checking it once on the inputs (:func:`check_model`) before any attack runs.

The command line only builds the network; bounds and normalisation are declared on the command
line (or read from a saved detector) and applied inside :class:`a2d.models.ClassifierWrapper` by
:class:`a2d.AttackAsDefense`, as in the Python API.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from a2d.cli import error_line
from a2d.cli.inputs import Inputs
from a2d.costs.suite import device_of, eval_mode
from a2d.errors import ConfigError, DataError
from a2d.models.wrapper import ClassifierWrapper


def load_model(spec: str, *, device: torch.device, weights: str | None = None) -> nn.Module:
    """The network named by ``spec``, on ``device``, in eval mode.

    Args:
        spec: a TorchScript file (``torch.jit.save``) or ``module:factory``, where ``factory``
            is a callable of the importable ``module`` (or of a ``.py`` file) that takes no
            arguments and returns an ``nn.Module`` mapping (N, C, H, W) inputs to logits.
        device: where to put the model.
        weights: a ``state_dict`` file (``torch.save(net.state_dict(), path)``) to load into
            the factory's network; ``None`` = the network as the factory builds it.

    Raises:
        ConfigError: ``spec`` names no file or factory, or the factory gives no module.
        DataError: the TorchScript or weights file is unreadable or does not fit the network.
    """
    if os.path.isfile(spec):
        if weights is not None:
            raise ConfigError(
                f"--weights is for a module:factory model; the TorchScript file '{spec}' "
                "carries its own weights"
            )
        try:
            with warnings.catch_warnings():
                # torch deprecates TorchScript in favour of torch.export; the user chose the file
                warnings.filterwarnings("ignore", category=FutureWarning)
                net = torch.jit.load(spec, map_location=device)
        except Exception as exc:  # torch raises RuntimeError or ValueError by file kind
            raise DataError(
                f"model '{spec}' is not a TorchScript file ({error_line(exc)}); save one with "
                "torch.jit.save(torch.jit.script(net), path), or give module:factory (a "
                "state_dict goes in --weights)"
            ) from None
        return net.eval()
    if ":" not in spec:
        raise ConfigError(
            f"model '{spec}' is neither a file nor module:factory; give a TorchScript file or "
            "e.g. mypackage.nets:build_net"
        )
    module_name, _, factory_name = spec.rpartition(":")
    factory = getattr(_import(module_name), factory_name, None)
    if not callable(factory):
        raise ConfigError(
            f"model '{spec}': {module_name} has no callable {factory_name!r}; name a function "
            "that takes no arguments and returns the network"
        )
    net = factory()
    if not isinstance(net, nn.Module):
        raise ConfigError(
            f"model '{spec}': {factory_name}() returned a {type(net).__name__}, not a "
            "torch.nn.Module"
        )
    if weights is not None:
        _load_state(net, weights)
    return net.to(device).eval()


def _import(module_name: str) -> ModuleType:
    """``package.module`` from the current folder or the path, or a ``.py`` file by path."""
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ConfigError(f"model file '{module_name}' does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot import '{module_name}' as a Python file")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the user's own modules import
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"cannot import {module_name!r} ({exc}); run from the folder that holds it, add "
            "that folder to PYTHONPATH, or give path/to/file.py:factory"
        ) from None


def _load_state(net: nn.Module, weights: str) -> None:
    if not os.path.isfile(weights):
        raise DataError(
            f"no weights file at '{weights}'; save one with torch.save(net.state_dict(), path)"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:  # unreadable archive, missing or unexpected keys, wrong shapes
        raise DataError(
            f"weights '{weights}' do not load into the model ({error_line(exc)}); save them "
            "with torch.save(net.state_dict(), path) from the same architecture"
        ) from None


def check_model(model: ClassifierWrapper, inputs: Inputs, chunk: int = 256) -> None:
    """Run the model once on every input: it must give finite (N, classes) logits.

    A model that fails on these inputs (wrong size or channels) or returns NaN logits would
    otherwise fail deep inside an attack, or worse, give costs that mean nothing.
    """
    device = device_of(model)
    try:
        with torch.no_grad(), eval_mode(model):
            outputs = [model(part.to(device)) for part in inputs.x.split(chunk)]
    except Exception as exc:  # the user's model: any error is a mismatch with these inputs
        raise DataError(
            f"the model fails on the inputs of '{inputs.source}', shape "
            f"{tuple(inputs.x.shape)} ({error_line(exc)}); check that "
            "it takes (N, C, H, W) inputs of this size (images: --channels, --mean/--std)"
        ) from None
    logits = torch.cat(outputs)
    if logits.dim() != 2 or logits.shape[0] != inputs.x.shape[0] or logits.shape[1] < 2:
        raise DataError(
            f"the model returns shape {tuple(logits.shape)} for {inputs.x.shape[0]} inputs; a2d "
            "needs (N, classes) logits with at least 2 classes"
        )
    bad = (~torch.isfinite(logits).all(dim=1)).nonzero().flatten()
    if bad.numel():
        raise DataError(
            f"the model returns NaN or inf logits for {bad.numel()} of {len(logits)} input(s) "
            f"(first: id {int(inputs.ids[bad[0]])}); costs would mean nothing, so fix the model "
            "or drop those inputs"
        )
