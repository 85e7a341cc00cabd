"""What cnn_blocks gives the worker, and what it hides from it.

The digits `train_classifier` is graded on come from scikit-learn's `load_digits`. Were
scikit-learn installed where submissions are graded, a submission could load its copy
(`sklearn/datasets/data/digits.csv.gz`) and look up the label of every held-out image.
`prepare` finds that folder without importing scikit-learn and lists it in
`Resources.hidden`: the host then keeps it out of every worker's view (Landlock and the
mount namespace, as it does for the reference and the assignment folder).

No files are given to the worker: the training data travel as probe arguments, and the
held-out images too (their labels never leave the grader's process).

`--train-cpu-seconds` sets the CPU budget of one `train_classifier` call for the run
(default 30, at most 30: the run's time limits in assignment.toml are sized for it). The
budget in use is recorded in results.json (`train_cpu_seconds`) and named on the pages
and in every over-budget message. The project's tests grade with a short one, so that
their over-budget fixture is stopped after seconds rather than half a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
from pathlib import Path

from assignments.cnn_blocks import facts
from assignments.fast_torchvision import import_torchvision
from grader.errors import SetupError
from grader.resources import Option, Resources

TRAIN_FILE = Path(__file__).resolve().parent / "digits" / "digits_train.safetensors"

BUDGET = "train_cpu_seconds"

# The command-line options of `grade`, `grade check` and `grade release` for this assignment.
OPTIONS = (
    Option(
        name=BUDGET,
        help=f"CPU seconds one train_classifier call may use, more than 0 and at most {facts.TRAIN_CPU_SECONDS:g} "
        f"(wall time: {facts.TRAIN_WALL_SECONDS:g} s)",
        default=f"{facts.TRAIN_CPU_SECONDS:g}",
        other="a number of seconds",
        metavar="SECONDS",
        label="Training budget",
    ),
)


def sklearn_data_folders() -> tuple[str, ...]:
    """scikit-learn's bundled data folders (the digits among them), if it is installed; nothing is imported."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return ()
    folders = []
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        data = Path(root) / "datasets" / "data"
        if data.is_dir():
            folders.append(str(data.resolve()))
    return tuple(folders)


def train_budget(value: str) -> float:
    """The CPU budget `--train-cpu-seconds` gives, checked."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= facts.TRAIN_CPU_SECONDS:
        raise SetupError(f"--train-cpu-seconds {value!r}: give a number of seconds, more than 0 and at most "
                         f"{facts.TRAIN_CPU_SECONDS:g}")  # fmt: skip
    return seconds


def prepare(options: dict[str, str], cache_dir: Path) -> Resources:
    """Set the run's training budget; describe it and the training data; hide scikit-learn's digits from workers."""
    facts.TrainBudget.cpu_seconds = train_budget(options.get(BUDGET, f"{facts.TRAIN_CPU_SECONDS:g}"))
    cpu, wall = facts.train_cpu_seconds(), facts.train_wall_seconds()
    digest = hashlib.sha256(TRAIN_FILE.read_bytes()).hexdigest()
    return Resources(
        describe={
            "digits": {"kind": "bundled", "sha256": digest, "file": str(TRAIN_FILE)},
            BUDGET: {
                "kind": f"{cpu:g} s of CPU",  # a page's line: "Training budget: 30 s of CPU"
                "cpu_seconds": cpu,
                "wall_seconds": wall,
            },
        },
        hidden=sklearn_data_folders(),
    )


def preload(resources: Resources, *, for_workers: bool = True) -> None:
    """Import what workers use; in the zygote, also run a small training step once.

    A worker forked from the zygote then starts with PyTorch's kernels for convolution,
    batch normalisation and Adam initialised, instead of paying that inside the
    student's 30 s budget (and every check's time).
    """
    import PIL.Image  # noqa: F401
    import torch

    import_torchvision(for_workers=for_workers)  # TorchDynamo only for workers (fast_torchvision.py)
    import torchvision.transforms  # noqa: F401

    import assignments.cnn_blocks.data  # noqa: F401

    torch.set_num_threads(1)  # before any kernel runs: a forked child must not inherit a pool
    if for_workers:
        _import_what_notebooks_import()
        _warm_up()


def _warm_up() -> None:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.AvgPool2d(2), nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.1),
        nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters())
    for size in (32, 64):
        loss = F.cross_entropy(model(torch.rand(4, 3, size, size)), torch.zeros(4, dtype=torch.long))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        model(torch.rand(4, 3, 32, 32))


def _import_what_notebooks_import() -> None:
    """Notebooks plot: import matplotlib (headless) once here rather than in every worker."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    with contextlib.suppress(ImportError):
        import matplotlib.pyplot  # noqa: F401
