"""Build ``cnn_basics.ipynb`` from the ``cnn_basics.py`` stub and the teaching text below.

The stub code is not repeated here: the import lines and each function or class are
cut out of ``cnn_basics.py`` with ``ast.get_source_segment``, so editing the ``.py``
stub and re-running this script keeps the two forms of the assignment in sync.

    python make_notebook.py           # (re)write cnn_basics.ipynb beside this script
    python make_notebook.py --check   # exit 1 if cnn_basics.ipynb is out of date
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
STUB = HERE / "cnn_basics.py"
NOTEBOOK = HERE / "cnn_basics.ipynb"

# Markdown table rows cannot be wrapped without breaking the table, hence:
# ruff: noqa: E501

# The cells, in order: ("md", text), ("code", text), ("stub", name-in-cnn_basics.py),
# ("imports", "") for the stub's import lines, or ("check", question) for a check cell
# (question "" checks them all).
CELLS: list[tuple[str, str]] = [
    (
        "md",
        """\
# CNN basics for vision

In this notebook you build five small pieces, from arithmetic on layer sizes up to
reusing a network pretrained on ImageNet:

| # | you write | points |
|---|---|---|
| 1 | `conv_out`: the output size of a convolution or pooling layer | 15 |
| 2 | `TinyCNN`: a two-block CNN for 32×32 colour images | 25 |
| 3 | `predict_top5`: AlexNet's five best guesses for a photo | 20 |
| 4 | `extract_embedding`: AlexNet's 4096-D description of an image | 20 |
| 5 | `build_finetune_model`: AlexNet prepared for a new 10-class task | 20 |

Replace each `raise NotImplementedError(...)` with your code, keeping the names and
signatures. After each of those cells comes an optional *try it* cell; until you have
implemented the function it stops with `NotImplementedError`, which is expected.

**AlexNet weights.** Questions 3–5 use torchvision's pretrained
`AlexNet_Weights.IMAGENET1K_V1` (a 233 MB file). On your own machine the first call to
`alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)` downloads it once into the torch hub
cache. The grader needs no network: it supplies the weights offline and the same call
works unchanged there. Where the official file is unavailable the grader may use a
deterministic stand-in checkpoint (its report says so), so never hard-code particular
labels or numbers. The try-it cells use randomly initialised AlexNets, so they run
offline too.

**Return types.** Each function returns exactly the types its docstring names. Where it
asks for a Python `int`, `float` or `str`, a numpy number or a 0-d tensor does not count:
wrap it in `int(...)` or `float(...)`, or call `.item()`. Where it asks for a tensor,
return a `torch.Tensor` of the dtype named. One check per question tests the types
(`conv_out`: returns_int, `tiny_cnn`: output_shape, `top5`: format, `embedding`:
shape_dtype); all the others compare values, whatever their type.""",
    ),
    ("imports", ""),
    (
        "md",
        """\
## Why convolutions?

A dense (fully connected) layer links every input value to every output value. For
images that costs a huge number of parameters and throws away the fact that pixels
have neighbours. A convolutional layer builds in three assumptions that suit images:

- **Locality.** Each output value depends only on a small patch of the input (here
  3×3 pixels, across all input channels). Edges, corners and textures are local, so a
  small window is enough to detect them; stacking layers lets later units see larger
  regions.
- **Weight sharing.** One small kernel slides over every position, so a detector for,
  say, a vertical edge is learned once and reused across the whole image.
- **Translation equivariance.** Because the weights are shared, shifting the input
  shifts the feature map by the same amount (exactly for stride 1, away from the
  borders). Pooling then adds some tolerance to small shifts.

The saving is large. Take a 32×32 RGB image (3,072 input values) and produce 32
feature maps of the same 32×32 size (32,768 output values):

| layer | parameters |
|---|---|
| dense, 3,072 inputs → 32,768 outputs | 3,072 × 32,768 weights + 32,768 biases = **100,696,064** |
| 3×3 convolution, 3 → 32 channels | 32 × 3 × 3 × 3 weights + 32 biases = **896** |

Same output size, 112,384 times fewer parameters, and the convolution's count does not
even depend on the image size.""",
    ),
    (
        "md",
        """\
