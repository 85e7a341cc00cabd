"""conv_bn_block, public checks: the layers and their order, the output shape, the dropout probability."""

from __future__ import annotations

import pytest

from assignments.cnn_blocks import facts
from assignments.cnn_blocks.checks import detectors
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.support import answer, explain, output_text

pytestmark = pytest.mark.question("conv_bn_block")

CALL = f"conv_bn_block({ev.BLOCK[0]}, {ev.BLOCK[1]})"


@pytest.mark.points(5, visibility="public")
def test_layer_order(evidence):
    got, _ = ev.block_report(evidence)
    report = answer(evidence, got, CALL)
    kinds = ["dropout" if kind.startswith("dropout") else kind for kind in report["kinds"]]
    if not report["sequential"] or kinds != ["conv", "batchnorm", "relu", "dropout"]:
        explain(evidence, f"{CALL} returned a {report['type']} of the layers {report['kinds']}; expected an "
                "nn.Sequential of Conv2d, BatchNorm2d, ReLU and Dropout2d, in that order.",
                "Return nn.Sequential(nn.Conv2d(...), nn.BatchNorm2d(...), nn.ReLU(), nn.Dropout2d(p)).")  # fmt: skip


@pytest.mark.points(4, visibility="public")
def test_output_shape(evidence):
    got, _ = ev.block_report(evidence)
    report = answer(evidence, got, CALL)
    n, _, h, w = ev.BLOCK_BATCH
    output = report["output"]
    if not output["ok"] or output["result"].get("shape") != [n, ev.BLOCK[1], h, w]:
        explain(evidence, f"{CALL} in eval mode, on a batch of shape {list(ev.BLOCK_BATCH)}, "
                f"{'returned ' if output['ok'] else ''}{output_text(output)}; expected shape [{n}, {ev.BLOCK[1]}, {h}, {w}].",
                "A 3x3 convolution with padding=1 keeps the height and width; the block changes only the channels.")  # fmt: skip


@pytest.mark.points(2, visibility="public")
def test_dropout_p(evidence):
    for p, want in ((None, facts.DEFAULT_DROPOUT), (detectors.DROPOUT_P_ASKED, detectors.DROPOUT_P_ASKED)):
        call = CALL if p is None else f"conv_bn_block({ev.BLOCK[0]}, {ev.BLOCK[1]}, p={p})"
        got, _ = ev.block_report(evidence, p)
        report = answer(evidence, got, call)
        if report.get("dropout_p") != want:
            explain(evidence, f"{call} has {'a dropout probability of ' + str(report['dropout_p']) if 'dropout_p' in report else 'no dropout layer'}; "
                    f"expected {want}.", f"Use nn.Dropout2d(p) with the p argument (default {facts.DEFAULT_DROPOUT}).")  # fmt: skip
