"""Probes: the code that calls a submission's functions and reports what they did.

Each probe takes the loaded module (a student's, in the sandboxed worker; the
reference, in the grader process) and plain arguments, and returns plain data. The
rubric compares the answers with the reference's or with facts. Probes hold no expected
values and no labels: `train_report` returns the trained model's predictions, and the
check (in the grader's process) counts how many are right. Shipped to students with
the public checks.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import threading
import time
import types
from typing import Any, NotRequired, TypedDict

import torch
import torch.nn as nn
from PIL import Image

from assignments.cnn_blocks import data
from grader.describe import Described, describe
from grader.schema import ErrorInfo
from grader.worker import describe_exception

# Bound before any student code runs: a submission that replaces them (to hide how much
# CPU its training used, or to disarm the budget) only fools itself, and not these.
_setitimer = signal.setitimer
_signal = signal.signal
_getrusage = resource.getrusage
_monotonic = time.monotonic
_urandom = os.urandom
_manual_seed = torch.manual_seed
_RUSAGE_SELF = resource.RUSAGE_SELF


class CallResult(TypedDict):
    """One call of a student function: its described result, or the exception it raised."""

    ok: bool
    result: NotRequired[Described]
    error: NotRequired[ErrorInfo]


class Parameter(TypedDict):
    name: str
    shape: list[int]


class Output(TypedDict):
    """A model's output on one batch, or what it raised."""

    input_shape: list[int]
    ok: bool
    result: NotRequired[Described]
    error: NotRequired[ErrorInfo]


class GapSummary(TypedDict):
    parameters: list[Parameter]
    total: int
    outputs: list[Output]


class GapForward(TypedDict):
    mapping: str  # "shape", "order", or "mismatch: ..." (then no outputs)
    outputs: NotRequired[list[Output]]


class BlockReport(TypedDict):
    type: str
    sequential: bool
    kinds: list[str]  # per child: conv, batchnorm, relu, dropout2d, dropout, or the class name
    conv: list[int]  # kernel, padding, stride of the first Conv2d ([] without one)
    dropout_p: NotRequired[float]
    total: int
    output: NotRequired[Output]
    mapping: NotRequired[str]
    loaded_output: NotRequired[Output]


class DropoutReport(TypedDict):
    maps: int
    zero_maps: int  # [sample, channel] maps that are zero everywhere, in training mode


class BatchReport(TypedDict):
    call: CallResult
    modes_seen: list[str]  # the mode of each image `preprocess` was given, in order
    list_unchanged: bool
    images_unchanged: bool


class TrainReport(TypedDict):
    """One training run, and the trained model's answers on the images asked about."""

    status: str  # "ok", "error", "over_budget"
    cpu_seconds: float
    wall_seconds: float
    error: NotRequired[ErrorInfo]
    type: NotRequired[str]
    training_modules: NotRequired[list[str]]  # submodules left in training mode
    predictions: NotRequired[dict[str, list[int]]]
    output: NotRequired[Output]  # on the first of the sets: its shape and dtype


# -- receptive_field ------------------------------------------------------------------------


def receptive_field_cases(module: types.ModuleType, cases: list[list[list[int]]]) -> list[CallResult]:
    """receptive_field on each stack (a list of [kernel, stride, dilation]), one result each."""
    results: list[CallResult] = []
    for case in cases:
        try:
            value = module.receptive_field([tuple(layer) for layer in case])
            results.append({"ok": True, "result": describe(value)})
        except Exception as error:
            results.append({"ok": False, "error": describe_exception(error)})
    return results


# -- GapCNN ---------------------------------------------------------------------------------


def _parameters(model: nn.Module) -> list[Parameter]:
    return [{"name": name, "shape": list(p.shape)} for name, p in model.named_parameters()]


def _build_gap(module: types.ModuleType, num_classes: int | None) -> nn.Module:
    _manual_seed(0)
    model = module.GapCNN() if num_classes is None else module.GapCNN(num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"GapCNN(...) built a {type(model).__name__}, not an nn.Module")
    return model


def _outputs(model: nn.Module, batches: list[torch.Tensor]) -> list[Output]:
    """The model's output on each batch in eval mode (one failing batch does not hide the others)."""
    model.eval()
    outputs: list[Output] = []
    for batch in batches:
        try:
            with torch.no_grad():
                outputs.append({"input_shape": list(batch.shape), "ok": True, "result": describe(model(batch))})
        except Exception as error:
            outputs.append({"input_shape": list(batch.shape), "ok": False, "error": describe_exception(error)})
    return outputs


