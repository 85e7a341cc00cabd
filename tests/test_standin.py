"""Tests for the stand-in AlexNet checkpoint and the bundled probe photos.

They check that ``assignments/cnn_basics/standin.py`` builds a state dict that
(a) tells the probe photos apart with informative probabilities, (b) exposes
each common preprocessing mistake on every photo, (c) is not what a randomly
initialised AlexNet gives under a common seed, and (d) is numerically sane,
reproducible bit for bit, and stable across thread counts. It must also load
through torchvision's real weight-loading path without network access.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.models import AlexNet, AlexNet_Weights, alexnet

from assignments.cnn_basics import standin

# Builds the stand-in weights several times over; it changes rarely: out of the inner loop (-m 'not slow').
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PROBE_DIR = ROOT / "assignments" / "cnn_basics" / "probe_images"
WEIGHTS = AlexNet_Weights.IMAGENET1K_V1
CHECKPOINT_NAME = "alexnet-owt-7be5be79.pth"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
COMMON_SEEDS = (0, 1, 42, 123, 1234, 2024, 3407)

# SHA-256 of the default stand-in (key names and raw float32 bytes, in order).
# If this changes, every stored reference answer made with the old stand-in
# is invalid: a torch upgrade that changed ``randint`` would show up here.
EXPECTED_FINGERPRINT = "9abf278e72b046c387fcabc121b3a5ac13853f1de5ab2b4e9f45342ce5dd5d91"

# The grader compares probabilities with atol ~1e-4; near-ties must be far
# larger than that, and a preprocessing mistake must move a probability by
# clearly more than it.
PROB_GAP_MIN = 1e-3
MISTAKE_MIN_CHANGE = 0.01


def _fingerprint(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key, tensor in state.items():
        digest.update(key.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


class _PixelsWithout255:
    """Mistake: uint8 values as floats in [0, 255], i.e. ToTensor without /255."""

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return T.functional.pil_to_tensor(image).float()


_CORRECT = WEIGHTS.transforms()
PIPELINES: dict[str, Callable[[Image.Image], torch.Tensor]] = {
    "correct": _CORRECT,
    "no_normalisation": T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()]),
    "squash_to_224_no_crop": T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize(MEAN, STD)]),
    "bgr_channels": T.Compose([_CORRECT, T.Lambda(lambda x: x.flip(0))]),
    "pixels_0_255": T.Compose([T.Resize(256), T.CenterCrop(224), _PixelsWithout255(), T.Normalize(MEAN, STD)]),
    "crop_without_resize": T.Compose([T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)]),
}
MISTAKES = [name for name in PIPELINES if name != "correct"] + ["softmax_dim0"]


def _forward(model: AlexNet, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (4096-D embeddings, logits) exactly as the assignment defines them."""
    with torch.no_grad():
        flat = torch.flatten(model.avgpool(model.features(batch)), 1)
        embeddings = model.classifier[:6](flat)
        return embeddings, model.classifier[6](embeddings)


def _top5(probs: torch.Tensor) -> tuple[list[list[int]], torch.Tensor]:
    values, indices = probs.topk(5, dim=1)
    return indices.tolist(), values


@pytest.fixture(scope="module")
def built() -> tuple[dict[str, torch.Tensor], float]:
    start = time.perf_counter()
    state = standin.build_standin_state_dict()
    return state, time.perf_counter() - start


@pytest.fixture(scope="module")
def state(built: tuple[dict[str, torch.Tensor], float]) -> dict[str, torch.Tensor]:
    return built[0]


@pytest.fixture(scope="module")
def model(state: dict[str, torch.Tensor]) -> AlexNet:
    net = alexnet(weights=None)
    net.load_state_dict(state)
    return net.eval()


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    return json.loads((PROBE_DIR / "manifest.json").read_text())


@pytest.fixture(scope="module")
def photos(manifest: list[dict[str, str]]) -> list[Image.Image]:
    return [Image.open(PROBE_DIR / entry["file"]).convert("RGB") for entry in manifest]


@pytest.fixture(scope="module")
def batches(photos: list[Image.Image]) -> dict[str, torch.Tensor]:
    return {name: torch.stack([tf(p) for p in photos]) for name, tf in PIPELINES.items()}


@pytest.fixture(scope="module")
def outputs(model: AlexNet, batches: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {name: _forward(model, batch) for name, batch in batches.items()}


# --- the state dict itself -------------------------------------------------


def test_seed_is_not_a_common_seed() -> None:
    assert isinstance(standin.STANDIN_SEED, int)
    assert standin.STANDIN_SEED not in COMMON_SEEDS


def test_keys_shapes_dtypes_match_torchvision(state: dict[str, torch.Tensor]) -> None:
    with torch.device("meta"):  # shapes only: no allocation, no global RNG use
        reference = alexnet(weights=None).state_dict()
    assert list(state) == list(reference)
    for key, tensor in state.items():
        assert tensor.shape == reference[key].shape, key
        assert tensor.dtype == torch.float32, key
        assert tensor.device.type == "cpu", key
        assert tensor.is_contiguous(), key


def test_build_is_deterministic_pure_and_thread_independent(state: dict[str, torch.Tensor]) -> None:
    # The fixture was built with the default thread count; build again on one
    # thread. The pinned fingerprint was computed in another process, so a
    # match also shows the result is the same across runs and processes.
    previous = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2718)  # a state the build has no reason to produce
        rng_before = torch.get_rng_state()
        try:
            torch.set_num_threads(1)
            again = standin.build_standin_state_dict()
        finally:
            torch.set_num_threads(previous)
        assert torch.equal(torch.get_rng_state(), rng_before), "global RNG was used"
    assert all(torch.equal(state[k], again[k]) for k in state)
    assert _fingerprint(state) == EXPECTED_FINGERPRINT


