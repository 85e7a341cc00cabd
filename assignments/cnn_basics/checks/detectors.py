"""One detector per catalogued mistake: does the evidence show this mistake, and only it?

A detector reads `Evidence` (fixed probe calls, the student's and the reference's answers)
and answers True only when the submission behaves exactly as that mistake makes it
behave. A check that fails asks `identify(check, evidence)`: the mistakes that fail that
check (the catalogue's `fails`) whose detector fires; a hint names a mistake only when
exactly one does. `tests/test_detectors.py` runs every detector on every fixture, and
each must fire on its own mistake's fixture and nowhere else.

Shipped with the public checks. Detectors that need a hidden module or the reference's
answers return False where those are missing (a student kit).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch

from assignments.cnn_basics import facts, mistakes
from assignments.cnn_basics.checks import evidence as ev
from assignments.cnn_basics.checks.evidence import Evidence
from grader.describe import number

Detector = Callable[[Evidence], bool]

# -- conv_out: wrong formulas, and wrong types of right answers -----------------------------------

# (in_sz, k, stride, pad, dilation) -> answer, for each way of getting the formula wrong.
FORMULAS: dict[str, Callable[..., float]] = {
    "right": lambda i, k, s, p, d: (i + 2 * p - d * (k - 1) - 1) // s + 1,
    "conv_out.off_by_one": lambda i, k, s, p, d: (i + 2 * p - d * (k - 1) - 1) // s,
    "conv_out.ignores_dilation": lambda i, k, s, p, d: (i + 2 * p - (k - 1) - 1) // s + 1,
    "conv_out.dilation_times_k": lambda i, k, s, p, d: (i + 2 * p - d * k) // s + 1,
    "conv_out.true_division": lambda i, k, s, p, d: (i + 2 * p - d * (k - 1) - 1) / s + 1,
    "conv_out.padding_once": lambda i, k, s, p, d: (i + p - d * (k - 1) - 1) // s + 1,
    "conv_out.ceil": lambda i, k, s, p, d: math.ceil((i + 2 * p - d * (k - 1) - 1) / s) + 1,
    "conv_out.stride_ignored": lambda i, k, s, p, d: i + 2 * p - d * (k - 1),
}


def _arguments(args: tuple[int, ...], kwargs: dict[str, int]) -> tuple[int, ...]:
    names = ("in_sz", "k", "stride", "pad", "dilation")
    values = dict(zip(names, (0, 0, 1, 0, 1)))
    values.update(zip(names, args))
    values.update(kwargs)
    return tuple(values[n] for n in names)


def _conv_answers(e: Evidence) -> list[tuple[tuple[int, ...], Any]] | None:
    """(arguments, described answer) for every telling case, or None if any call raised."""
    outcome = ev.conv_out_answers(e, ev.TELLING_CASES)
    if not outcome.ok or not all(item["ok"] for item in outcome.value):
        return None
    return [
        (_arguments(args, kwargs), item["result"]) for (args, kwargs, _), item in zip(ev.TELLING_CASES, outcome.value)
    ]


def _formula(name: str) -> Detector:
    def detect(e: Evidence) -> bool:
        answers = _conv_answers(e)
        formula = FORMULAS[name]
        return answers is not None and all(number(got) == formula(*args) for args, got in answers)

    detect.__name__ = name.replace(".", "_")
    return detect


def _right_values_of_type(predicate: Callable[[str], bool]) -> Detector:
    def detect(e: Evidence) -> bool:
        answers = _conv_answers(e)
        return answers is not None and all(
            predicate(got.get("type", "")) and number(got) == FORMULAS["right"](*args) for args, got in answers
        )

    return detect


# -- TinyCNN --------------------------------------------------------------------------------------


def _shapes(summary: ev.Outcome) -> list[list[int]] | None:
    return [p["shape"] for p in summary.value["parameters"]] if summary.ok else None


def _linear_in(summary: ev.Outcome) -> int | None:
    shapes = _shapes(summary)
    two_d = [shape for shape in shapes or [] if len(shape) == 2]
    return two_d[-1][1] if len(two_d) == 1 else None


def _convolutions_right(summary: ev.Outcome) -> bool:
    shapes = _shapes(summary)
    return shapes is not None and sorted(s for s in shapes if len(s) != 2) == sorted(
        s for s in facts.TINY_CNN_SHAPES_10 if len(s) != 2
    )


def _output(summary: ev.Outcome) -> dict[str, Any]:
    return summary.value.get("output", {}) if summary.ok else {}


def wrong_padding(e: Evidence) -> bool:
    """Unpadded 3x3 convolutions: a Linear sized for the smaller map, or a 4096 one it does not fit."""
    summary, forward = ev.tiny_summary(e, None, None), ev.tiny_summary(e, None, 3)
    if not _convolutions_right(summary):
        return False
    features = _linear_in(summary)
    if features in mistakes.WRONG_PADDING_FEATURES:
        return _output(forward).get("shape") == [3, 10]
    unpadded = "|".join(map(str, mistakes.WRONG_PADDING_FEATURES))
    return features == 4096 and bool(re.search(rf"\(3x({unpadded}) and 4096x10\)", forward.error))


def flatten_size(e: Evidence) -> bool:
    """Padded convolutions, but a Linear layer whose input size is not 64*8*8."""
    summary, forward = ev.tiny_summary(e, None, None), ev.tiny_summary(e, None, 3)
    features = _linear_in(summary)
    return (_convolutions_right(summary) and features not in (None, 4096)
            and f"(3x4096 and {features}x10)" in forward.error)  # fmt: skip


def flatten_batch(e: Evidence) -> bool:
    summary = ev.tiny_summary(e, None, None)
    forward = ev.tiny_summary(e, None, 3)
    return (
        sorted(_shapes(summary) or []) == sorted(facts.TINY_CNN_SHAPES_10)
        and f"(1x{3 * 4096} and 4096x10)" in forward.error
    )


def bias_false(e: Evidence) -> bool:
    summary = ev.tiny_summary(e, None, None)
    return sorted(_shapes(summary) or []) == sorted(s for s in facts.TINY_CNN_SHAPES_10 if s not in ([32], [64]))


def tiny_ignores_num_classes(e: Evidence) -> bool:
    return _output(ev.tiny_summary(e, 7, 2)).get("shape") == [2, 10] and _output(ev.tiny_summary(e, None, 3)).get(
        "shape"
    ) == [3, 10]


def wrong_default_classes(e: Evidence) -> bool:
    default = _output(ev.tiny_summary(e, None, 3)).get("shape")
    return (
        _output(ev.tiny_summary(e, 7, 2)).get("shape") == [2, 7]
        and bool(default)
        and default[:1] == [3]
        and default != [3, 10]
    )


def softmax_in_forward(e: Evidence) -> bool:
    output = _output(ev.tiny_summary(e, None, 3)).get("tensor")
    if not isinstance(output, torch.Tensor) or output.shape != (3, 10):
        return False
    rows = output.double()
    softmax = bool((rows >= 0).all()) and torch.allclose(rows.sum(1), torch.ones(3, dtype=torch.double), atol=1e-4)
    log_softmax = torch.allclose(rows.logsumexp(1), torch.zeros(3, dtype=torch.double), atol=1e-4)
    return softmax or log_softmax


def _variant(name: str) -> Detector:
    def detect(e: Evidence) -> bool:
        try:
            from assignments.cnn_basics.checks.hidden import variants
        except ImportError:  # a student kit: no hidden modules
            return False
        got, _ = ev.tiny_with_reference_weights(e)
        output = got.value.get("output", {}).get("tensor") if got.ok else None
        if not isinstance(output, torch.Tensor):
            return False
        weights = ev.reference_tiny_weights(e)
        batch = ev.seeded(ev.EQUIVALENCE_BATCH[0], 3, 32, 32, seed=ev.EQUIVALENCE_BATCH[1])
        return variants.matches(name, batch, weights, output)

    return detect


def no_gradients(e: Evidence) -> bool:
    gradients = ev.tiny_gradients(e)
    forward = _output(ev.tiny_summary(e, None, 3))
    return gradients.ok and forward.get("shape") == [3, 10] and not all(g["has_grad"] for g in gradients.value["grads"])


# -- predict_top5 -----------------------------------------------------------------------------------


def _pairs(result: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]] | None:
    if result.get("type") not in ("list", "tuple") or "items" not in result:
        return None
    out = []
    for item in result["items"]:
        if item.get("type") not in ("list", "tuple") or len(item.get("items", [])) != 2:
            return None
        label, probability = item["items"]
        out.append((label.get("value") if label.get("type") == "str" else label, probability))
    return out


def _top5(e: Evidence) -> tuple[list[Any], list[float | None], list[str], list[float]] | None:
    """(labels, probabilities, the reference's labels, its probabilities) on the seed photo."""
    got, want, _ = ev.top5_seed(e)
    if not got.ok or not got.value.get("ok") or not want.get("ok"):
        return None
    mine, theirs = _pairs(got.value["result"]), _pairs(want["result"])
    if mine is None or theirs is None or len(mine) != 5:
        return None
    return [label for label, _ in mine], [number(p) for _, p in mine], [label for label, _ in theirs], [number(p) for _, p in theirs]  # fmt: skip


def _close(values: list[float | None], wanted: list[float], tolerance: float = 1e-4) -> bool:
    return len(values) == len(wanted) and all(v is not None and abs(v - w) <= tolerance for v, w in zip(values, wanted))


def no_normalisation(e: Evidence) -> bool:
    got, want, unnormalised = ev.top5_seed(e)
    if not got.ok or not got.value.get("ok"):
        return False
    found = _top5(e)
    mine = _pairs(unnormalised["result"]) if unnormalised.get("ok") else None
    return found is not None and mine is not None and found[0] == [label for label, _ in mine] and _close(
        found[1], [number(p) for _, p in mine]
    ) and found[0] != found[2]  # fmt: skip


def softmax_wrong_dim(e: Evidence) -> bool:
    found = _top5(e)
    return found is not None and all(p is not None and abs(p - 1.0) < 1e-6 for p in found[1])


def indices_not_names(e: Evidence) -> bool:
    found = _top5(e)
    if found is None:
        return False
    labels = found[0]
    return all(isinstance(x, dict) and number(x) is not None or isinstance(x, str) and x.isdigit() for x in labels)


def wrong_order(e: Evidence) -> bool:
    found = _top5(e)
    if found is None:
        return False
    labels, probabilities, want_labels, _ = found
    return (sorted(map(str, labels)) == sorted(map(str, want_labels)) and labels != want_labels
            and all(p is not None for p in probabilities) and probabilities == sorted(probabilities))  # fmt: skip


def _right_labels(e: Evidence) -> tuple[list[float | None], list[float]] | None:
    found = _top5(e)
    return (found[1], found[3]) if found is not None and found[0] == found[2] else None


def logits_not_probabilities(e: Evidence) -> bool:
    found = _right_labels(e)
    return (found is not None and any(p is None or p < 0 or p > 1 for p in found[0])
            and not percent_probabilities(e) and not softmax_top5_only(e))  # fmt: skip


def percent_probabilities(e: Evidence) -> bool:
    found = _right_labels(e)
    return found is not None and _close([p / 100 if p is not None else None for p in found[0]], found[1], 1e-5)


def softmax_top5_only(e: Evidence) -> bool:
    found = _right_labels(e)
    if found is None or sum(found[1]) > 0.999:
        return False
    return _close(found[0], [q / sum(found[1]) for q in found[1]])


def tensor_probabilities(e: Evidence) -> bool:
    got, _, _ = ev.top5_seed(e)
    found = _right_labels(e)
    if found is None or not _close(*found):
        return False
    kinds = {p.get("type") for _, p in _pairs(got.value["result"]) or []}
    return bool(kinds) and all(kind.startswith(("torch.", "numpy.")) for kind in kinds)


def missing_batch_dim(e: Evidence) -> bool:
    got, _, _ = ev.top5_seed(e)
    error = got.error or (got.value["error"]["message"] if got.ok and not got.value.get("ok") else "")
    return "(256x36 and 9216x4096)" in error


# -- extract_embedding --------------------------------------------------------------------------


def _embedding(e: Evidence, mode: str = "eval") -> dict[str, Any] | None:
    outcome = ev.embedding(e, mode)
    return outcome.value if outcome.ok else None


def _tensor(report: dict[str, Any] | None) -> torch.Tensor | None:
    value = report["result"].get("tensor") if report else None
    return value if isinstance(value, torch.Tensor) else None


def _same(got: torch.Tensor | None, want: torch.Tensor | None) -> bool:
    return (got is not None and want is not None and got.shape == want.shape and got.is_floating_point()
            and torch.allclose(got.double(), want.double(), atol=1e-4, rtol=1e-4))  # fmt: skip


def before_relu(e: Evidence) -> bool:
    got, want = _tensor(_embedding(e)), ev.reference_embedding(e, 2)
    return got is not None and bool((got < 0).any()) and _same(torch.relu(got), want)


def embedding_logits(e: Evidence) -> bool:
    report = _embedding(e)
    return report is not None and report["result"].get("shape") == [2, 1000]


def hook_left(e: Evidence) -> bool:
    report = _embedding(e)
    return report is not None and report["hooks_added"] > 0


def train_mode_left(e: Evidence) -> bool:
    handed = {"eval": False, "train": True}
    reports = {mode: _embedding(e, mode) for mode in handed}
    return any(report is not None and any(flag != handed[mode] for flag in report["training_after"])
               for mode, report in reports.items())  # fmt: skip


def autograd_graph(e: Evidence) -> bool:
    report = _embedding(e)
    return report is not None and bool(report["result"].get("requires_grad") or report["result"].get("has_grad_fn"))


def changed_parameters(e: Evidence) -> bool:
    reports = [_embedding(e, mode) for mode in ("eval", "train")]
    return any(r is not None and (r["parameters"]["missing"] or r["parameters"]["different"]
                                  or not r["requires_grad_unchanged"]) for r in reports)  # fmt: skip


def dropout_active(e: Evidence) -> bool:
    in_train_mode = _tensor(_embedding(e, "train"))
    return (_same(_tensor(_embedding(e)), ev.reference_embedding(e, 2)) and in_train_mode is not None
            and in_train_mode.shape == (1, facts.EMBEDDING_DIM) and not _same(in_train_mode, ev.reference_embedding(e, 1)))  # fmt: skip


def missing_flatten(e: Evidence) -> bool:
    return bool(re.search(r"\(\d+x6 and 9216x4096\)", ev.embedding(e).error))


# -- build_finetune_model -------------------------------------------------------------------------


def _finetune(e: Evidence, num_classes: int | None = None, freeze: bool | None = None) -> dict[str, Any] | None:
    outcome = ev.finetune(e, num_classes, freeze)
    return outcome.value if outcome.ok else None


def _head_right(report: dict[str, Any]) -> bool:
    head = report["head"]
    return bool(head["present"] and head.get("type") == "Linear" and (head.get("in_features"), head.get("out_features")) == (4096, 10))  # fmt: skip


def not_frozen(e: Evidence) -> bool:
    report = _finetune(e)
    return report is not None and _head_right(report) and report["trainable"] == report["total"]


def classifier_not_frozen(e: Evidence) -> bool:
    report = _finetune(e)
    if report is None or not _head_right(report):
        return False
    layers = {".".join(name.split(".")[:2]) for name in report["trainable_names"]}
    return layers == {"classifier.1", "classifier.4", "classifier.6"}


def head_frozen(e: Evidence) -> bool:
    report = _finetune(e)
    return report is not None and _head_right(report) and report["trainable"] == 0


def whole_classifier(e: Evidence) -> bool:
    report = _finetune(e)
    if report is None:
        return False
    backbone = report.get("backbone", {"missing": [], "different": []})
    changed = backbone["missing"] + backbone["different"]
    rebuilt = bool(changed) and all(name.startswith("classifier.") for name in changed)
    return not report["head"]["present"] or rebuilt


def random_weights(e: Evidence) -> bool:
    report = _finetune(e)
    different = report.get("backbone", {}).get("different", []) if report else []
    return len(different) >= 10 and any(name.startswith("features.") for name in different)


def finetune_ignores_num_classes(e: Evidence) -> bool:
    report = _finetune(e, 7, False)
    return report is not None and report["output_shape"] == [1, 10]


DETECTORS: dict[str, Detector] = {
    **{name: _formula(name) for name in FORMULAS if name != "right"},
    "conv_out.returns_float": _right_values_of_type(lambda kind: kind in ("float", "numpy.float64", "numpy.float32")),
    "conv_out.numpy_int": _right_values_of_type(lambda kind: kind.startswith(("numpy.int", "numpy.uint"))),
    "tiny_cnn.missing_relu": _variant("tiny_cnn.missing_relu"),
    "tiny_cnn.avg_pool": _variant("tiny_cnn.avg_pool"),
    "tiny_cnn.wrong_padding": wrong_padding,
    "tiny_cnn.flatten_size": flatten_size,
    "tiny_cnn.flatten_batch": flatten_batch,
    "tiny_cnn.bias_false": bias_false,
    "tiny_cnn.ignores_num_classes": tiny_ignores_num_classes,
    "tiny_cnn.wrong_default_classes": wrong_default_classes,
    "tiny_cnn.softmax_in_forward": softmax_in_forward,
    "tiny_cnn.no_gradients": no_gradients,
    "top5.no_normalisation": no_normalisation,
    "top5.softmax_wrong_dim": softmax_wrong_dim,
    "top5.indices_not_names": indices_not_names,
    "top5.wrong_order": wrong_order,
    "top5.logits_not_probabilities": logits_not_probabilities,
    "top5.percent_probabilities": percent_probabilities,
    "top5.softmax_top5_only": softmax_top5_only,
    "top5.tensor_probabilities": tensor_probabilities,
    "top5.missing_batch_dim": missing_batch_dim,
    "embedding.before_relu": before_relu,
    "embedding.logits": embedding_logits,
    "embedding.hook_left": hook_left,
    "embedding.train_mode_left": train_mode_left,
    "embedding.autograd_graph": autograd_graph,
    "embedding.changed_parameters": changed_parameters,
    "embedding.dropout_active": dropout_active,
    "embedding.missing_flatten": missing_flatten,
    "finetune.not_frozen": not_frozen,
    "finetune.classifier_not_frozen": classifier_not_frozen,
    "finetune.head_frozen": head_frozen,
    "finetune.whole_classifier": whole_classifier,
    "finetune.random_weights": random_weights,
    "finetune.ignores_num_classes": finetune_ignores_num_classes,
}


def fires(mistake_id: str, e: Evidence) -> bool:
    """Whether the detector of `mistake_id` fires (False where its evidence is not at hand)."""
    try:
        return bool(DETECTORS[mistake_id](e))
    except ev.Unavailable:
        return False


def identify(check: str, e: Evidence) -> str:
    """The one catalogued mistake the evidence shows that explains why `check` failed; or "".

    Candidates are the mistakes known to fail this check (the catalogue's `fails`, and
    `also` for other forms of the same mistake). With none of them firing, or several,
    no mistake is named: the check then says what it observed and gives its general hint.
    """
    fired = [m.id for m in mistakes.CATALOGUE.values() if check in (*m.fails, *m.also) and fires(m.id, e)]
    return fired[0] if len(fired) == 1 else ""