## Question 1: how big is the output? (`conv_out`)

Height and width are handled independently by the same rule, so look at one dimension.

1. Padding adds `pad` zeros on each side: the padded length is `in + 2·pad`.
2. With dilation `d`, the `k` kernel taps sit `d` apart, so one window spans
   `d·(k − 1) + 1` positions.
3. A window starting at position `s` fits while `s + d·(k − 1) + 1 ≤ in + 2·pad`, so
   the last valid start is `in + 2·pad − d·(k − 1) − 1`.
4. Windows start at 0, stride, 2·stride, …; counting those up to the last valid start:

$$\\text{out} = \\left\\lfloor \\frac{\\text{in} + 2\\cdot\\text{pad} - d\\,(k-1) - 1}{\\text{stride}} \\right\\rfloor + 1$$

This is the formula in the PyTorch documentation of `nn.Conv2d` and `nn.MaxPool2d`
(adding 1 inside or outside the floor gives the same integer). Pooling windows follow
it too; note that `nn.MaxPool2d(2)` has stride 2, because a pooling layer's stride
defaults to its kernel size, while `nn.Conv2d`'s stride defaults to 1.

Worked examples, each confirmed against the output shape of a real PyTorch layer:

| call | layer | working | result |
|---|---|---|---|
| `conv_out(32, 3, 1, 1)` | 3×3 conv, padding 1 | ⌊(32 + 2 − 2 − 1) / 1⌋ + 1 | **32** |
| `conv_out(32, 5)` | 5×5 conv, no padding | ⌊(32 − 4 − 1) / 1⌋ + 1 | **28** |
| `conv_out(32, 2, 2)` | 2×2 max-pool, stride 2 | ⌊(32 − 1 − 1) / 2⌋ + 1 = 15 + 1 | **16** |
| `conv_out(224, 11, 4, 2)` | AlexNet's first conv | ⌊(224 + 4 − 10 − 1) / 4⌋ + 1 = ⌊217 / 4⌋ + 1 | **55** |
| `conv_out(28, 3, 2, 1)` | 3×3 conv, stride 2, padding 1 | ⌊(28 + 2 − 2 − 1) / 2⌋ + 1 = ⌊27 / 2⌋ + 1 | **14** |
| `conv_out(10, 3, dilation=2)` | 3×3 conv, dilation 2 (spans 5 pixels) | ⌊(10 − 4 − 1) / 1⌋ + 1 | **6** |

Return a Python `int`: integer floor division `//` gives exactly the floor in the
formula, whereas `/` gives a float such as `28.0`.""",
    ),
    ("stub", "conv_out"),
    (
        "code",
        """\
# Try it: expect 32 28 16, then 55 14 6.
print(conv_out(32, 3, 1, 1), conv_out(32, 5), conv_out(32, 2, 2))
print(conv_out(224, 11, 4, 2), conv_out(28, 3, 2, 1), conv_out(10, 3, dilation=2))

# Compare with the shape PyTorch itself produces for AlexNet's first layer.
first = nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2)
print(first(torch.zeros(1, 3, 224, 224)).shape, "vs", conv_out(224, 11, 4, 2))""",
    ),
    ("check", "conv_out"),
    (
        "md",
        """\
## Question 2: a tiny CNN (`TinyCNN`)

Two convolution blocks and a linear classifier, sized for 32×32 images such as
CIFAR-10. Shapes for a batch of `N` images and parameters at 10 classes:

| layer | output shape | parameters |
|---|---|---|
| input | `[N, 3, 32, 32]` | |
| `Conv2d(3, 32, 3, padding=1)` + ReLU | `[N, 32, 32, 32]` | 32·3·3·3 + 32 = 896 |
| `MaxPool2d(2)` | `[N, 32, 16, 16]` | 0 |
| `Conv2d(32, 64, 3, padding=1)` + ReLU | `[N, 64, 16, 16]` | 64·32·3·3 + 64 = 18,496 |
| `MaxPool2d(2)` | `[N, 64, 8, 8]` | 0 |
| flatten | `[N, 4096]` | 0 |
| `Linear(64*8*8, 10)` | `[N, 10]` | 4,096·10 + 10 = 40,970 |
| **total** | | **60,362** |

