"""Facts the cnn_basics checks rely on, kept as data in one place.

Each is a property of PyTorch/torchvision or of the task statement, not of the
reference solution; `tests/test_facts.py` re-derives every one of them from real
modules, so a wrong number here fails the project's tests, not a student.
"""

from __future__ import annotations

# conv_out worked examples from the notebook: (args, kwargs, answer).
SEED_EXAMPLES: tuple[tuple[tuple[int, ...], dict[str, int], int], ...] = (
    ((32, 3, 1, 1), {}, 32),
    ((32, 5), {}, 28),
    ((32, 2, 2), {}, 16),
    ((224, 11, 4, 2), {}, 55),
    ((28, 3, 2, 1), {}, 14),
)
DILATION_EXAMPLE: tuple[tuple[int, ...], dict[str, int], int] = ((10, 3), {"dilation": 2}, 6)

TINY_CNN_PARAMS_10 = 60_362  # 896 + 18,496 + 40,970
# Its parameter shapes (conv weight and bias, conv weight and bias, Linear weight and bias).
TINY_CNN_SHAPES_10 = [[32, 3, 3, 3], [32], [64, 32, 3, 3], [64], [10, 4096], [10]]


def tiny_cnn_params(num_classes: int) -> int:
    """Parameters of TinyCNN(num_classes): two convolutions plus Linear(4096, num_classes)."""
    return 896 + 18_496 + 4096 * num_classes + num_classes


ALEXNET_PARAMS = 61_100_840
ALEXNET_HEAD_PARAMS = 4096 * 1000 + 1000
EMBEDDING_DIM = 4096
IMAGE_SIZE = 224


def finetune_trainable(num_classes: int) -> int:
    """Trainable parameters of the frozen fine-tune model: the new head only."""
    return 4096 * num_classes + num_classes


def finetune_total(num_classes: int) -> int:
    """All parameters of AlexNet with classifier[6] replaced by Linear(4096, num_classes)."""
    return ALEXNET_PARAMS - ALEXNET_HEAD_PARAMS + finetune_trainable(num_classes)
