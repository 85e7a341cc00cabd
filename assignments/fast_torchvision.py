"""Import torchvision without importing TorchDynamo where nothing needs it: the grading host.

`import torchvision` reaches `torchvision.ops.roi_align`, whose only use of TorchDynamo is
`from torch._dynamo.utils import is_compile_supported`, called when `roi_align` runs. That
one line imports all of `torch._dynamo`: about 1.2 s of CPU, paid by the grading host each
time `grade`, `grade check` or a notebook check starts, although the host only computes
expected values and never needs it. Measured on this machine: torchvision's import takes
0.13 s instead of 1.4 s.

Workers do need it: constructing any optimizer imports `torch._dynamo`. So the zygote
imports it once (`for_workers=True`), and no submission pays for it.

For the host, torchvision binds a stand-in whose calls go to the real function, imported
on its first call. The stand-in is in `sys.modules` only during the import: anything that
imports `torch._dynamo` afterwards (an optimizer, `torch.compile`) gets the real package,
as it would have.
"""

from __future__ import annotations

import importlib
import sys
import types

DYNAMO_UTILS = "torch._dynamo.utils"


def import_torchvision(*, for_workers: bool) -> None:
    """`import torchvision`; with TorchDynamo for workers, without it for the host."""
    if for_workers:
        import torch._dynamo  # noqa: F401  (an optimizer's constructor imports it: once here, not per submission)
        import torchvision  # noqa: F401

        return
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