- Padding 1 keeps a 3×3 convolution size-preserving (`conv_out(32, 3, 1, 1) = 32`), so
  only the pools shrink the image: 32 → 16 → 8, hence 64·8·8 = 4,096 features.
- Flatten from dimension 1 (`torch.flatten(x, 1)` or `nn.Flatten()`) so the batch
  dimension survives; `x.view(-1)` would merge all images into one vector.
- Return raw logits, no softmax: `nn.CrossEntropyLoss` applies log-softmax itself.
- Any names and any layout work (separate attributes or `nn.Sequential`): the grader
  copies reference weights into your model by matching parameter shapes, then checks
  that it computes what the table describes.

About two thirds of the parameters sit in the final linear layer, even in this small
network; AlexNet shows the same pattern more strongly.""",
    ),
    ("stub", "TinyCNN"),
    (
        "code",
        """\
# Try it: expect torch.Size([4, 10]) and 60362 parameters.
tiny = TinyCNN(num_classes=10)
print(tiny(torch.randn(4, 3, 32, 32)).shape)
print(sum(p.numel() for p in tiny.parameters()))
for name, p in tiny.named_parameters():
    print(f"{name:24s} {tuple(p.shape)}")""",
    ),
    ("check", "tiny_cnn"),
    (
        "md",
        """\
## AlexNet: the pretrained network for questions 3–5

AlexNet won the 2012 ImageNet challenge and started the deep-learning era of computer
vision. torchvision's version (a close variant of the original) has three parts:

- `model.features`: five convolutions, each followed by ReLU, and three 3×3 max-pools
  with stride 2. For a 224×224 input the size goes 224 → 55 (11×11 conv, stride 4,
  padding 2) → 27 (pool) → 27 (5×5 conv, padding 2) → 13 (pool) → 13 → 13 → 13 (three
  3×3 convs, padding 1) → 6 (pool), ending at `[N, 256, 6, 6]`.
- `model.avgpool`: `AdaptiveAvgPool2d((6, 6))` always outputs 6×6, so other input sizes
  still fit the classifier; at 224×224 it leaves the features unchanged.
- `model.classifier`, applied to the flattened 256·6·6 = 9,216 features:

| index | layer | output size |
|---|---|---|
| 0 | `Dropout(p=0.5)` | 9,216 |
| 1 | `Linear(9216, 4096)` | 4,096 |
| 2 | `ReLU` | 4,096 |
| 3 | `Dropout(p=0.5)` | 4,096 |
| 4 | `Linear(4096, 4096)` | 4,096 |
| 5 | `ReLU` | 4,096 |
| 6 | `Linear(4096, 1000)` | 1,000 class logits |

The model has 61,100,840 parameters, 58,631,144 of them (96%) in the classifier.
Dropout is active only in training mode, so call `model.eval()` before predicting.

**Preprocessing.** A pretrained network only works well on inputs prepared the way
its training images were. `weights.transforms()` does that for a PIL image:

1. resize so the shorter side is 256 pixels (bilinear), keeping the aspect ratio;
2. crop the central 224×224 square;
3. convert to a float tensor `[3, 224, 224]` with values scaled to [0, 1];
4. normalise each channel with the ImageNet mean (0.485, 0.456, 0.406) and standard
   deviation (0.229, 0.224, 0.225).

The result has no batch dimension; add one with `.unsqueeze(0)`. The class names are
in `weights.meta["categories"]`: 1,000 strings, entry `i` naming logit `i`.""",
    ),
    (
        "md",
        """\
## Question 3: top-5 predictions (`predict_top5`)

The model outputs 1,000 logits: unnormalised scores. Softmax turns them into
probabilities, $p_i = e^{z_i} / \\sum_j e^{z_j}$: all positive, summing to 1, in the
same order as the logits. Reporting the five most likely classes is common because
many ImageNet images are ambiguous; the pretrained AlexNet has the right label among
its top five for about 79% of the ImageNet validation images (57% for its top one).

