"""Probes: the code that calls a submission's functions and reports what they did.

Each probe takes the loaded module (a student's, in the sandboxed worker; the
reference, in the grader process) and plain arguments, and returns plain data: numbers,
strings, lists, dicts and tensors. The rubric compares the student's answer with the
reference's answer to the same probe. Probes hold no expected values; they are shipped
to students with the public checks.

A probe catches the student's exceptions per case where one failing case should not
hide the others (conv_out's grid), and otherwise lets them propagate: the worker turns
them into a StudentError for the check that asked.
"""

from __future__ import annotations

import types
from typing import Any, NotRequired, TypedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models
from PIL import Image
from torchvision.models import AlexNet_Weights

from grader.describe import Described, describe
from grader.schema import ErrorInfo
from grader.tensors import Mappings, same_file_bytes
from grader.worker import describe_exception

# Library code the probes call, checked for replacement around every call (grader/integrity.py).
WATCHED_MODULES = ("torchvision.models",)

WEIGHTS = AlexNet_Weights.IMAGENET1K_V1
# Bound before any student code runs: patching torch.equal later cannot fool the probes.
# (A submission can only ever falsify its own answers; expected values are computed
# outside the worker.)
_equal = torch.equal


# What each probe answers: the grader checks every answer against these types before
# a check reads it (grader/schema.py), so a forged or garbled answer fails cleanly.


class CallResult(TypedDict):
    """One call of a student function: its described result, or the exception it raised."""

    ok: bool
    result: NotRequired[Described]
    error: NotRequired[ErrorInfo]
    training_after: NotRequired[bool]


class Parameter(TypedDict):
    name: str
    shape: list[int]
    requires_grad: bool


class TinySummary(TypedDict):
    parameters: list[Parameter]
    total: int
    output: NotRequired[Described]


class TinyForward(TypedDict):
    mapping: str  # "shape", "order", or "mismatch: ..." (then no output)
    output: NotRequired[Described]


class Gradient(TypedDict):
    name: str
    has_grad: bool


class TinyGradients(TypedDict):
    grads: list[Gradient]


class Matches(TypedDict):
    missing: list[str]
    different: list[str]


class EmbeddingReport(TypedDict):
    result: Described
    is_tensor: bool
    training_after: list[bool]
    requires_grad_unchanged: bool
    parameters: Matches
    hooks_added: int


class Head(TypedDict):
    present: bool
    type: NotRequired[str]
    in_features: NotRequired[int | None]
    out_features: NotRequired[int | None]


class FinetuneReport(TypedDict):
    head: Head
    names: list[str]
    total: int
    trainable: int
    trainable_names: list[str]
    backbone: NotRequired[Matches]
    output_shape: list[int]
    with_grad: list[str]


def conv_out_cases(module: types.ModuleType, cases: list[dict[str, Any]]) -> list[CallResult]:
    """Call conv_out on each case ({"args": [...], "kwargs": {...}}), one result each."""
    results = []
    for case in cases:
        try:
            value = module.conv_out(*case.get("args", []), **case.get("kwargs", {}))
            results.append({"ok": True, "result": describe(value)})
        except Exception as error:
            results.append({"ok": False, "error": describe_exception(error)})
    return results


def _parameters(model: nn.Module) -> list[Parameter]:
    return [
        {"name": name, "shape": list(p.shape), "requires_grad": bool(p.requires_grad)}
        for name, p in model.named_parameters()
    ]


def _build_tiny(module: types.ModuleType, num_classes: int | None) -> nn.Module:
    model = module.TinyCNN() if num_classes is None else module.TinyCNN(num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"TinyCNN(...) built a {type(model).__name__}, not an nn.Module")
    return model


