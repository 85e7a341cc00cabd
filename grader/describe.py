"""Describe arbitrary student return values as plain data, for probes in the worker.

A probe cannot send a student's object back (that would need pickle), and should not
trust it to behave (its `__eq__`, `__len__` or `__str__` may raise or lie). So values
are described defensively: the exact type name, and for the types a rubric reasons
about (numbers, strings, tensors, sequences) their content.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import torch

MAX_ITEMS = 64
MAX_TENSOR_ELEMENTS = 1 << 20
MAX_STRING = 10_000


class Described(TypedDict):
    """What `describe` tells of a value (the type always; the rest as it applies)."""

    type: str
    value: NotRequired[None | bool | int | float | str]
    length: NotRequired[int]
    items: NotRequired[list[Described]]
    dtype: NotRequired[str]
    shape: NotRequired[list[int]]
    requires_grad: NotRequired[bool]
    has_grad_fn: NotRequired[bool]
    tensor: NotRequired[torch.Tensor]
    broken: NotRequired[str]


def type_name(value: Any) -> str:
    """'int', 'float', 'numpy.int64', 'torch.Tensor', 'list', 'tuple', 'mymodule.Thing'."""
    kind = type(value)
    module = kind.__module__
    if module == "builtins":
        return kind.__qualname__
    if module.startswith("numpy"):
        return f"numpy.{kind.__qualname__}"
    if module.startswith("torch"):
        return f"torch.{kind.__qualname__}"
    return f"{module}.{kind.__qualname__}"


def describe(value: Any, depth: int = 0) -> Described:
    """Plain data about `value`: always a "type", plus "value"/"items"/tensor fields."""
    name = type_name(value)
    try:
        if type(value) is str:
            return {"type": name, "value": value[:MAX_STRING]}
        if value is None or type(value) in (bool, int, float):
            return {"type": name, "value": value}
        if isinstance(value, torch.Tensor):
            return _describe_tensor(value, name)
        if type(value).__module__.startswith("numpy") and hasattr(value, "item"):
            if getattr(value, "shape", ()) == ():
                return {"type": name, "value": value.item()}
            return _describe_tensor(torch.as_tensor(value), name)
        if type(value) in (list, tuple) and depth < 3:
            return {
                "type": name,
                "length": len(value),
                "items": [describe(item, depth + 1) for item in list(value)[:MAX_ITEMS]],
            }
        if isinstance(value, (int, float, str)):  # a subclass: keep the value, not the behaviour
            base = int if isinstance(value, int) else float if isinstance(value, float) else str
            plain = base(value)
            return {"type": name, "value": plain[:MAX_STRING] if isinstance(plain, str) else plain}
    except Exception as error:  # a hostile or broken object: say so, do not crash the probe
        return {"type": name, "broken": f"{type(error).__name__}: {error}"[:300]}
    return {"type": name}


def _describe_tensor(value: torch.Tensor, name: str) -> Described:
    info: Described = {
        "type": name,
        "dtype": str(value.dtype).replace("torch.", ""),
        "shape": list(value.shape),
        "requires_grad": bool(value.requires_grad),
        "has_grad_fn": value.grad_fn is not None,
    }
    if value.numel() <= MAX_TENSOR_ELEMENTS and value.layout == torch.strided:
        info["tensor"] = value.detach().to("cpu").clone()
    return info


def number(description: Described | dict[str, Any]) -> float | None:
    """The numeric value of a described scalar (int, float, 0-d tensor), else None."""
    if description.get("type") == "bool":
        return None
    value = description.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    tensor = description.get("tensor")
    if isinstance(tensor, torch.Tensor) and tensor.numel() == 1 and not tensor.dtype == torch.bool:
        return tensor.item()
    return None