1. `weights.transforms()(image).unsqueeze(0)` gives a `[1, 3, 224, 224]` batch.
2. Run the model without building a graph (`torch.no_grad()`): logits `[1, 1000]`.
3. Softmax over the class dimension (`dim=1`), not over the batch.
4. `torch.topk(probs, 5)` returns the five largest values and their indices, largest
   first; map each index to its name and each probability to a Python `float`.

The model arrives in eval mode; leave it exactly as it is.""",
    ),
    ("stub", "predict_top5"),
    (
        "code",
        """\
# Try it with random weights: the labels are meaningless, but the format is checked.
# With real weights use: alexnet(weights=AlexNet_Weights.IMAGENET1K_V1).eval()
# and a photo of your own: Image.open("photo.jpg").convert("RGB").
demo_model = alexnet(weights=None).eval()
demo_image = Image.new("RGB", (320, 240), (30, 120, 200))
top5 = predict_top5(demo_model, AlexNet_Weights.IMAGENET1K_V1, demo_image)
for name, prob in top5:
    print(f"{prob:.4f}  {name}")""",
    ),
    ("check", "top5"),
    (
        "md",
        """\
## Question 4: an image embedding (`extract_embedding`)

The last layer, `classifier[6]`, is a plain linear classifier reading the 4,096 values
that leave `classifier[5]`. For one linear layer to tell 1,000 classes apart, training
had to make those values a compact summary of what the image shows: photos of similar
things end up close together. That makes them a useful general-purpose *embedding*
for image search by nearest neighbours, clustering, or training a simple classifier
for a new task. (They are never negative, since they come after a ReLU.)

Compute `model.features`, then `model.avgpool`, then `torch.flatten(..., 1)`, then
`model.classifier[:6]`; slicing an `nn.Sequential` gives a new `Sequential` that shares
the same layers, so no weights are copied. A forward hook on `classifier[5]` works
too, if you remove it afterwards (`handle.remove()`, best in a `finally` block).

The caller keeps using the model, so side effects matter:

- build no autograd graph: use `torch.no_grad()` or `torch.inference_mode()`;
- dropout (indices 0 and 3) is random in training mode: if `model.training` is True,
  compute in eval mode and restore training mode before returning;
- change no parameters and leave no hooks registered.""",
    ),
    ("stub", "extract_embedding"),
    (
        "code",
        """\
# Try it: expect torch.Size([2, 4096]) and requires_grad False; the model stays in
# training mode here because that is how it was given.
demo_model = alexnet(weights=None).train()
embedding = extract_embedding(demo_model, torch.randn(2, 3, 224, 224))
print(embedding.shape, embedding.requires_grad, demo_model.training)""",
    ),
    ("check", "embedding"),
    (
        "md",
        """\
## Question 5: fine-tuning (`build_finetune_model`)

With a small dataset for a new task, say 10 classes, training all of AlexNet from
scratch would overfit badly. Transfer learning starts from the pretrained network,
whose features already describe images well:

1. **Replace the head.** `classifier[6]` maps 4,096 values to the 1,000 ImageNet
   classes; swap it for a fresh `nn.Linear(4096, num_classes)`.
2. **Freeze the backbone.** Set `requires_grad = False` on every other parameter.
   Backpropagation then computes no gradients for them and the optimizer leaves them
   untouched.

Only the new head then learns: 4,096·10 + 10 = 40,970 parameters at 10 classes, out
of 57,044,810 in the modified model (57,003,840 frozen). Training is fast, needs
little data, and amounts to fitting a linear classifier on the question-4 embedding.
The head is the only randomly initialised part, so it is the part that must learn;
the rest already works. With `freeze_backbone=False` every parameter trains (full
fine-tuning, usually with a small learning rate).

Watch the order: a new `nn.Linear` starts with `requires_grad=True`, so freezing every
parameter *after* replacing the head freezes the head too.""",
    ),
    ("stub", "build_finetune_model"),
    (
        "code",
        """\
# Try it: expect "trainable 40,970 of 57,044,810". This loads the pretrained
# weights (downloaded once on your machine; supplied offline by the grader).
finetune = build_finetune_model(num_classes=10)
trainable = sum(p.numel() for p in finetune.parameters() if p.requires_grad)
total = sum(p.numel() for p in finetune.parameters())
print(f"trainable {trainable:,} of {total:,}")
print(finetune.classifier[6])""",
    ),
    ("check", "finetune"),
    (
        "md",
        """\
