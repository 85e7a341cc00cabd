"""conv_bn_block, hidden checks: the reference's output on the same state, and dropout of whole channels."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import answer, close, explain, max_difference, output_text, tensor_of

pytestmark = pytest.mark.question("conv_bn_block")

CALL = f"conv_bn_block({ev.BLOCK[0]}, {ev.BLOCK[1]})"


@pytest.mark.points(5, visibility="hidden")
def test_equivalence(evidence):
    """Eval mode, with the reference's weights and running statistics loaded: the same output."""
    got, want = ev.block_report(evidence, with_state=True)
    report = answer(evidence, got, CALL)
    if report.get("mapping") != "order":
        explain(evidence, f"The reference's weights and BatchNorm statistics cannot be loaded into {CALL}: "
                f"{str(report.get('mapping')).removeprefix('mismatch: ')}.",
                "Build exactly Conv2d(in, out, 3, padding=1) and BatchNorm2d(out), with nothing else that has parameters.")  # fmt: skip
    mine = report["loaded_output"]
    got_tensor = tensor_of(mine["result"]) if mine["ok"] else None
    want_tensor = tensor_of(want["loaded_output"]["result"])
    if not close(got_tensor, want_tensor, atol=1e-5, rtol=1e-4):
        detail = (
            f"largest difference {max_difference(got_tensor, want_tensor):.3g}"
            if got_tensor is not None
            else output_text(mine)
        )
        explain(evidence, f"With the reference's weights and running statistics loaded, {CALL} in eval mode gives "
                f"another output than the reference's ({detail}).",
                "In eval mode the block computes relu(batchnorm(conv(x))) with BatchNorm's running statistics; check the order.")  # fmt: skip


@pytest.mark.points(4, visibility="hidden")
def test_channel_dropout(evidence):
    """In training mode with p=0.5, about half of the [sample, channel] feature maps are dropped whole."""
    in_channels, out_channels, p, shape = ev.DROPOUT
    call = f"conv_bn_block({in_channels}, {out_channels}, p={p})"
    report = answer(evidence, ev.dropout_maps(evidence), f"{call} in training mode")
    share = report["zero_maps"] / max(1, report["maps"])
    if not 0.3 <= share <= 0.7:
        explain(evidence, f"{call} in training mode, on a batch of shape {list(shape)}, zeroed {report['zero_maps']} "
                f"of its {report['maps']} feature maps entirely ({share:.0%}); Dropout2d(p={p}) zeroes about half of them.",
                "Use nn.Dropout2d(p) as the block's last layer: it drops whole channels with probability p while training.")  # fmt: skip
