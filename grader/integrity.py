"""Notice when student code replaces the code the grader's probes run on, in the worker.

A probe reports what the student's function did (a parameter count, a mode, hooks left
behind) by running the grader's code in the worker, next to the student's. Student code
could replace that code (the probe itself, `describe`, `torch.equal`, a builtin) to make
a wrong answer look right. So the zygote takes a `Snapshot` of every function those
probes may call before any student code exists, and the worker compares it before and
after every probe call: a replaced function fails the call as tampering, and the check
says so. (Student code that also defeats this check must be written for it, in plain
sight in the submission; see the README's security model.)
"""

from __future__ import annotations

import builtins
import importlib
import sys
from types import ModuleType
from typing import Any

# Namespaces whose functions the probes call, besides the probes module and grader's own. A probes
# module adds the libraries its probes rely on as `WATCHED_MODULES = ("library.module", ...)`.
_WATCHED_MODULES = ("torch", "torch.nn.functional", "grader.describe", "grader.tensors",
                    "grader.worker", "grader.wire", "grader.integrity")  # fmt: skip
_WATCHED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"))


class Snapshot:
    """Which object (and which code object) each watched name held when it was taken."""

    def __init__(self, probes: str) -> None:
        self._probes = probes
        self._module = sys.modules.get(probes)
        self._entries: list[tuple[str, dict[str, Any], str, Any, Any]] = []
        probes_module = importlib.import_module(probes)
        namespaces: list[tuple[str, dict[str, Any]]] = [(probes, vars(probes_module))]
        for name in (*_WATCHED_MODULES, *getattr(probes_module, "WATCHED_MODULES", ())):
            module = sys.modules.get(name)
            if isinstance(module, ModuleType):
                namespaces.append((name, vars(module)))
        for module_name, class_name in _WATCHED_CLASSES:
            owner = getattr(sys.modules.get(module_name), class_name, None)
            if isinstance(owner, type):
                namespaces.append((f"{module_name}.{class_name}", owner.__dict__))  # type: ignore[arg-type]
        namespaces.append(("builtins", vars(builtins)))
        for label, namespace in namespaces:
            for key, value in list(namespace.items()):
                if callable(value) and not isinstance(value, type | ModuleType):
                    self._entries.append((label, namespace, key, value, getattr(value, "__code__", None)))

    def changed(self) -> list[str]:
        """Names whose object or code was replaced since the snapshot (empty when none)."""
        found = []
        if sys.modules.get(self._probes) is not self._module:
            found.append(f"the module {self._probes}")
        for label, namespace, key, value, code in self._entries:
            current = namespace.get(key)
            if current is not value or (code is not None and getattr(current, "__code__", None) is not code):
                found.append(f"{label}.{key}")
        return found
