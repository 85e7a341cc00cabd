"""Facts the cnn_blocks checks rely on, kept as data in one place.

Each is a property of PyTorch or of the task statement, not of the reference solution;
`tests/test_cnn_blocks.py` re-derives them from real modules, so a wrong number here
fails the project's tests, not a student.
"""

from __future__ import annotations

Stack = tuple[tuple[int, int, int], ...]

# receptive_field worked examples from the notebook: (layers, answer).
WORKED_EXAMPLES: tuple[tuple[Stack, int], ...] = (
    (((3, 1, 1),), 3),
    (((3, 1, 1), (3, 1, 1)), 5),
    (((3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1)), 10),  # TinyCNN's convolutions and pools
    (((3, 1, 2),), 5),  # one dilated 3x3
    (((3, 2, 1), (3, 1, 2)), 11),  # a stride, then a dilation above it
)
EMPTY_STACK: tuple[Stack, int] = ((), 1)

GAP_CNN_PARAMS_10 = 20_042  # 896 + 18,496 + 650
GAP_CNN_SHAPES_10 = [[32, 3, 3, 3], [32], [64, 32, 3, 3], [64], [10, 64], [10]]
MIN_GAP_SIZE = 4  # two 2x2 max-pools need 4x4 pixels


def gap_cnn_params(num_classes: int) -> int:
    """Parameters of GapCNN(num_classes): two convolutions plus Linear(64, num_classes)."""
    return 896 + 18_496 + 64 * num_classes + num_classes


def conv_bn_params(in_channels: int, out_channels: int) -> int:
    """Parameters of conv_bn_block: the 3x3 convolution's weight and bias, BatchNorm's scale and shift."""
    return in_channels * out_channels * 9 + out_channels + 2 * out_channels


DEFAULT_DROPOUT = 0.1

# train_classifier: the CPU budget of one call, and how accuracy earns points.
TRAIN_CPU_SECONDS = 30.0  # the default; `--train-cpu-seconds` sets a smaller one for a run (resources.py)
TRAIN_WALL_SECONDS = 75.0  # a call that waits rather than computes is stopped too (generous: a loaded machine)


class TrainBudget:
    """The CPU budget of this grading run: `resources.prepare` sets it from the run's options,
    before any check asks for a training; without a run (a check imported by a test) it is the default."""

    cpu_seconds: float = TRAIN_CPU_SECONDS
    wall_seconds: float = TRAIN_WALL_SECONDS


def train_cpu_seconds() -> float:
    return TrainBudget.cpu_seconds


def train_wall_seconds() -> float:
    return TrainBudget.wall_seconds


ACCURACY_ZERO = 0.5  # at or below: no points
ACCURACY_FULL = 0.9  # at or above: full points
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)


def accuracy_credit(accuracy: float) -> float:
    """The share of an accuracy check's points: linear from 50% (0) to 90% (1)."""
    return min(1.0, max(0.0, (accuracy - ACCURACY_ZERO) / (ACCURACY_FULL - ACCURACY_ZERO)))
