"""Expected values: the reference's answers to the same probes a submission gets.

`ReferenceProvider` runs a probe on the reference solution in the grading process and
remembers the answer for the whole batch (keyed by probe name and a digest of the
arguments). `AnswerKey` answers from a file written by `grade release`, for student
kits that have no reference; it holds only what the public checks asked for.
`Recorder` wraps a provider and keeps every answer it gives, to write such a file.

Expected values depend on the resources they were computed with (model weights, say),
so a key also records the SHA-256 of each resource file (`key.json`), and a kit refuses
to compare against a key made with other files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import torch
from safetensors.torch import load_file, save_file

from grader import wire
from grader.assignment import Assignment
from grader.errors import SetupError
from grader.failures import MissingExpectation
from grader.resources import resource_digests

_KEY_JSON = "answers.json"
_KEY_TENSORS = "answers.safetensors"
_KEY_INFO = "key.json"


class Provider(Protocol):
    def probe(self, name: str, **args: Any) -> Any: ...


def digest(name: str, args: dict[str, Any]) -> str:
    """A stable key for a probe call: its name and the exact bytes of its arguments.

    Checks pass the same argument tensors (cached probe photos) again and again; a call
    whose tensors are the very objects of an earlier call, unchanged since (same version
    counter, storage, shape and strides), reuses that call's digest instead of hashing
    megabytes again.
    """
    plain, tensors = wire.split(args, copy=False)
    document = json.dumps(plain, sort_keys=True)
    keys = sorted(tensors)
    identity = (name, document, tuple((key, *_tensor_state(tensors[key])) for key in keys))
    remembered = _DIGESTS.get(identity)
    if remembered is not None and all(ref() is tensors[key] for key, ref in remembered[0]):
        return remembered[1]
    hasher = hashlib.sha256(name.encode())
    hasher.update(document.encode())
    for key in keys:
        tensor = tensors[key].detach().cpu().contiguous()
        hasher.update(f"{key}:{tensor.dtype}:{list(tensor.shape)}".encode())
        hasher.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    if len(_DIGESTS) > 4096:  # calls with fresh tensors each time: start over rather than grow
        _DIGESTS.clear()
    _DIGESTS[identity] = (tuple((key, weakref.ref(tensors[key])) for key in keys), hasher.hexdigest())
    return hasher.hexdigest()


def _tensor_state(tensor: torch.Tensor) -> tuple[Any, ...]:
    return (id(tensor), tensor._version, tensor.data_ptr(), str(tensor.dtype), tuple(tensor.shape), tensor.stride())


# (name, arguments as JSON, tensor identities) -> (weak references to the tensors, digest)
_DIGESTS: dict[tuple[Any, ...], tuple[tuple[tuple[str, weakref.ref[torch.Tensor]], ...], str]] = {}


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

    def save(self, folder: Path, *, made_with: dict[str, Any] | None = None) -> None:
        """Write answers.json (plain data), answers.safetensors (its tensors) and key.json.

        `made_with` is the engine's `describe` (the resources in use); key.json keeps the
        kind and SHA-256 of each resource file, for `AnswerKey.verify`.
        """
        plain, tensors = wire.split({key: value for key, (_, value) in self.answers.items()})
        entries = {key: {"probe": self.answers[key][0], "value": plain[key]} for key in sorted(plain)}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _KEY_JSON).write_text(json.dumps(entries, sort_keys=True, indent=1) + "\n")
        save_file(tensors, str(folder / _KEY_TENSORS))
        info = {
            "made_with": resource_digests(made_with or {}),
            "probes": sorted({name for name, _ in self.answers.values()}),
        }
        (folder / _KEY_INFO).write_text(json.dumps(info, sort_keys=True, indent=1) + "\n")


class AnswerKey:
    """Answers from a saved key; a call it does not hold raises MissingExpectation."""

    def __init__(self, folder: Path) -> None:
        try:
            entries = json.loads((folder / _KEY_JSON).read_text())
            tensors = load_file(str(folder / _KEY_TENSORS))
        except (OSError, ValueError) as error:
            raise SetupError(
                f"the answer key in {folder} cannot be read ({error}); run `grade release` again."
            ) from None
        self._answers = {key: wire.join(entry["value"], tensors) for key, entry in entries.items()}
        self.folder = folder

    def verify(self, describe: dict[str, Any]) -> None:
        """Raise SetupError unless this run's resource files are those the key was made with."""
        verify_key(self.folder, describe)

    def probe(self, name: str, **args: Any) -> Any:
        key = digest(name, args)
        if key not in self._answers:
            raise MissingExpectation(f"the answer key has no expected value for probe {name!r}")
        return self._answers[key]


