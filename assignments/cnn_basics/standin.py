"""Deterministic stand-in for the ImageNet AlexNet checkpoint.

The official ``AlexNet_Weights.IMAGENET1K_V1`` file cannot be downloaded on the
grading machines, so the grader builds this state dict instead and installs it
where torchvision looks for the checkpoint. It is not a trained network; it
only has to behave like one for grading purposes:

* discriminative: different photos get clearly different 4096-D embeddings and
  their own top-5 classes, with informative (unsaturated, well separated)
  softmax probabilities;
* sensitive: the usual preprocessing mistakes (no normalisation, BGR order,
  missing /255, wrong resize or crop) change the top-5 or its probabilities;
* unforgeable by accident: it is not what ``alexnet(weights=None)`` produces
  under any seed, so a fine-tune of a random model cannot pass as pretrained;
* reproducible: bit-identical on every run, process and thread count (and,
  by construction, on any CPU: see ``_INT_RANGE``).

Why not PyTorch's default initialisation: after a ReLU every input is
non-negative, so a weight row ``w`` applied to ``x`` gives
``w . (x - mean) + mean * sum(w)``. The second term is the same for every
photo and dominates after a few layers, so all photos collapse onto nearly
parallel embeddings and share one top-5. Here every layer that follows a ReLU
uses *centred* weights (each output unit's weights sum to exactly zero), which
removes that common term, and a gain chosen so that activations keep their
scale through the depth of the network.
"""

from __future__ import annotations

import math

import torch

# A fixed seed, deliberately not one people usually type (0, 1, 42, 1234...).
# Every seed tried (500000-500149) separates the probe photos and exposes every
# preprocessing mistake; near-ties between top-5 probabilities are a matter of
# chance, though, so this one was taken from the ~1 in 6 seeds that meet all
# the margins of tests/test_standin.py on the bundled photos with room to spare.
# Changing the seed or the photos means re-running those tests.
STANDIN_SEED: int = 500_049

# Weights are drawn as integers in [-_INT_RANGE, _INT_RANGE]. Integer draws
# and integer row sums are exact, so centring involves no order-dependent
# float reduction and no transcendental functions (whose SIMD and scalar
# versions can differ in the last bit); the remaining float32 operations are
# single, correctly rounded subtractions and multiplications.
_INT_RANGE = 2**15
_UNIFORM_STD = _INT_RANGE / math.sqrt(3.0)  # std of the uniform integer draw

# A zero-mean Gaussian pre-activation of variance s^2 has, after ReLU,
# variance s^2 * (pi - 1) / (2 pi) around its mean. A centred weight row only
# sees that variance, so weight variance gain^2 / fan_in with this gain keeps
# s^2 unchanged from layer to layer (He et al.'s sqrt(2) assumes the mean is
# passed on too, which centring removes).
_RELU_GAIN = math.sqrt(2.0 * math.pi / (math.pi - 1.0))

# Scales the logits. The layers above keep activations at about the scale of
# the normalised pixels, so logits come out with a standard deviation of about
# 3-5 for a natural photo: top-1 probabilities typically between 0.05 and 0.8
# over 1000 classes, neither near 1/1000 (uninformative) nor 1.0 (saturated).
# Being a constant, it keeps the stand-in independent of any photo.
_LOGIT_GAIN = 3.0

# (state-dict prefix, weight shape, gain, centred) in torchvision's order.
# Centring cancels the shared positive mean of ReLU outputs. The first
# convolution sees normalised pixels, which have no such mean, so it keeps its
# response to overall colour and brightness; measured, that also separates
# the photos better than centring it.
_LAYERS: tuple[tuple[str, tuple[int, ...], float, bool], ...] = (
    ("features.0", (64, 3, 11, 11), 1.0, False),
    ("features.3", (192, 64, 5, 5), _RELU_GAIN, True),
    ("features.6", (384, 192, 3, 3), _RELU_GAIN, True),
    ("features.8", (256, 384, 3, 3), _RELU_GAIN, True),
    ("features.10", (256, 256, 3, 3), _RELU_GAIN, True),
    ("classifier.1", (4096, 9216), _RELU_GAIN, True),
    ("classifier.4", (4096, 4096), _RELU_GAIN, True),
    ("classifier.6", (1000, 4096), _LOGIT_GAIN, True),
)


def _layer_weight(generator: torch.Generator, shape: tuple[int, ...], gain: float, centred: bool) -> torch.Tensor:
    """Draw one weight tensor with standard deviation ``gain / sqrt(fan_in)``."""
    fan_in = math.prod(shape[1:])
    draws = torch.randint(
        -_INT_RANGE,
        _INT_RANGE + 1,
        (shape[0], fan_in),
        generator=generator,
        dtype=torch.int32,
    )
    weight = draws.to(torch.float32)
    if centred:
        # Exact integer row sums; all that follows is elementwise and correctly
        # rounded, so the result cannot depend on threads or SIMD width.
        row_mean = draws.sum(dim=1, dtype=torch.int64).to(torch.float64) / fan_in
        weight.sub_(row_mean.to(torch.float32).unsqueeze(1))
    weight.mul_(gain / (math.sqrt(fan_in) * _UNIFORM_STD))
    return weight.reshape(shape).contiguous()


def build_standin_state_dict(seed: int = STANDIN_SEED) -> dict[str, torch.Tensor]:
    """Build the stand-in AlexNet state dict for ``seed``.

    The result has exactly the keys, shapes and dtype (float32, contiguous) of
    ``torchvision.models.alexnet().state_dict()`` and can be loaded with
    ``load_state_dict`` or saved as the hub checkpoint file. It is a pure
    function of ``seed``: a private ``torch.Generator`` is used, so the global
    RNG is neither read nor advanced.

    Biases are zero: every pre-activation is then symmetric around zero, so
    about half of the units of each layer are active for any photo.
    """
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for prefix, shape, gain, centred in _LAYERS:
        state[f"{prefix}.weight"] = _layer_weight(generator, shape, gain, centred)
        state[f"{prefix}.bias"] = torch.zeros(shape[0], dtype=torch.float32)
    return state
