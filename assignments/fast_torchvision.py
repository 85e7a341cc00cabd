"""Import torchvision without importing TorchDynamo, for the assignments that preload it.

`import torchvision` reaches `torchvision.ops.roi_align`, whose only use of TorchDynamo is
`from torch._dynamo.utils import is_compile_supported`, called when `roi_align` runs. That
one line imports all of `torch._dynamo`: about 1.2 s of CPU, a third of a cold start, paid
by the grading host and its zygote each time `grade`, `grade check` or a notebook check
starts. Measured on this machine: torchvision's import takes 0.13 s instead of 1.4 s.

`import_torchvision()` lets torchvision bind a stand-in whose calls go to the real function,
imported on its first call. The stand-in is in `sys.modules` only during the import:
anything that imports `torch._dynamo` afterwards (`torch.compile` in student code, say)
gets the real package, as it would have.
"""

from __future__ import annotations

import importlib
import sys
import types

DYNAMO_UTILS = "torch._dynamo.utils"


def import_torchvision() -> None:
    """`import torchvision`, leaving `torch._dynamo` to whoever needs it."""
    if "torchvision" in sys.modules or DYNAMO_UTILS in sys.modules:
        return  # imported already: nothing to save
    stand_in = types.ModuleType(DYNAMO_UTILS, "Stands in for torch._dynamo.utils while torchvision is imported.")

    def is_compile_supported(device_type: str) -> bool:
        return bool(importlib.import_module(DYNAMO_UTILS).is_compile_supported(device_type))

    stand_in.is_compile_supported = is_compile_supported  # type: ignore[attr-defined]
    sys.modules[DYNAMO_UTILS] = stand_in
    try:
        import torchvision  # noqa: F401
    finally:
        if sys.modules.get(DYNAMO_UTILS) is stand_in:
            del sys.modules[DYNAMO_UTILS]