def gap_cnn_summary(module: types.ModuleType, num_classes: int | None, batches: list[torch.Tensor]) -> GapSummary:
    """GapCNN(num_classes) (GapCNN() for None): its parameters, and its output on each batch."""
    model = _build_gap(module, num_classes)
    return {
        "parameters": _parameters(model),
        "total": sum(p.numel() for p in model.parameters()),
        "outputs": _outputs(model, batches),
    }


def _load_by_shape(model: nn.Module, tensors: list[torch.Tensor]) -> str:
    """Copy `tensors` into the model's parameters: by shape if shapes are unique, else in order.

    Any layer names and registration order are accepted. Returns how they were matched,
    or why they cannot be (the model's layers are not the reference's).
    """
    params = list(model.parameters())
    shapes = [tuple(t.shape) for t in tensors]
    mine = sorted(list(p.shape) for p in params)
    if len(params) != len(tensors) or mine != sorted(list(s) for s in shapes):
        return f"mismatch: its parameter shapes are {mine}; the reference's are {sorted(list(s) for s in shapes)}"
    with torch.no_grad():
        if len(set(shapes)) == len(shapes):
            by_shape = {tuple(t.shape): t for t in tensors}
            for p in params:
                p.copy_(by_shape[tuple(p.shape)])
            return "shape"
        for p, t in zip(params, tensors):
            if p.shape != t.shape:
                return "mismatch: parameters of equal shapes in another order"
            p.copy_(t)
    return "order"


def gap_cnn_forward_with(
    module: types.ModuleType, tensors: list[torch.Tensor], batches: list[torch.Tensor]
) -> GapForward:
    """GapCNN(10) with the given weights loaded, run on each batch (nothing if they do not fit)."""
    model = _build_gap(module, 10)
    mapping = _load_by_shape(model, tensors)
    if mapping.startswith("mismatch"):
        return {"mapping": mapping}
    return {"mapping": mapping, "outputs": _outputs(model, batches)}


# -- conv_bn_block ---------------------------------------------------------------------------

_KINDS = ((nn.Conv2d, "conv"), (nn.BatchNorm2d, "batchnorm"), (nn.ReLU, "relu"), (nn.Dropout2d, "dropout2d"),
          (nn.Dropout, "dropout"))  # fmt: skip


def _kind(layer: nn.Module) -> str:
    for cls, name in _KINDS:
        if type(layer) is cls:
            return name
    return type(layer).__name__


def _build_block(module: types.ModuleType, in_channels: int, out_channels: int, p: float | None) -> nn.Module:
    _manual_seed(0)
    args = (in_channels, out_channels) if p is None else (in_channels, out_channels, p)
    block = module.conv_bn_block(*args)
    if not isinstance(block, nn.Module):
        raise TypeError(f"conv_bn_block(...) returned a {type(block).__name__}, not an nn.Module")
    return block


def _load_state_by_shape(block: nn.Module, tensors: list[torch.Tensor]) -> str:
    """Parameters and BatchNorm's running statistics, in state-dict order, where every shape fits."""
    state = [(name, value) for name, value in block.state_dict().items() if value.is_floating_point()]
    if [list(v.shape) for _, v in state] != [list(t.shape) for t in tensors]:
        return f"mismatch: its state shapes are {[list(v.shape) for _, v in state]}; the reference's are {[list(t.shape) for t in tensors]}"
    with torch.no_grad():
        for (_, value), tensor in zip(state, tensors):
            value.copy_(tensor)
    return "order"


