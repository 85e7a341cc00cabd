"""The catalogue of typical mistakes in cnn_blocks, each with the hint a student gets.

Checks recognise a mistake from the submission's behaviour: each mistake has a detector
in `checks/detectors.py`, and a failing check names a mistake only when the evidence
identifies it. `tests/test_cnn_blocks.py` holds one fixture submission per mistake
(`tests/submissions/cnn_blocks/mistakes/<id with _ for .>.py`) and asserts that it loses
exactly the points of the checks listed in `fails`, with this hint.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """A typical mistake: where it shows, and what to tell the student."""

    id: str
    hint: str
    fails: tuple[str, ...]  # "question.check" names its fixture fails, nothing else
    also: tuple[str, ...] = ()  # checks other forms of the same mistake fail (named there too)


_ALL = (
    # receptive_field
    Mistake("receptive_field.ignores_dilation",
            "A dilated kernel's k taps are dilation apart and span (k-1)*dilation+1 inputs: each layer adds (k-1)*dilation, times the jump.",
            ("receptive_field.worked_examples", "receptive_field.random_stacks", "receptive_field.strided_dilated")),
    Mistake("receptive_field.own_stride",
            "A layer's stride spreads the layers above it, not itself: add (k-1)*dilation*jump first, then multiply the jump by the stride.",
            ("receptive_field.worked_examples", "receptive_field.random_stacks", "receptive_field.strided_dilated")),
    Mistake("receptive_field.empty_zero",
            "With no layers the output is the input itself: one pixel sees one pixel, so an empty stack gives 1.",
            ("receptive_field.empty_stack",)),
    # gap_cnn
    Mistake("gap_cnn.flatten_fixed_linear",
            "Flattening the 8x8 feature map ties the head to 32x32 inputs: pool globally with nn.AdaptiveAvgPool2d(1), flatten, then nn.Linear(64, num_classes).",
            ("gap_cnn.any_size", "gap_cnn.param_count", "gap_cnn.layer_shapes", "gap_cnn.equivalence")),
    Mistake("gap_cnn.max_pool_head",
            "Global average pooling averages each channel over all positions: use nn.AdaptiveAvgPool2d(1), not nn.AdaptiveMaxPool2d(1).",
            ("gap_cnn.equivalence",)),
    Mistake("gap_cnn.ignores_num_classes",
            "Use the num_classes argument as the Linear layer's output size instead of a fixed 10.",
            ("gap_cnn.num_classes",)),
    # conv_bn_block
    Mistake("conv_bn_block.wrong_order",
            "Put the layers in this order: Conv2d, BatchNorm2d, ReLU, Dropout2d (BatchNorm normalises the convolution's output, before the ReLU).",
            ("conv_bn_block.layer_order", "conv_bn_block.equivalence")),
    Mistake("conv_bn_block.dropout_not_2d",
            "Use nn.Dropout2d(p), which drops whole channels; nn.Dropout drops single values, which neighbouring pixels of a feature map make up for.",
            ("conv_bn_block.channel_dropout",)),
    Mistake("conv_bn_block.no_padding",
            "Give the 3x3 convolution padding=1, so the block keeps the spatial size (an unpadded 3x3 convolution loses a pixel on each side).",
            ("conv_bn_block.output_shape", "conv_bn_block.equivalence")),
    Mistake("conv_bn_block.ignores_p",
            "Pass the p argument to nn.Dropout2d(p) instead of a fixed probability.",
            ("conv_bn_block.dropout_p", "conv_bn_block.channel_dropout")),
    # batch_images
    Mistake("batch_images.no_convert",
            "Call image.convert(\"RGB\") on each image before preprocess: grey (L), palette (P) and RGBA images do not have 3 channels.",
            ("batch_images.grey_and_rgba",)),
    Mistake("batch_images.modifies_inputs",
            "Leave the list and the images you are given as they were: build a new list (convert() returns a new image) instead of assigning into images[i].",
            ("batch_images.inputs_unchanged",)),
    Mistake("batch_images.cat_not_stack",
            "Use torch.stack to add a batch dimension: torch.cat joins the [3, H, W] tensors into one [3N, H, W] tensor.",
            ("batch_images.rgb_batch", "batch_images.grey_and_rgba", "batch_images.other_preprocess")),
    # train_classifier
    Mistake("train_classifier.train_mode",
            "Call model.eval() before returning the model: in training mode dropout stays active and BatchNorm uses each batch's statistics.",
            ("train_classifier.eval_mode",)),
    Mistake("train_classifier.not_seeded",
            "Call torch.manual_seed(seed) at the start of train_classifier, before building the model: initial weights, shuffling and dropout all draw random numbers.",
            ("train_classifier.deterministic",)),
    Mistake("train_classifier.over_budget",
            "Train for less: a few epochs of a small network take a few seconds; measure with time.process_time() and stay well under 30 s of CPU.",
            ("train_classifier.eval_mode", "train_classifier.validation_accuracy", "train_classifier.heldout_accuracy",
             "train_classifier.deterministic")),
)  # fmt: skip

CATALOGUE: dict[str, Mistake] = {m.id: m for m in _ALL}


def hint(mistake_id: str) -> str:
    """The student's hint for a catalogued mistake (KeyError for an unknown id)."""
    return CATALOGUE[mistake_id].hint
