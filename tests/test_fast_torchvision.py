"""assignments/fast_torchvision.py: torchvision without TorchDynamo, and nothing lost by it.

In a fresh interpreter (this one imported torchvision long ago): after the preload's
import, `torch._dynamo` is not loaded and the stand-in is gone; roi_align, the one user
of what was skipped, answers as it does with the real function bound; and `torch.compile`
still works, importing the real package when first used.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a fresh interpreter importing torch, torchvision and TorchDynamo

ROI = """
from torchvision.ops import roi_align
x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
boxes = torch.tensor([[0, 0.5, 0.5, 6.0, 5.0], [1, 1.0, 2.0, 7.5, 7.0]])
report["roi"] = roi_align(x, boxes, 3, sampling_ratio=2, aligned=True).sum().item()
"""
FAST = (
    """
import json, sys, torch
from assignments.fast_torchvision import import_torchvision
import_torchvision(for_workers=False)
import torchvision
report = {"dynamo_loaded": "torch._dynamo" in sys.modules, "left": repr(sys.modules.get("torch._dynamo.utils"))}
bound = sys.modules["torchvision.ops.roi_align"].is_compile_supported
"""
    + ROI
    + """
import torch._dynamo.utils
report["bound_answers_as_real"] = bound("cpu") == torch._dynamo.utils.is_compile_supported("cpu")
fast_roi = report["roi"]
sys.modules["torchvision.ops.roi_align"].is_compile_supported = torch._dynamo.utils.is_compile_supported
"""
    + ROI
    + """
report["roi_as_with_dynamo"] = report["roi"] == fast_roi
report["compiled"] = torch.compile(lambda a: a * 2 + 1, backend="eager")(torch.ones(3)).tolist()
print(json.dumps(report))
"""
)


def _run(program: str) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def test_torchvision_without_dynamo_loses_nothing() -> None:
    fast = _run(FAST)
    assert fast["dynamo_loaded"] is False
    assert fast["left"] == "None", "the stand-in must not outlive the import"
    assert fast["bound_answers_as_real"] is True
    assert fast["roi_as_with_dynamo"] is True
    assert fast["compiled"] == [3.0, 3.0, 3.0]