def conv_bn_report(module: types.ModuleType, in_channels: int, out_channels: int, p: float | None,
                   batch: torch.Tensor, state: list[torch.Tensor] | None = None) -> BlockReport:  # fmt: skip
    """conv_bn_block(in, out[, p]): its layers, its eval-mode output on `batch`; with `state`
    (floating-point state-dict tensors in order) loaded, that output again."""
    block = _build_block(module, in_channels, out_channels, p)
    children = list(block.children())
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    dropouts = [m for m in block.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    report: BlockReport = {
        "type": type(block).__name__,
        "sequential": isinstance(block, nn.Sequential),
        "kinds": [_kind(child) for child in children],
        "conv": [
            int(convs[0].kernel_size[0]),
            int(convs[0].padding[0]) if isinstance(convs[0].padding, tuple) else -1,
            int(convs[0].stride[0]),
        ]
        if convs
        else [],  # fmt: skip
        "total": sum(p.numel() for p in block.parameters()),
    }
    if dropouts:
        report["dropout_p"] = float(dropouts[0].p)
    report["output"] = _outputs(block, [batch])[0]
    if state is not None:
        report["mapping"] = _load_state_by_shape(block, state)
        if report["mapping"] == "order":
            report["loaded_output"] = _outputs(block, [batch])[0]
    return report


def conv_bn_dropout(module: types.ModuleType, in_channels: int, out_channels: int, p: float,
                    batch: torch.Tensor) -> DropoutReport:  # fmt: skip
    """In training mode, how many [sample, channel] feature maps come out zero everywhere.

    Dropout2d zeroes whole channels (about a share p of them); elementwise dropout and
    ReLU alone practically never zero a whole 16x16 map of a normalised channel.
    """
    block = _build_block(module, in_channels, out_channels, p)
    block.train()
    _manual_seed(1)
    with torch.no_grad():
        out = block(batch)
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise TypeError(f"conv_bn_block(...) gave {describe(out).get('type')} of shape "
                        f"{list(out.shape) if isinstance(out, torch.Tensor) else '?'} in training mode, not [N, C, H, W]")  # fmt: skip
    maps = out.shape[0] * out.shape[1]
    zero = int((out.flatten(2).abs().amax(dim=2) == 0).sum())
    return {"maps": int(maps), "zero_maps": zero}


# -- batch_images ----------------------------------------------------------------------------

PREPROCESS = ("to_tensor", "resize_normalize")


def _preprocess(name: str, seen: list[str]) -> Any:
    from torchvision import transforms

    steps = {
        "to_tensor": transforms.ToTensor(),
        "resize_normalize": transforms.Compose(
            [
                transforms.Resize(20),
                transforms.CenterCrop(20),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3)),
            ]
        ),  # fmt: skip
    }[name]

    def preprocess(image: Image.Image) -> torch.Tensor:
        seen.append(str(getattr(image, "mode", type(image).__name__)))
        return steps(image)

    return preprocess


def _image(spec: dict[str, Any]) -> Image.Image:
    pixels = spec["pixels"].numpy()
    image = Image.fromarray(pixels, "RGBA" if spec["mode"] in ("RGBA", "P") else ("L" if pixels.ndim == 2 else "RGB"))
    if spec["mode"] == "P":
        image = image.convert("RGB").convert("P")
    return image


def batch_images_report(module: types.ModuleType, images: list[dict[str, Any]], preprocess: str) -> BatchReport:
    """batch_images on images built from `images` ({"mode", "pixels" uint8}), with the named preprocess.

    Also what modes `preprocess` saw, and whether the list and the images handed over
    are as they were (same objects, same mode, size and pixels).
    """
    built = [_image(spec) for spec in images]
    given = list(built)
    before = [(im.mode, im.size, im.tobytes()) for im in built]
    seen: list[str] = []
    try:
        call: CallResult = {"ok": True, "result": describe(module.batch_images(given, _preprocess(preprocess, seen)))}
    except Exception as error:
        call = {"ok": False, "error": describe_exception(error)}
    return {
        "call": call,
        "modes_seen": seen,
        "list_unchanged": len(given) == len(built) and all(a is b for a, b in zip(given, built)),
        "images_unchanged": [(im.mode, im.size, im.tobytes()) for im in built] == before,
    }


# -- train_classifier ------------------------------------------------------------------------

# The trained models of this process, by training arguments: the checks that look at one
# training (its mode, its accuracy on two sets of images) share it. A worker that is
# replaced starts over.
_trained: dict[str, tuple[nn.Module | None, dict[str, Any]]] = {}


class _OverBudget(BaseException):
    """Raised by the budget's timers inside the student's training (not caught by `except Exception`)."""