def tiny_cnn_summary(
    module: types.ModuleType, num_classes: int | None, batch: torch.Tensor | None = None
) -> TinySummary:
    """Build TinyCNN(num_classes); its parameters, and its output on `batch`."""
    torch.manual_seed(0)
    model = _build_tiny(module, num_classes)
    summary: TinySummary = {
        "parameters": _parameters(model),
        "total": sum(p.numel() for p in model.parameters()),
    }
    if batch is not None:
        model.eval()
        with torch.no_grad():
            summary["output"] = describe(model(batch))
    return summary


def _load_by_shape(model: nn.Module, tensors: list[torch.Tensor]) -> str:
    """Copy `tensors` into the model's parameters: by shape if shapes are unique, else in order.

    Matching by shape accepts any layer names and any registration order; with all
    shapes distinct (true for TinyCNN at 10 classes) it is unambiguous. Returns how they
    were matched, or why they cannot be (the model's layers are not the reference's).
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


def tiny_cnn_forward_with(module: types.ModuleType, tensors: list[torch.Tensor], batch: torch.Tensor) -> TinyForward:
    """TinyCNN(10) with the given weights loaded, run on `batch`: the logits (none if they do not fit)."""
    model = _build_tiny(module, 10)
    mapping = _load_by_shape(model, tensors)
    if mapping.startswith("mismatch"):
        return {"mapping": mapping}
    model.eval()
    with torch.no_grad():
        output = model(batch)
    return {"mapping": mapping, "output": describe(output)}


def tiny_cnn_gradients(module: types.ModuleType, batch: torch.Tensor, target: torch.Tensor) -> TinyGradients:
    """One cross-entropy backward pass: which parameters received a nonzero gradient."""
    torch.manual_seed(0)
    model = _build_tiny(module, 10)
    model.train()
    loss = F.cross_entropy(model(batch), target)
    loss.backward()
    return {
        "grads": [
            {"name": n, "has_grad": p.grad is not None and bool(p.grad.abs().sum() > 0)}
            for n, p in model.named_parameters()
        ]
    }


def _pretrained() -> nn.Module:
    # Looked up at call time: the grader may have installed a faster builder after import.
    return torchvision.models.alexnet(weights=WEIGHTS).eval()


def _images(images: list[torch.Tensor]) -> list[Image.Image]:
    return [Image.fromarray(image.numpy(), "RGB") for image in images]


class _Unnormalised:
    """AlexNet's weights, but `transforms()` skips the mean/std normalisation.

    Handed to the reference, it gives the answer of a submission that forgot to
    normalise, so a check can recognise that mistake instead of guessing it.
    """

    meta = WEIGHTS.meta

    def transforms(self) -> Any:
        return WEIGHTS.transforms(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def top5(module: types.ModuleType, images: list[torch.Tensor], preprocessing: str = "weights") -> list[CallResult]:
    """predict_top5 on each photo (one pretrained AlexNet, built once: ~0.1 s each).

    `preprocessing="unnormalised"` hands over weights whose transforms skip normalisation.
    """
    results: list[CallResult] = []
    model = _pretrained()
    weights = {"weights": WEIGHTS, "unnormalised": _Unnormalised()}[preprocessing]
    for image in _images(images):
        try:
            value = module.predict_top5(model, weights, image)
            results.append({"ok": True, "result": describe(value), "training_after": model.training})
        except Exception as error:
            results.append({"ok": False, "error": describe_exception(error)})
    return results


def _hook_count(model: nn.Module) -> int:
    count = 0
    for sub in model.modules():
        for attribute in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            count += len(getattr(sub, attribute, {}) or {})
    for name in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks"):
        count += len(getattr(nn.modules.module, name, {}) or {})
    return count


def _matches_pretrained(model: nn.Module, skip: tuple[str, ...] = ()) -> Matches:
    """Which of the pretrained tensors the model holds unchanged (by name)."""
    reference = WEIGHTS.get_state_dict()
    state = model.state_dict()
    mappings = Mappings()  # equal file bytes, never written: no need to read 244 MB
    missing, different = [], []
    for name, tensor in reference.items():
        if name.startswith(skip):
            continue
        if name not in state or state[name].shape != tensor.shape:
            missing.append(name)
        elif not (same_file_bytes(state[name], tensor, mappings) or _equal(state[name], tensor)):
            different.append(name)
    return {"missing": missing, "different": different}


def embedding(module: types.ModuleType, batch: torch.Tensor, mode: str = "eval") -> EmbeddingReport:
    """extract_embedding on a pretrained AlexNet in `mode`; the result and the side effects."""
    model = _pretrained()
    model.train(mode == "train")
    flags_before = [p.requires_grad for p in model.parameters()]
    hooks_before = _hook_count(model)
    value = module.extract_embedding(model, batch)
    return {
        "result": describe(value),
        "is_tensor": isinstance(value, torch.Tensor),
        "training_after": [m.training for m in model.modules()],
        "requires_grad_unchanged": flags_before == [p.requires_grad for p in model.parameters()],
        "parameters": _matches_pretrained(model),
        "hooks_added": _hook_count(model) - hooks_before,
    }


def _build_finetune(module: types.ModuleType, num_classes: int | None, freeze: bool | None) -> nn.Module:
    kwargs: dict[str, Any] = {}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if freeze is not None:
        kwargs["freeze_backbone"] = freeze
    model = module.build_finetune_model(**kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_finetune_model returned a {type(model).__name__}, not an nn.Module")
    return model


def finetune(
    module: types.ModuleType,
    num_classes: int | None,
    freeze: bool | None,
    image: torch.Tensor,
    compare_backbone: bool = False,
) -> FinetuneReport:
    """Build the fine-tune model; its head and parameter counts, its output on one photo,
    and which parameters one cross-entropy backward pass reaches."""
    torch.manual_seed(0)
    model = _build_finetune(module, num_classes, freeze)
    head: Head = {"present": False}
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and len(classifier) > 6:
        layer = classifier[6]
        head = {"present": True, "type": type(layer).__name__,
                "in_features": getattr(layer, "in_features", None),
                "out_features": getattr(layer, "out_features", None)}  # fmt: skip
    named = list(model.named_parameters())
    summary: FinetuneReport = {
        "head": head,
        "names": [n for n, _ in named],
        "total": sum(p.numel() for _, p in named),
        "trainable": sum(p.numel() for _, p in named if p.requires_grad),
        "trainable_names": [n for n, p in named if p.requires_grad],
    }
    if compare_backbone:
        summary["backbone"] = _matches_pretrained(model, skip=("classifier.6.",))
    model.eval()  # no dropout noise; gradients reach the same parameters
    batch = WEIGHTS.transforms()(_images([image])[0]).unsqueeze(0)
    output = model(batch)
    summary["output_shape"] = list(output.shape)
    summary["with_grad"] = []
    if output.requires_grad and output.dim() == 2:
        loss = F.cross_entropy(output, torch.zeros(1, dtype=torch.long))
        reached = _reached(loss)
        summary["with_grad"] = [n for n, p in named if id(p) in reached]
        _backward_cheaply(loss, [p for _, p in named if id(p) in reached])
    return summary


def _reached(loss: torch.Tensor) -> set[int]:
    """ids of the parameters a backward pass from `loss` gives a gradient: its graph's leaves."""
    leaves: set[int] = set()
    seen: set[Any] = set()
    stack = [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf tensor
        if variable is not None:
            leaves.add(id(variable))
        stack.extend(following for following, _ in node.next_functions)
    return leaves


def _backward_cheaply(loss: torch.Tensor, reached: list[nn.Parameter]) -> None:
    """A real backward pass (a model whose backward fails must fail here), but into the
    biases only when there are any: the gradient still flows through every layer, while
    the weight gradients of the large layers (220 MB for AlexNet's classifier) are skipped."""
    if reached:
        loss.backward(inputs=[p for p in reached if p.dim() == 1] or reached)
