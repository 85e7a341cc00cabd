"""Build the notebook fixtures in ``correct/`` (deterministically: fixed cell ids, no outputs).

    python tests/submissions/make_notebooks.py           # (re)write the .ipynb fixtures
    python tests/submissions/make_notebooks.py --check   # exit 1 if one is out of date

``notebook_with_magics.ipynb`` is a correct submission written the way students write
notebooks: markdown between the cells, IPython magics and shell escapes (``%matplotlib
inline``, ``!pip list``, ``files = !ls``, a ``%%time`` cell that defines TinyCNN), a
``display`` call, and a demo cell that fails (it opens a photo that is not there). The
grader must run the magics harmlessly, report the failing cell and still score 100.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# The demo cell that raises FileNotFoundError; tests/test_feedback.py looks for it.
FAILING_DEMO = """\
# Try it on my own photo
photo = Image.open("holiday_photo.jpg").convert("RGB")
model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1).eval()
predict_top5(model, AlexNet_Weights.IMAGENET1K_V1, photo)"""

MAGICS: list[tuple[str, str]] = [
    ("md", "# CNN basics\n\nMy solutions. Run the cells in order."),
    ("code", """\
%matplotlib inline
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.models import AlexNet_Weights, alexnet"""),
    ("code", "!pip list | grep torch\nfiles = !ls\nprint(files)"),
    ("md", "## 1. `conv_out`\n\nfloor((in + 2·pad − d·(k − 1) − 1) / stride) + 1"),
    ("code", """\
def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1

conv_out(32, 3, 1, 1), conv_out(10, 3, dilation=2)"""),
    ("md", "## 2. `TinyCNN`"),
    ("code", """\
%%time
class TinyCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 8 * 8, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(torch.flatten(x, 1))

tiny = TinyCNN()
display(tiny(torch.randn(2, 3, 32, 32)).shape)"""),
    ("md", "## 3. Top-5 with AlexNet"),
    ("code", """\
def predict_top5(model, weights, image):
    batch = weights.transforms()(image).unsqueeze(0)
    with torch.no_grad():
        probs = torch.softmax(model(batch), dim=1)[0]
    values, indices = torch.topk(probs, 5)
    return [(weights.meta["categories"][int(i)], float(v)) for v, i in zip(values, indices)]"""),
    ("code", FAILING_DEMO),
    ("md", "## 4. Embedding\n\nThe activations after `classifier[5]`."),
    ("code", """\
def extract_embedding(model, batch):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        x = torch.flatten(model.avgpool(model.features(batch)), 1)
        out = model.classifier[:6](x)
    model.train(was_training)
    return out"""),
    ("md", "## 5. Fine-tuning"),
    ("code", """\
def build_finetune_model(num_classes=10, freeze_backbone=True):
    model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    for p in model.parameters():
        p.requires_grad = not freeze_backbone
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model"""),
    ("code", "plt.plot([conv_out(n, 3, 2, 1) for n in range(8, 64)])\nplt.show()"),
]

NOTEBOOKS = {"correct/notebook_with_magics.ipynb": MAGICS}


def build(cells: list[tuple[str, str]]) -> str:
    """The notebook's text: fixed cell ids keep regeneration byte-for-byte reproducible."""
    made = [
        (new_markdown_cell if kind == "md" else new_code_cell)(text, id=f"cell-{index:02d}")
        for index, (kind, text) in enumerate(cells)
    ]
    notebook = new_notebook(cells=made)
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook on disk is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path, text = HERE / name, build(cells)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run: python {Path(__file__).name}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
