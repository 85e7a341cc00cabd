"""Check that a worker's reply has the shape its type says, before anything reads it.

A worker runs student code, so everything it sends may be forged: a reply written into
its own socket, a dict where a list belongs, a string of a million characters. Each
reply is checked against a Python type (the worker's envelope types below, or a probe's
return annotation): `validate(value, SomeTypedDict)` raises `SchemaError` naming the
first place that does not fit. Supported: Any, None, bool, int, float, str, Literal,
unions, list[...] (tuples arrive as lists), dict[str, ...], TypedDict (required and
optional keys, no others) and torch.Tensor.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from typing import Any, Literal, NotRequired, Required, TypedDict, Union

MAX_DEPTH = 32


class SchemaError(ValueError):
    """A value that does not have the expected shape; the message says where."""


def validate(value: Any, expected: Any, where: str = "reply") -> None:
    """Raise SchemaError unless `value` fits the type `expected`."""
    _check(value, expected, where, 0)


def _check(value: Any, expected: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SchemaError(f"{where}: nested too deeply")
    if expected is Any:
        return
    if expected is None or expected is type(None):
        if value is not None:
            _wrong(where, "None", value)
        return
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(expected):
            try:
                _check(value, option, where, depth + 1)
                return
            except SchemaError as error:
                errors.append(str(error))
        raise SchemaError(errors[0] if len(errors) == 1 else f"{where}: fits none of {_name(expected)}")
    if origin is Literal:
        options = typing.get_args(expected)
        if not any(type(value) is type(option) and value == option for option in options):
            raise SchemaError(f"{where}: expected one of {options}, got {_short(value)}")
        return
    if origin in (Required, NotRequired):
        _check(value, typing.get_args(expected)[0], where, depth)
        return
    if origin is list or expected is list:
        if not isinstance(value, list):
            _wrong(where, "a list", value)
        (item,) = typing.get_args(expected) or (Any,)
        for index, element in enumerate(value):
            _check(element, item, f"{where}[{index}]", depth + 1)
        return
    if origin is dict or expected is dict:
        if not isinstance(value, dict):
            _wrong(where, "an object", value)
        _, item = typing.get_args(expected) or (str, Any)
        for key, element in value.items():
            _check(element, item, f"{where}.{key}", depth + 1)
        return
    if typing.is_typeddict(expected):
        _check_typeddict(value, expected, where, depth)
        return
    if expected is float:
        if type(value) not in (int, float):
            _wrong(where, "a number", value)
        return
    if expected in (bool, int, str):
        if type(value) is not expected:
            _wrong(where, expected.__name__, value)
        return
    if isinstance(expected, type):
        if not isinstance(value, expected):
            _wrong(where, expected.__name__, value)
        return
    raise TypeError(f"schema: unsupported type {expected!r}")


def _check_typeddict(value: Any, expected: Any, where: str, depth: int) -> None:
    if not isinstance(value, dict):
        _wrong(where, f"an object ({expected.__name__})", value)
    hints, required = _hints(expected)
    missing = sorted(required - value.keys())
    if missing:
        raise SchemaError(f"{where}: missing {', '.join(missing)}")
    extra = sorted(str(key) for key in value.keys() - hints.keys())
    if extra:
        raise SchemaError(f"{where}: unexpected {', '.join(extra[:3])}")
    for key, element in value.items():
        _check(element, hints[key], f"{where}.{key}", depth + 1)


@functools.cache
def _hints(typed_dict: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """The keys' types, and which keys are required.

    Read from the resolved hints rather than `__required_keys__`, which cannot see
    `NotRequired[...]` in a module with postponed annotations (PEP 563).
    """
    module = sys.modules.get(typed_dict.__module__)
    hints = typing.get_type_hints(typed_dict, vars(module) if module else None, include_extras=True)
    total = getattr(typed_dict, "__total__", True)
    required = {
        key
        for key, hint in hints.items()
        if typing.get_origin(hint) is Required or (total and typing.get_origin(hint) is not NotRequired)
    }
    return hints, frozenset(required)


def return_type(function: Any) -> Any:
    """The return annotation of `function`, resolved (Any when it has none)."""
    try:
        return typing.get_type_hints(function).get("return", Any)
    except Exception:  # an annotation that cannot be resolved: no checking rather than a crash
        return Any


def _wrong(where: str, wanted: str, value: Any) -> typing.NoReturn:
    raise SchemaError(f"{where}: expected {wanted}, got {_short(value)}")


def _short(value: Any) -> str:
    kind = type(value).__name__
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return f"{kind} {text[:40]}{'...' if len(text) > 40 else ''}"
    return kind


def _name(expected: Any) -> str:
    return " | ".join(getattr(option, "__name__", repr(option)) for option in typing.get_args(expected))


# -- the worker's envelopes ---------------------------------------------------------------


class Location(TypedDict):
    file: str
    line: int | None
    function: str


class ErrorInfo(TypedDict):
    """An exception raised in the worker, as data."""

    type: str
    message: str
    traceback: str
    location: Location | None


class FailedUnit(TypedDict):
    """A unit of the submission that failed to run while loading."""

    type: str
    message: str
    traceback: str
    location: Location | None
    unit: str
    line: int
    excerpt: str


class LoadValue(TypedDict):
    failures: list[FailedUnit]
    threads: NotRequired[int]  # threads running after the load: a worker with more than one cannot be copied


class Success(TypedDict):
    id: int
    ok: Literal[True]
    value: Any


class Failure(TypedDict):
    id: int
    ok: Literal[False]
    error: ErrorInfo


class ProtectionsInfo(TypedDict):
    active: list[str]
    missing: list[str]


class Ready(TypedDict):
    event: Literal["ready"]
    protections: ProtectionsInfo


Reply = Success | Failure