## Checking your work

After each question a cell runs `grader.check("...")`: the public checks of that
question (the worked examples, output shapes, parameter counts) on the **saved**
notebook, so save (Ctrl-S) before you run it. For each failure it says what was
expected, what your code gave and a likely cause. The checks run your saved cells top to
bottom in a separate, sandboxed process, as grading does; they never see variables that
exist only in this kernel, and they warn you when this kernel ran code the saved file
lacks. The first check takes a few seconds (it starts the checker), later ones about a
second. The cell below checks every question at once. From a terminal,
`grade check cnn_basics.ipynb` (or `grade check cnn_basics.py`) does the same.
The check cells need the grader from the student kit (`pip install ./grader-kit`);
while your notebook is graded they do nothing. Hidden checks run at
grading time, for example comparing your results with a reference solution on real
photographs and checking that your functions leave the model unchanged; for those you
see the check's name, whether it passed, and a hint.

You may leave the try-it cells and other demo cells in the notebook. The grader runs
the cells in order; it neutralises IPython magics and shell commands (`%…`, `!…`), and
a cell that raises an error is skipped and reported while the remaining cells still
run. So make sure the cells that define your functions and class run cleanly, and keep
long experiments such as training loops out of the submitted notebook: the grader
limits the time per submission.""",
    ),
    ("check", ""),
]


def stub_segments(source: str) -> dict[str, str]:
    """Map each top-level function or class name in ``source`` to its exact source text.

    The key ``"imports"`` holds the import lines, without ``from __future__`` imports:
    those must be a module's first statement, which a notebook cell is not guaranteed to
    be when a grader stitches cells together.
    """
    tree = ast.parse(source)
    segments: dict[str, str] = {}
    imports: list[str] = []
    for node in tree.body:
        text = ast.get_source_segment(source, node)
        if text is None:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(text)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            segments[node.name] = text
    segments["imports"] = "\n".join(imports)
    return segments


def build_notebook(stub_source: str) -> nbformat.NotebookNode:
    """Return the notebook: the teaching cells of ``CELLS`` with the stub code cut in."""
    segments = stub_segments(stub_source)
    cells = []
    for index, (kind, text) in enumerate(CELLS):
        # Fixed ids keep regeneration byte-for-byte reproducible (nbformat's are random).
        cell_id = f"cell-{index:02d}-{kind}"
        if kind == "md":
            cell = new_markdown_cell(text, id=cell_id)
        elif kind == "code":
            cell = new_code_cell(text, id=cell_id)
        elif kind == "check":
            call = f'grader.check("{text}")' if text else "grader.check()"
            what = f"the public checks of {text}" if text else "every question's public checks"
            cell = new_code_cell(f"# Save the notebook, then run this cell: {what} on the saved file.\nimport grader\n\n{call}", id=cell_id)
        elif kind in ("stub", "imports"):
            name = text or kind
            if name not in segments:
                raise SystemExit(
                    f"{STUB}: no top-level definition named {name!r}; "
                    f"found {sorted(segments)}. Fix CELLS in {Path(__file__).name}."
                )
            cell = new_code_cell(segments[name], id=cell_id)
        else:
            raise ValueError(f"unknown cell kind {kind!r}; expected md, code, check, stub or imports")
        cells.append(cell)
    notebook = new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) ``cnn_basics.ipynb``; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the notebook on disk is out of date")
    args = parser.parse_args(argv)
    text = nbformat.writes(build_notebook(STUB.read_text(encoding="utf-8")))
    if not text.endswith("\n"):
        text += "\n"
    if args.check:
        current = NOTEBOOK.read_text(encoding="utf-8") if NOTEBOOK.exists() else ""
        if current != text:
            print(f"{NOTEBOOK} is out of date; run: python {Path(__file__).name}")
            return 1
        print(f"{NOTEBOOK} is up to date")
        return 0
    NOTEBOOK.write_text(text, encoding="utf-8")
    print(f"wrote {NOTEBOOK} ({len(CELLS)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