def test_build_is_fast(built: tuple[dict[str, torch.Tensor], float]) -> None:
    assert built[1] < 3.0  # about 0.9 s on the 2-core grading machine


# --- (d) numerically well behaved ------------------------------------------


def test_activations_finite_and_of_sensible_size(outputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    for embeddings, logits in outputs.values():
        assert torch.isfinite(embeddings).all() and torch.isfinite(logits).all()
    embeddings, logits = outputs["correct"]
    rms = embeddings.pow(2).mean(dim=1).sqrt()
    assert ((rms > 0.1) & (rms < 10)).all(), rms
    assert logits.abs().max() < 100


def test_top5_stable_across_thread_counts(model: AlexNet, batches: dict[str, torch.Tensor]) -> None:
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_forward(model, batches["correct"])[1].softmax(dim=1))
    finally:
        torch.set_num_threads(previous)
    (labels_1, probs_1), (labels_2, probs_2) = _top5(results[0]), _top5(results[1])
    assert labels_1 == labels_2
    assert torch.allclose(probs_1, probs_2, rtol=0, atol=1e-5)


# --- (a) discriminative and informative ------------------------------------


def test_each_photo_has_its_own_top5(outputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    labels, _ = _top5(outputs["correct"][1].softmax(dim=1))
    for first, second in itertools.combinations(labels, 2):
        assert first != second
    assert len({row[0] for row in labels}) == len(labels), "top-1 classes repeat"


def test_embeddings_are_not_parallel(outputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    unit = torch.nn.functional.normalize(outputs["correct"][0], dim=1)
    cosine = unit @ unit.T
    off_diagonal = cosine[~torch.eye(len(cosine), dtype=torch.bool)]
    assert off_diagonal.max() < 0.8  # about 0.64; a default random AlexNet gives > 0.95


def test_probabilities_are_informative(outputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    logits = outputs["correct"][1]
    labels, probs = _top5(logits.softmax(dim=1))
    assert ((probs[:, 0] > 0.05) & (probs[:, 0] < 0.8)).all(), probs[:, 0]
    assert (probs[:, :-1] - probs[:, 1:]).min() > PROB_GAP_MIN
    top_logits = logits.gather(1, torch.tensor(labels))
    relative_gaps = (top_logits[:, :-1] - top_logits[:, 1:]) / top_logits[:, :1].abs()
    assert relative_gaps.min() > 1e-3


# --- (b) sensitive to preprocessing mistakes -------------------------------


@pytest.mark.parametrize("mistake", MISTAKES)
def test_preprocessing_mistake_changes_every_photo(
    mistake: str, outputs: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> None:
    correct_logits = outputs["correct"][1]
    labels, probs = _top5(correct_logits.softmax(dim=1))
    if mistake == "softmax_dim0":
        # Softmax over the batch dimension of a [1, 1000] tensor: all ones.
        wrong = torch.cat([row.unsqueeze(0).softmax(dim=0) for row in correct_logits])
    else:
        wrong = outputs[mistake][1].softmax(dim=1)
    wrong_labels, wrong_probs = _top5(wrong)
    for i, (right, seen) in enumerate(zip(labels, wrong_labels, strict=True)):
        changed = right != seen or (probs[i] - wrong_probs[i]).abs().max() > MISTAKE_MIN_CHANGE
        assert changed, f"{mistake} not detected on photo {i}"


# --- (c) not a randomly initialised AlexNet --------------------------------


@pytest.mark.parametrize("seed", COMMON_SEEDS)
def test_differs_from_random_init_with_common_seed(
    seed: int,
    state: dict[str, torch.Tensor],
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor]],
    batches: dict[str, torch.Tensor],
) -> None:
    with torch.random.fork_rng(devices=[]):  # leave the global RNG as it was
        torch.manual_seed(seed)
        random_model = alexnet(weights=None).eval()
    for key, tensor in random_model.state_dict().items():
        assert not torch.equal(tensor, state[key]), key
    labels, _ = _top5(outputs["correct"][1].softmax(dim=1))
    random_labels, _ = _top5(_forward(random_model, batches["correct"])[1].softmax(dim=1))
    for ours, theirs in zip(labels, random_labels, strict=True):
        assert ours != theirs


# --- loading through torchvision's own checkpoint path ---------------------


def test_torchvision_loads_it_as_the_pretrained_checkpoint(
    state: dict[str, torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert WEIGHTS.url.endswith("/" + CHECKPOINT_NAME)
    checkpoint = tmp_path / "hub" / "checkpoints" / CHECKPOINT_NAME
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)
    # torch.hub.get_dir() reads $TORCH_HOME at call time unless set_dir() was
    # called, which stores the directory in torch.hub._hub_dir; clear it so
    # that an earlier set_dir() elsewhere cannot redirect the lookup.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("torchvision tried to download the checkpoint")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    assert Path(torch.hub.get_dir()) == tmp_path / "hub"
    loaded = alexnet(weights=WEIGHTS).state_dict()
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


# --- the bundled probe photos ----------------------------------------------


def test_probe_photos_match_manifest(manifest: list[dict[str, str]], photos: list[Image.Image]) -> None:
    assert 5 <= len(manifest) <= 6
    assert manifest[0]["file"] == "chelsea.jpg"
    for entry, photo in zip(manifest, photos, strict=True):
        assert set(entry) == {"file", "description", "licence"}
        path = PROBE_DIR / entry["file"]
        assert Image.open(path).format == "JPEG"
        assert 256 <= min(photo.size) <= 300, entry["file"]
        assert path.stat().st_size < 40_000, entry["file"]