def verify_key(folder: Path, describe: dict[str, Any]) -> None:
    """Raise SetupError unless this run's resource files (`describe`) are those the answer key in `folder`
    was made with (read from its key.json alone: checked before anything slow starts)."""
    current = resource_digests(describe)
    for name, want in sorted(read_key_info(folder).get("made_with", {}).items()):
        got = current.get(name, {})
        if got.get("sha256") != want["sha256"]:
            if want["kind"] not in ("custom", got.get("kind")):
                fix = f"rerun with --{name} {want['kind']}"
            else:  # same kind, other bytes: another stand-in build, or another file
                fix = f"use the {name} file with SHA-256 {want['sha256']} (--{name} PATH), or ask for a kit made with yours"
            raise SetupError(
                f"the answer key in {folder} was made with {name} {want['kind']} (SHA-256 {want['sha256']}), "
                f"but this run uses {got.get('kind', 'none')} (SHA-256 {got.get('sha256', 'none')}), "
                f"so its expected values would not apply: {fix}."
            )


def read_key_info(folder: Path) -> dict[str, Any]:
    """key.json of the answer key in `folder` ({} when there is none: a key from before it)."""
    try:
        info = json.loads((folder / _KEY_INFO).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SetupError(f"{folder / _KEY_INFO} cannot be read ({error}); run `grade release` again.") from None
    made_with = info.get("made_with", {}) if isinstance(info, dict) else None
    if not isinstance(made_with, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("kind"), str) and isinstance(entry.get("sha256"), str)
        for entry in made_with.values()
    ):
        raise SetupError(f"{folder / _KEY_INFO} is not an answer key's record; run `grade release` again.")
    return info


def key_options(options: dict[str, str], folder: Path) -> dict[str, str]:
    """Resource options with `auto` replaced by the kind the answer key in `folder` was made with.

    In a student kit `--weights auto` then means "the weights my answer key expects"
    (the stand-in, say) even on a machine that also holds the official file.
    """
    made_with = read_key_info(folder).get("made_with", {})
    resolved = dict(options)
    for name, value in options.items():
        kind = made_with.get(name, {}).get("kind")
        if value == "auto" and kind and kind != "custom":
            resolved[name] = kind
    return resolved


def uses_answer_key(assignment: Assignment, expected: str) -> bool:
    """Whether expected values will come from the answer key (decided without importing the reference).

    `expected` is "reference", "answer-key", or "auto" (the reference where it is installed).
    """
    if expected == "answer-key":
        return True
    return expected == "auto" and importlib.util.find_spec(assignment.reference.split(".")[0]) is None


def make_provider(assignment: Assignment, expected: str) -> Provider:
    """The reference's answers, or (in a student kit) the answer key's; SetupError with the fix if neither."""
    probes = importlib.import_module(assignment.probes)
    reference = None if expected == "answer-key" else assignment.reference_module()
    if reference is not None:
        return ReferenceProvider(reference, probes)
    if expected == "reference":
        raise SetupError(
            f"the reference solution {assignment.reference} is not installed here; hidden checks and "
            "`grade release` need it (a student kit runs the public checks only: drop --all)."
        )
    if not assignment.answer_key_dir.is_dir():
        raise SetupError(
            f"no reference solution and no answer key in {assignment.answer_key_dir}; a student kit made by `grade release` has one."
        )
    return AnswerKey(assignment.answer_key_dir)
