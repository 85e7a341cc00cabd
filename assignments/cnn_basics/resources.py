"""AlexNet weights for cnn_basics: which checkpoint is in use, and giving it to student code.

`--weights` picks the checkpoint:

- `official`: torchvision's IMAGENET1K_V1 file from the torch hub cache (downloaded
  when the machine is online), its SHA-256 checked against the digest in its name,
  the same rule torch.hub applies when it downloads.
- `standin`: a deterministic checkpoint the grader builds once and caches
  (`standin.py`), for offline machines and tests.
- `auto`: `official` where the file is present and verifies, otherwise `standin`.
- a path to a state-dict file: used as it is, after checking its keys and shapes.

Whatever is chosen is placed as `<hub>/checkpoints/alexnet-owt-7be5be79.pth` and
`TORCH_HOME` points there, so `alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)` in student
and reference code loads it through torchvision's own path, with no network.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assignments.fast_torchvision import import_torchvision
from grader.errors import SetupError
from grader.resources import Option, Resources

HUB_FILENAME = "alexnet-owt-7be5be79.pth"
OFFICIAL_URL = "https://download.pytorch.org/models/" + HUB_FILENAME
OFFICIAL_SHA256_PREFIX = "7be5be79"
CHOICES = ("auto", "official", "standin")

# The command-line options of `grade`, `grade check` and `grade release` for this assignment.
OPTIONS = (
    Option(
        name="weights",
        help="AlexNet weights: auto (official if present, else stand-in; in a student kit, those its answer key "
        "was made with), official, standin, or a .pth path",
        default="auto",
        choices=CHOICES,
        other="a .pth path",
        metavar="KIND",
        label="AlexNet weights",
    ),
)


def prepare(options: dict[str, str], cache_dir: Path) -> Resources:
    """Resolve `options["weights"]` to a checkpoint on disk and describe it."""
    choice = options.get("weights", "auto")
    if choice == "standin":
        return _standin(cache_dir, note="")
    if choice in ("official", "auto"):
        found = _official_file()
        problem = _verify_official(found)
        if problem is None:
            return _resources("official", found, note="")
        if choice == "official":
            raise SetupError(
                f"official AlexNet weights {problem}. Put torchvision's {HUB_FILENAME} in "
                f"{found.parent} (or run once with internet access), or use --weights standin."
            )
        return _standin(cache_dir, note=f"Official AlexNet weights {problem}; using the stand-in.")
    return _custom(Path(choice), cache_dir)


def _resources(kind: str, checkpoint: Path, note: str) -> Resources:
    digest = sha256_of(checkpoint)
    hub = checkpoint.parent.parent
    notes = [note] if note else []
    if kind == "standin":
        notes.append(
            "Graded with STAND-IN AlexNet weights (deterministic, not ImageNet-trained): "
            "predicted labels are not meaningful, but every check compares student and "
            "reference on the same weights."
        )
    return Resources(
        describe={"weights": {"kind": kind, "sha256": digest, "file": str(checkpoint)}},
        environment={"TORCH_HOME": str(hub.parent)},
        readable=(str(hub),),
        notes=tuple(notes),
    )


def _official_file() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILENAME


def _verify_official(path: Path) -> str | None:
    """None when `path` is the official file, else what is wrong with it."""
    if not path.is_file():
        if _download(path):
            return _verify_official(path)
        return f"were not found at {path}"
    digest = sha256_of(path)
    if not digest.startswith(OFFICIAL_SHA256_PREFIX):
        return f"at {path} have SHA-256 {digest[:16]}..., not {OFFICIAL_SHA256_PREFIX}..."
    return None


def _download(path: Path) -> bool:
    if os.environ.get("GRADER_OFFLINE") == "1":
        return False
    import socket

    import torch.hub

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(OFFICIAL_URL, str(path), OFFICIAL_SHA256_PREFIX, progress=False)
        return True
    except Exception:  # offline, proxy, disk: the caller falls back or explains
        return False
    finally:
        socket.setdefaulttimeout(previous)


def _standin(cache_dir: Path, note: str) -> Resources:
    from assignments.cnn_basics import standin

    # Keyed by the builder's own source too: a changed recipe never reuses an old file.
    recipe = hashlib.sha256(Path(standin.__file__).read_bytes()).hexdigest()[:12]
    checkpoint = cache_dir / f"standin-{standin.STANDIN_SEED}-{recipe}" / "hub" / "checkpoints" / HUB_FILENAME
    if not checkpoint.is_file():
        with _locked(checkpoint.parent / ".lock"):
            if not checkpoint.is_file():  # another grader may have built it meanwhile
                import torch

                state = standin.build_standin_state_dict()
                partial = checkpoint.with_suffix(".partial")
                torch.save(state, partial)
                partial.replace(checkpoint)
    return _resources("standin", checkpoint, note)


def _custom(path: Path, cache_dir: Path) -> Resources:
    if not path.is_file():
        raise SetupError(
            f"--weights {str(path)!r} is not a file. Use auto, official, standin, or the "
            "path of an AlexNet state-dict (.pth) file."
        )
    import torch
    import torchvision

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        torchvision.models.alexnet().load_state_dict(state)
    except Exception as error:
        raise SetupError(
            f"--weights {str(path)!r} is not an AlexNet state dict ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}). Save one with torch.save(model.state_dict(), path)."
        ) from None
    digest = sha256_of(path)
    checkpoint = cache_dir / f"custom-{digest[:16]}" / "hub" / "checkpoints" / HUB_FILENAME
    if not checkpoint.exists():
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.symlink_to(path.resolve())
    return _resources("custom", checkpoint, note=f"Graded with custom AlexNet weights from {path}.")


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, remembered beside it (keyed by size and mtime) to save ~0.5 s."""
    path = path.resolve()
    stat = path.stat()
    sidecar = path.with_name(path.name + ".sha256.json")
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(sidecar.read_text())
        if cached["key"] == key:
            return str(cached["sha256"])
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(functools.partial(handle.read, 1 << 20), b""):
            digest.update(block)
    with contextlib.suppress(OSError):
        sidecar.write_text(json.dumps({"key": key, "sha256": digest.hexdigest()}))
    return digest.hexdigest()


