"""Expected values: the reference's answers to the same probes a submission gets.

`ReferenceProvider` runs a probe on the reference solution in the grading process and
remembers the answer for the whole batch (keyed by probe name and a digest of the
arguments). `AnswerKey` answers from a file written by `grade release`, for student
kits that have no reference; it holds only what the public checks asked for.
`Recorder` wraps a provider and keeps every answer it gives, to write such a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import torch
from safetensors.torch import load_file, save_file

from grader import wire
from grader.errors import SetupError

_KEY_JSON = "answers.json"
_KEY_TENSORS = "answers.safetensors"


class MissingExpectation(LookupError):
    """The answer key has no entry for this probe call (a hidden check in a student kit)."""


class Provider(Protocol):
    def probe(self, name: str, **args: Any) -> Any: ...


def digest(name: str, args: dict[str, Any]) -> str:
    """A stable key for a probe call: its name and the exact bytes of its arguments."""
    plain, tensors = wire.split(args)
    hasher = hashlib.sha256(name.encode())
    hasher.update(json.dumps(plain, sort_keys=True).encode())
    for key in sorted(tensors):
        tensor = tensors[key]
        hasher.update(f"{key}:{tensor.dtype}:{list(tensor.shape)}".encode())
        hasher.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return hasher.hexdigest()


class ReferenceProvider:
    """Runs probes on the reference module in this process, once per distinct call."""

    def __init__(self, reference: ModuleType, probes: ModuleType) -> None:
        self._reference = reference
        self._probes = probes
        self._cache: dict[str, Any] = {}

    def probe(self, name: str, **args: Any) -> Any:
        key = digest(name, args)
        if key not in self._cache:
            value = getattr(self._probes, name)(self._reference, **args)
            self._cache[key] = wire.roundtrip(value)  # shaped exactly as a student's answer
        return self._cache[key]


class Recorder:
    """Passes calls to another provider and keeps the answers, for an answer key."""

    def __init__(self, inner: Provider) -> None:
        self._inner = inner
        self.answers: dict[str, tuple[str, Any]] = {}

    def probe(self, name: str, **args: Any) -> Any:
        value = self._inner.probe(name, **args)
        self.answers[digest(name, args)] = (name, value)
        return value

    def save(self, folder: Path) -> None:
        """Write answers.json (plain data) and answers.safetensors (its tensors)."""
        plain, tensors = wire.split({key: value for key, (_, value) in self.answers.items()})
        entries = {key: {"probe": self.answers[key][0], "value": plain[key]} for key in sorted(plain)}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _KEY_JSON).write_text(json.dumps(entries, sort_keys=True, indent=1) + "\n")
        save_file(tensors, str(folder / _KEY_TENSORS))


class AnswerKey:
    """Answers from a saved key; a call it does not hold raises MissingExpectation."""

    def __init__(self, folder: Path) -> None:
        try:
            entries = json.loads((folder / _KEY_JSON).read_text())
            tensors = load_file(str(folder / _KEY_TENSORS))
        except (OSError, ValueError) as error:
            raise SetupError(f"the answer key in {folder} cannot be read ({error}); run `grade release` again.") from None
        self._answers = {key: wire.join(entry["value"], tensors) for key, entry in entries.items()}

    def probe(self, name: str, **args: Any) -> Any:
        key = digest(name, args)
        if key not in self._answers:
            raise MissingExpectation(f"the answer key has no expected value for probe {name!r}")
        return self._answers[key]