def _cpu_seconds() -> float:
    usage = _getrusage(_RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _disarm(timers: bool) -> None:
    if timers:
        _setitimer(signal.ITIMER_PROF, 0)
        _setitimer(signal.ITIMER_REAL, 0)


def _key(pixels: torch.Tensor, labels: torch.Tensor, seed: int, limits: tuple[float, float], run: int) -> str:
    digest = hashlib.sha256()
    for tensor in (pixels, labels):
        digest.update(str((tensor.dtype, list(tensor.shape))).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    digest.update(repr((seed, limits, run)).encode())
    return digest.hexdigest()


def _train(module: types.ModuleType, pixels: torch.Tensor, labels: torch.Tensor, seed: int,
           cpu_limit: float, wall_limit: float) -> tuple[nn.Module | None, dict[str, Any]]:  # fmt: skip
    """Call train_classifier under the budget: ITIMER_PROF (CPU) and ITIMER_REAL (wall) raise inside it.

    Both timers repeat every half second, so code that swallows one stop meets the next.
    Whatever the timers managed, the CPU time is measured afterwards with functions bound
    before student code ran: a call past the budget is over budget, however it got there.
    """
    train_x, train_y = data.upscale(pixels), labels.clone()

    def stop(signum: int, frame: Any) -> None:
        raise _OverBudget

    info: dict[str, Any] = {"status": "ok"}
    model = None
    # The generator left in whatever state: code that does not seed itself trains differently each time.
    _manual_seed(int.from_bytes(_urandom(8), "little") >> 1)
    # Signals reach the main thread only: elsewhere (never in a worker) the budget is measured, not enforced.
    timers = threading.current_thread() is threading.main_thread()
    previous = {number: _signal(number, stop) for number in (signal.SIGPROF, signal.SIGALRM)} if timers else {}
    started_cpu, started_wall = _cpu_seconds(), _monotonic()
    try:
        try:
            if timers:
                _setitimer(signal.ITIMER_PROF, cpu_limit, 0.5)
                _setitimer(signal.ITIMER_REAL, wall_limit, 0.5)
            model = module.train_classifier(train_x, train_y, seed=seed)
        finally:
            _disarm(timers)
    except _OverBudget:
        info["status"] = "over_budget"
    except Exception as error:
        info = {"status": "error", "error": describe_exception(error)}
    finally:
        _disarm(timers)  # again: a stop may have landed in the first disarm, before it ran
        for number, handler in previous.items():
            _signal(number, handler)
    info["cpu_seconds"] = round(_cpu_seconds() - started_cpu, 3)
    info["wall_seconds"] = round(_monotonic() - started_wall, 3)
    if info["cpu_seconds"] > cpu_limit or info["wall_seconds"] > wall_limit:
        info = {"status": "over_budget"}
        info["cpu_seconds"] = round(_cpu_seconds() - started_cpu, 3)
        info["wall_seconds"] = round(_monotonic() - started_wall, 3)
    if info["status"] == "ok" and not isinstance(model, nn.Module):
        info = dict(info, status="error", error={"type": "TypeError", "traceback": "", "location": None,
                    "message": f"train_classifier returned a {type(model).__name__}, not an nn.Module"})  # fmt: skip
    return (model if info["status"] == "ok" else None), info


def _predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(images)


def train_report(module: types.ModuleType, pixels: torch.Tensor, labels: torch.Tensor, seed: int,
                 evaluate: dict[str, torch.Tensor], cpu_limit: float, wall_limit: float, run: int = 0) -> TrainReport:  # fmt: skip
    """train_classifier on the upscaled `pixels` (once per process for the same arguments),
    then the trained model's predicted class, in eval mode, for each image of each set in
    `evaluate` (8x8 pixels, upscaled here as the training images are).

    `run` numbers separate trainings with the same arguments (the determinism check's two calls).
    """
    key = _key(pixels, labels, seed, (cpu_limit, wall_limit), run)
    if key not in _trained:
        _trained[key] = _train(module, pixels, labels, seed, cpu_limit, wall_limit)
    model, info = _trained[key]
    report: TrainReport = {"status": info["status"], "cpu_seconds": info["cpu_seconds"],
                           "wall_seconds": info["wall_seconds"]}  # fmt: skip
    if "error" in info:
        report["error"] = info["error"]
    if model is None:
        return report
    report["type"] = type(model).__name__
    report["training_modules"] = [name or "(the model)" for name, m in model.named_modules() if m.training][:20]
    # Accuracy is the trained weights' (a model left in training mode loses the mode check's points only).
    model.eval()
    predictions: dict[str, list[int]] = {}
    for name, set_pixels in evaluate.items():
        images = data.upscale(set_pixels)
        try:
            output = _predict(model, images)
        except Exception as error:
            report["output"] = {"input_shape": list(images.shape), "ok": False, "error": describe_exception(error)}
            return report
        shown = describe(output)
        shown.pop("tensor", None)  # its shape and dtype are enough; the predictions follow
        if "output" not in report:
            report["output"] = {"input_shape": list(images.shape), "ok": True, "result": shown}
        if not (isinstance(output, torch.Tensor) and output.dim() == 2 and output.shape[0] == len(images)):
            return report
        predictions[name] = [int(i) for i in output.argmax(dim=1)]
    report["predictions"] = predictions
    return report
