"""The catalogue of typical mistakes in cnn_basics, each with the hint a student gets.

Checks recognise a mistake from the submission's behaviour (a wrong value that matches
a known wrong formula, an error message, a side effect): each mistake has a detector in
`checks/detectors.py`, and a failing check names a mistake only when the evidence
identifies it. The project's tests hold one fixture submission per mistake and assert
that it loses exactly the points of the checks listed in `fails` and gets this hint,
and that no detector fires on another mistake's fixture or on a correct one.
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
    # conv_out
    Mistake("conv_out.ignores_dilation",
            "Dilation spreads the kernel's taps apart: a k-wide kernel with dilation d spans d*(k-1)+1 inputs. Use that span in the formula.",
            ("conv_out.dilation_example", "conv_out.dilated_grid")),
    Mistake("conv_out.returns_float",
            "Return a Python int: use floor division (//) or int(...); `/` and numpy's floor give floats.",
            ("conv_out.returns_int",)),
    Mistake("conv_out.off_by_one",
            "Count window positions: the first one, plus one more per stride that still fits. You are missing the +1.",
            ("conv_out.seed_examples", "conv_out.dilation_example", "conv_out.conv2d_grid", "conv_out.dilated_grid", "conv_out.pool_grid")),
    Mistake("conv_out.true_division",
            "The window fits a whole number of times: use floor division (//), not true division (/).",
            ("conv_out.seed_examples", "conv_out.returns_int", "conv_out.conv2d_grid", "conv_out.dilated_grid", "conv_out.pool_grid")),
    Mistake("conv_out.padding_once",
            "Padding is added on both sides of the input: use 2*pad in the formula.",
            ("conv_out.seed_examples", "conv_out.conv2d_grid", "conv_out.dilated_grid", "conv_out.pool_grid")),
    Mistake("conv_out.ceil",
            "Round down, not up: nn.Conv2d and nn.MaxPool2d (ceil_mode=False) drop a partial last window.",
            ("conv_out.seed_examples", "conv_out.conv2d_grid", "conv_out.dilated_grid", "conv_out.pool_grid")),
    Mistake("conv_out.dilation_times_k",
            "A dilated kernel spans dilation*(k-1)+1 inputs, not dilation*k: its k taps are dilation apart, with k-1 gaps between them.",
            ("conv_out.dilation_example", "conv_out.dilated_grid")),
    Mistake("conv_out.numpy_int",
            "Return a Python int: numpy's integer types (numpy.int64) are not Python ints; wrap the result in int(...).",
            ("conv_out.returns_int",)),
    Mistake("conv_out.stride_ignored",
            "Divide by the stride: the window moves stride inputs at a time, so only every stride-th position gives an output.",
            ("conv_out.seed_examples", "conv_out.conv2d_grid", "conv_out.dilated_grid", "conv_out.pool_grid")),
    # tiny_cnn
    Mistake("tiny_cnn.missing_relu",
            "Apply a ReLU after each convolution; without it the network is much closer to a single linear map.",
            ("tiny_cnn.equivalence",)),
    Mistake("tiny_cnn.wrong_padding",
            "Use padding=1 on both 3x3 convolutions, so each keeps the spatial size and the two 2x2 pools give 8x8 (64*8*8 = 4096 features).",
            ("tiny_cnn.param_count", "tiny_cnn.layer_shapes", "tiny_cnn.equivalence"),
            also=("tiny_cnn.output_shape", "tiny_cnn.num_classes", "tiny_cnn.gradients")),  # unpadded, Linear(4096)
    Mistake("tiny_cnn.flatten_size",
            "After two 2x2 max-pools a 32x32 input is 8x8 with 64 channels: the Linear layer takes 64*8*8 = 4096 inputs.",
            ("tiny_cnn.output_shape", "tiny_cnn.num_classes", "tiny_cnn.param_count", "tiny_cnn.layer_shapes",
             "tiny_cnn.equivalence", "tiny_cnn.gradients")),
    Mistake("tiny_cnn.ignores_num_classes",
            "Use the num_classes argument as the Linear layer's output size instead of a fixed 10.",
            ("tiny_cnn.num_classes",)),
    Mistake("tiny_cnn.softmax_in_forward",
            "Return raw logits from forward: nn.CrossEntropyLoss applies log-softmax itself, so a softmax in the model is applied twice.",
            ("tiny_cnn.equivalence",)),
    Mistake("tiny_cnn.avg_pool",
            "Use max pooling (nn.MaxPool2d(2)), not average pooling.",
            ("tiny_cnn.equivalence",)),
    Mistake("tiny_cnn.no_gradients",
            "Some parameters got no gradient: do not detach tensors or use torch.no_grad() inside forward.",
            ("tiny_cnn.gradients",)),
    Mistake("tiny_cnn.flatten_batch",
            "Flatten from dimension 1 (torch.flatten(x, 1) or nn.Flatten()): torch.flatten(x) flattens the batch dimension too.",
            ("tiny_cnn.output_shape", "tiny_cnn.num_classes", "tiny_cnn.equivalence", "tiny_cnn.gradients")),
    Mistake("tiny_cnn.wrong_default_classes",
            "Give num_classes the default 10 (def __init__(self, num_classes=10)): TinyCNN() must have 10 outputs.",
            ("tiny_cnn.output_shape", "tiny_cnn.param_count")),
    Mistake("tiny_cnn.bias_false",
            "Keep the convolutions' biases (nn.Conv2d's default bias=True): without them TinyCNN has 96 parameters too few.",
            ("tiny_cnn.param_count", "tiny_cnn.layer_shapes", "tiny_cnn.equivalence")),
    # top5
    Mistake("top5.no_normalisation",
            "Preprocess with weights.transforms(): it resizes to 256, crops 224, scales to [0, 1] and normalises with ImageNet's mean and std.",
            ("top5.seed_photo", "top5.labels_agree", "top5.probabilities_agree")),
    Mistake("top5.softmax_wrong_dim",
            "Apply softmax over the 1000 classes (dim=1 of the [1, 1000] logits, or dim=-1); over dim=0 every probability is 1.",
            ("top5.seed_photo", "top5.labels_agree", "top5.probabilities_agree")),
    Mistake("top5.indices_not_names",
            "Return category names, not indices: weights.meta['categories'][index].",
            ("top5.format", "top5.seed_photo", "top5.labels_agree")),
    Mistake("top5.wrong_order",
            "Return the most likely class first: sort by probability, descending (torch.topk does).",
            ("top5.format", "top5.seed_photo", "top5.labels_agree", "top5.probabilities_agree")),
    Mistake("top5.logits_not_probabilities",
            "Turn the logits into probabilities with softmax before taking the top five.",
            ("top5.format", "top5.seed_photo", "top5.probabilities_agree")),
    Mistake("top5.percent_probabilities",
            "Return probabilities between 0 and 1, as softmax gives them: do not multiply them by 100.",
            ("top5.format", "top5.seed_photo", "top5.probabilities_agree")),
    Mistake("top5.tensor_probabilities",
            "Return each probability as a Python float (float(p) or p.item()), not as a tensor or a numpy number.",
            ("top5.format",)),
    Mistake("top5.softmax_top5_only",
            "Apply softmax to all 1000 logits, then take the top five: a softmax over the five largest logits gives larger probabilities.",
            ("top5.seed_photo", "top5.probabilities_agree")),
    Mistake("top5.missing_batch_dim",
            "Add the batch dimension before calling the model: weights.transforms()(image).unsqueeze(0) is [1, 3, 224, 224].",
            ("top5.format", "top5.seed_photo", "top5.labels_agree", "top5.probabilities_agree")),
    # embedding
    Mistake("embedding.before_relu",
            "The embedding includes the ReLU after the second fully connected layer: use classifier[:6], not classifier[:5].",
            ("embedding.values",)),
    Mistake("embedding.logits",
            "The embedding is the 4096-D layer, not the 1000 class logits: apply classifier[:6], not the whole classifier.",
            ("embedding.shape_dtype", "embedding.values")),
    Mistake("embedding.hook_left",
            "Remove your forward hook once you have the activations (handle.remove(), ideally in a finally block).",
            ("embedding.no_hooks_left",)),
    Mistake("embedding.train_mode_left",
            "Leave the model in the mode you found it: remember model.training and restore it with model.train(was_training).",
            ("embedding.mode_restored",)),
    Mistake("embedding.autograd_graph",
            "Compute the embedding under torch.no_grad() or torch.inference_mode() (or return .detach()), so no autograd graph comes back.",
            ("embedding.no_grad",)),
    Mistake("embedding.changed_parameters",
            "Do not change the model's parameters or their requires_grad flags while extracting the embedding.",
            ("embedding.params_unchanged",)),
    Mistake("embedding.dropout_active",
            "Switch the model to eval mode while you compute the embedding (and back afterwards): in train mode dropout changes the activations.",
            ("embedding.values",)),
    Mistake("embedding.missing_flatten",
            "Flatten the pooled features before the classifier: torch.flatten(x, 1) turns [N, 256, 6, 6] into [N, 9216].",
            ("embedding.shape_dtype", "embedding.no_grad", "embedding.values", "embedding.mode_restored",
             "embedding.params_unchanged", "embedding.no_hooks_left")),
    # finetune
    Mistake("finetune.not_frozen",
            "With freeze_backbone=True set requires_grad=False on every pretrained parameter; only the new head should train.",
            ("finetune.trainable_count", "finetune.backward_only_head")),
    Mistake("finetune.ignores_num_classes",
            "Make the new head nn.Linear(4096, num_classes) from the argument, not a fixed size.",
            ("finetune.num_classes",)),
    Mistake("finetune.random_weights",
            "Start from the pretrained weights: alexnet(weights=AlexNet_Weights.IMAGENET1K_V1); weights=None gives random ones.",
            ("finetune.pretrained_backbone",)),
    Mistake("finetune.whole_classifier",
            "Replace only classifier[6], the last Linear layer; keep the pretrained classifier[1] and classifier[4].",
            ("finetune.head_shape", "finetune.trainable_count", "finetune.pretrained_backbone")),
    Mistake("finetune.head_frozen",
            "Freeze the backbone first, then create the new head (new layers train by default), so the head stays trainable.",
            ("finetune.trainable_count", "finetune.backward_only_head")),
    Mistake("finetune.classifier_not_frozen",
            "Freeze every pretrained parameter, the classifier's Linear layers classifier[1] and classifier[4] included, not only model.features.",
            ("finetune.trainable_count", "finetune.backward_only_head")),
)  # fmt: skip

CATALOGUE: dict[str, Mistake] = {m.id: m for m in _ALL}


def hint(mistake_id: str) -> str:
    """The student's hint for a catalogued mistake (KeyError for an unknown id)."""
    return CATALOGUE[mistake_id].hint


# The flattened size a TinyCNN produces when its 3x3 convolutions are not padded:
# both unpadded (32 -> 30 -> 15 -> 13 -> 6: 64*6*6) or one of them (-> 7: 64*7*7).
WRONG_PADDING_FEATURES = (64 * 6 * 6, 64 * 7 * 7)