def preload(resources: Resources, *, for_workers: bool = True) -> None:
    """Import torch and torchvision, and make pretrained AlexNet cheap.

    In the zygote (`for_workers`), also what workers need warm: matplotlib (notebooks
    plot) and PyTorch's kernels. The grader's own process computes each expected value
    once, so it skips those (about 1.5 s of CPU at every start).

    `weights.get_state_dict()` then maps the checkpoint with mmap (private, copy-on-write)
    instead of reading it, and the builder assigns those tensors to the model instead of
    copying them into freshly allocated memory. A pretrained AlexNet costs ~5 ms instead
    of ~0.5 s, and every model is still independent: an in-place change (a training
    step, a student's mistake) copies the touched pages for that model only.
    """
    os.environ.update(resources.environment)
    import torch

    import_torchvision(for_workers=for_workers)  # here, so workers need not (fast_torchvision.py)
    import torchvision.models._api as api
    import torchvision.transforms  # noqa: F401
    from torchvision.models import AlexNet_Weights

    checkpoint = _checkpoint_path(resources)
    original_load = api.load_state_dict_from_url

    @functools.wraps(original_load)
    def load_state_dict_from_url(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if url == AlexNet_Weights.IMAGENET1K_V1.url:
            return torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        return original_load(url, *args, **kwargs)

    api.load_state_dict_from_url = load_state_dict_from_url
    _install_fast_builder()
    torch.set_num_threads(1)  # before any kernel runs: a forked child must not inherit a pool
    if for_workers:
        _import_what_notebooks_import()
        _warm_up()


def _warm_up() -> None:
    """Run AlexNet once forward and backward, so forked workers inherit initialised kernels.

    Each new process otherwise pays PyTorch's first-use costs (kernel selection, workspace
    allocation) for every layer shape: about a third of a worker's time on a correct
    submission. The backward pass goes into the biases, as the fine-tune probe's does:
    the weight gradients no check computes would cost a second of every start-up. The
    model is deleted afterwards; workers see nothing of it.
    """
    import torch
    import torchvision.models as models

    model = models.alexnet(weights=models.AlexNet_Weights.IMAGENET1K_V1).eval()
    biases = [p for p in model.parameters() if p.dim() == 1]
    for batch in (1, 2):
        model(torch.zeros(batch, 3, 224, 224)).sum().backward(inputs=biases)
    del model


def _import_what_notebooks_import() -> None:
    """Notebooks plot: import matplotlib (headless) once here rather than in every worker."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        pass  # not installed: a notebook that imports it reports that cell as failed


def _checkpoint_path(resources: Resources) -> str:
    return os.path.join(resources.environment["TORCH_HOME"], "hub", "checkpoints", HUB_FILENAME)


def _install_fast_builder() -> None:
    """Replace torchvision's `alexnet` builder where student code can reach it.

    For pretrained weights the replacement skips the random initialisation (~0.3 s of
    draws that loading overwrites) and assigns the mapped tensors instead of copying
    them. It takes pretrained weights asked for in every way torchvision accepts: the
    enum, "DEFAULT" or "IMAGENET1K_V1", and the deprecated `pretrained=True` (with
    torchvision's own warning). Everything else (weights=None, positional arguments,
    bad arguments) goes to torchvision's own builder unchanged.
    """
    import sys
    import warnings

    import torch.nn.init as init
    import torchvision.models as models
    import torchvision.models._api as api
    from torchvision.models import AlexNet, AlexNet_Weights

    original = models.alexnet

    @functools.wraps(original)
    def alexnet(*args: Any, weights: Any = None, progress: bool = True, **kwargs: Any) -> Any:
        if "pretrained" in kwargs and weights is None:  # torchvision < 0.13's way, still accepted
            warnings.warn("The parameter 'pretrained' is deprecated, please use 'weights' instead.", UserWarning,
                          stacklevel=2)  # fmt: skip
            weights = AlexNet_Weights.IMAGENET1K_V1 if kwargs.pop("pretrained") else None
        if args or weights is None or kwargs.get("num_classes", 1000) != 1000 or "pretrained" in kwargs:
            return original(*args, weights=weights, progress=progress, **kwargs)
        weights = AlexNet_Weights.verify(weights)
        kwargs.pop("num_classes", None)
        saved = init.kaiming_uniform_, init.uniform_
        init.kaiming_uniform_ = init.uniform_ = lambda tensor, *a, **k: tensor
        try:
            model = AlexNet(**kwargs)
        finally:
            init.kaiming_uniform_, init.uniform_ = saved
        model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True), assign=True)
        return model

    models.alexnet = alexnet
    sys.modules["torchvision.models.alexnet"].alexnet = alexnet  # type: ignore[attr-defined]
    api.BUILTIN_MODELS["alexnet"] = alexnet
