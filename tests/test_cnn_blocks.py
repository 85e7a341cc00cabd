"""cnn_blocks, the second assignment: its rubric, its mistakes catalogue, its held-out data, its budget.

One real `grade --assignment cnn_blocks` run (module scope, two jobs, a 5 s training
budget) grades every fixture in `submissions/cnn_blocks/` (a fixture per catalogued
mistake, correct variants written differently, a submission that tries to steal the
held-out digits), the reference, the stubs and the example class; the slow tests read
its results.json.
The fast tests run in this process: facts re-derived from PyTorch, what the kit would
ship, the training budget against code that fights it, and property tests on the
inputs students give.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from assignments.cnn_blocks import data, facts, probes
from assignments.cnn_blocks.checks import evidence as ev
from assignments.cnn_blocks.checks.hidden.heldout import heldout
from assignments.cnn_blocks.checks.hidden.test_receptive_field import measured
from assignments.cnn_blocks.mistakes import CATALOGUE
from tests.conftest import ROOT, SUBMISSIONS

FIXTURES = SUBMISSIONS / "cnn_blocks"
EXAMPLES = ROOT / "examples" / "cnn_blocks" / "submissions"
ASSIGNMENT = ROOT / "assignments" / "cnn_blocks"
REFERENCE = ROOT / "reference" / "cnn_blocks.py"
MASTER = ROOT / "reference" / "cnn_blocks_master.py"  # not in the assignment folder: the kit ships that whole
HELDOUT_FILE = ROOT / "reference" / "cnn_blocks_heldout" / "heldout.safetensors"

# The example class: id -> (score, the mistakes its failed checks name).
EXAMPLE_SCORES: dict[str, tuple[float, set[str]]] = {
    "amara": (100, set()),  # a notebook
    "bruno": (100, set()),  # a .py with a demo under __main__
    "chen": (84, {"receptive_field.own_stride", "conv_bn_block.dropout_not_2d"}),
    "dana": (81, {"gap_cnn.flatten_fixed_linear", "train_classifier.not_seeded"}),
    "emil": (94, {"batch_images.no_convert", "train_classifier.train_mode"}),
}
THEFTS = ("sklearn.load_digits", "sklearn digits.csv.gz", "held-out split", "reference solution", "training split",
          "filesystem walk")  # fmt: skip


def fixture_name(mistake_id: str) -> str:
    return mistake_id.replace(".", "_") + ".py"


def correct_variants() -> list[str]:
    return sorted(p.name for p in (FIXTURES / "correct").iterdir() if not p.name.startswith((".", "_")))


def _copy(source: Path, target: Path) -> None:
    if source.suffix == ".ipynb":  # a notebook is graded from a folder named after the student
        target.mkdir()
        shutil.copy(source, target / "cnn_blocks.ipynb")
    elif source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target.with_suffix(".py"))


# The batch grades with this training budget (`--train-cpu-seconds`), not the default 30 s:
# the over-budget fixture is then stopped after 5 s of CPU instead of 30, and every honest
# training (the slowest, the thief's, takes about 3 s) still fits.
BUDGET = 5.0

# Graded first (ids are graded in order): its training until the budget stops it then
# overlaps the others instead of running alone at the end, with the second core idle.
SLOWEST = "train_classifier_over_budget"


def batch_id(kind: str, stem: str) -> str:
    return f"{'0-' if stem == SLOWEST else ''}{kind}-{stem}"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[dict[str, dict[str, Any]], Path, float]:
    """Every cnn_blocks submission of these tests graded in one `grade` run: (records by id, the output folder, seconds)."""
    folder = tmp_path_factory.mktemp("cnn_blocks") / "submissions"
    folder.mkdir()
    for kind in ("mistakes", "correct", "hostile"):
        for path in sorted((FIXTURES / kind).iterdir()):
            _copy(path, folder / batch_id(kind, path.stem))
    _copy(REFERENCE, folder / "reference")
    _copy(ASSIGNMENT / "cnn_blocks.py", folder / "stub")
    _copy(ASSIGNMENT / "cnn_blocks.ipynb", folder / "stub_notebook")
    for path in sorted(EXAMPLES.iterdir()):
        _copy(path, folder / f"example-{path.stem}")
    out = tmp_path_factory.mktemp("cnn_blocks_out") / "grading"
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "grader.cli", "--assignment", "cnn_blocks", str(folder), "--out",
                          str(out), "--jobs", "2", "--train-cpu-seconds", f"{BUDGET:g}"], capture_output=True, text=True,
                         env=env, timeout=900)  # fmt: skip
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    records = {s["id"]: s for s in json.loads((out / "results.json").read_text())["submissions"]}
    return records, out, seconds


def checks_of(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{q['name']}.{c['name']}": c for q in record["questions"] for c in q["checks"]}


def question_scores(record: dict[str, Any]) -> dict[str, float]:
    return {q["name"]: q["score"] for q in record["questions"]}


# -- the catalogue and its fixtures ------------------------------------------------------------


def test_every_mistake_has_a_fixture() -> None:
    assert {p.name for p in (FIXTURES / "mistakes").glob("*.py")} == {fixture_name(m) for m in CATALOGUE}
    assert all(m.fails for m in CATALOGUE.values())
    assert len(correct_variants()) >= 5


def test_checks_named_by_the_catalogue_exist_and_points_add_up() -> None:
    """Every check a mistake names exists, and each question's checks are worth its points."""
    from grader.assignment import load
    from grader.redact import hidden_check_names

    assignment = load("cnn_blocks")
    names, points = set(hidden_check_names(assignment)), {}
    for path in (ASSIGNMENT / "checks").rglob("test_*.py"):
        module = path.read_text()
        question = module.split('pytest.mark.question("')[1].split('"')[0]
        for part in module.split("@pytest.mark.points(")[1:]:
            value = float(part.split(",")[0])
            name = part.split("def test_")[1].split("(")[0]
            names.add(f"{question}.{name}")
            points[question] = points.get(question, 0) + value
    assert points == {q.name: q.points for q in assignment.questions}
    assert sum(points.values()) == 100
    for mistake in CATALOGUE.values():
        assert set(mistake.fails) | set(mistake.also) <= names, mistake.id


# -- grading: the reference, the stubs, each mistake, the variants ----------------------------


@pytest.mark.slow
def test_reference_scores_100_and_stubs_0(batch) -> None:
    records, _, _ = batch
    assert (records["reference"]["status"], records["reference"]["score"]) == ("graded", 100)
    for stub in ("stub", "stub_notebook"):
        assert (records[stub]["status"], records[stub]["score"]) == ("graded", 0), checks_of(records[stub])


@pytest.mark.slow
@pytest.mark.parametrize("mistake_id", sorted(CATALOGUE))
def test_mistake_costs_its_checks_and_gets_its_hint(batch, mistake_id: str) -> None:
    mistake = CATALOGUE[mistake_id]
    record = batch[0][batch_id("mistakes", fixture_name(mistake_id)[:-3])]
    assert record["status"] == "graded", record.get("message")
    checks = checks_of(record)
    failed = {name for name, check in checks.items() if not check["passed"]}
    assert failed == set(mistake.fails)
    for name in mistake.fails:
        check = checks[name]
        assert check["score"] == 0 and check["message"], (name, check)
        assert (check["mistake"], check["hint"]) == (mistake_id, mistake.hint), (name, check["message"])
    assert record["score"] == pytest.approx(100 - sum(checks[name]["max_score"] for name in mistake.fails))


@pytest.mark.slow
@pytest.mark.parametrize("name", correct_variants())
def test_correct_variant_scores_100(batch, name: str) -> None:
    record = batch[0][f"correct-{Path(name).stem}"]
    failed = [f"{n}: {c['message']}" for n, c in checks_of(record).items() if not c["passed"]]
    assert (record["status"], record["score"], failed) == ("graded", 100, [])
    assert not record.get("load_failures")


@pytest.mark.slow
def test_demo_under_main_does_not_run_at_grading(batch) -> None:
    assert "validation accuracy" not in batch[0]["correct-main_guard_demo"].get("output", "")


# -- the training budget ------------------------------------------------------------------------


@pytest.mark.slow
def test_over_budget_training_scores_0_on_its_question_only(batch) -> None:
    record = batch[0][batch_id("mistakes", SLOWEST)]
    scores = question_scores(record)
    assert scores.pop("train_classifier") == 0
    assert scores == {"receptive_field": 15, "gap_cnn": 20, "conv_bn_block": 20, "batch_images": 10}
    for name, check in checks_of(record).items():
        if name.startswith("train_classifier."):
            assert "was stopped after" in check["message"] and f"the budget is {BUDGET:g} s of CPU" in check["message"]
            assert "The whole question scores 0" in check["message"]


@pytest.mark.slow
def test_the_run_records_its_training_budget(batch) -> None:
    """results.json and the class page say which budget the run graded with (here the batch's, not the default)."""
    _, out, _ = batch
    recorded = json.loads((out / "results.json").read_text())["train_cpu_seconds"]
    assert (recorded["cpu_seconds"], recorded["wall_seconds"]) == (BUDGET, facts.TRAIN_WALL_SECONDS)
    assert f"{BUDGET:g} s of CPU" in recorded["kind"] and recorded["kind"] in (out / "index.html").read_text()


def test_the_default_training_budget_is_30_s_and_an_option_sets_another() -> None:
    """Without `--train-cpu-seconds` a run's budget is 30 s of CPU; the option sets a smaller one, never a larger."""
    from assignments.cnn_blocks import resources
    from grader.errors import SetupError
    from grader.resources import options_of, with_defaults

    declared = options_of("assignments.cnn_blocks.resources")
    assert [(o.name, o.default) for o in declared] == [("train_cpu_seconds", "30")]
    try:
        described = resources.prepare(with_defaults({}, declared), Path("/nonexistent")).describe
        assert (described["train_cpu_seconds"]["cpu_seconds"], facts.train_cpu_seconds()) == (30, 30)
        assert (described["train_cpu_seconds"]["wall_seconds"], facts.train_wall_seconds()) == (75, 75)
        resources.prepare({"train_cpu_seconds": "2.5"}, Path("/nonexistent"))
        assert ev.train(ev.Evidence(lambda probe, **args: args["cpu_limit"], lambda *a, **k: None), {}).value == 2.5
        for wrong in ("0", "31", "-1", "nan", "thirty"):
            with pytest.raises(SetupError, match="train-cpu-seconds"):
                resources.train_budget(wrong)
    finally:
        facts.TrainBudget.cpu_seconds = facts.TRAIN_CPU_SECONDS


def _fake(train: Any) -> types.ModuleType:
    module = types.ModuleType("fake_student")
    module.train_classifier = train  # type: ignore[attr-defined]
    return module


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _report(train: Any, cpu_limit: float = 0.5) -> dict[str, Any]:
    pixels, labels = data.train_pixels()
    return dict(probes.train_report(_fake(train), pixels[:20], labels[:20], 0, {"v": pixels[:3]},
                                    cpu_limit=cpu_limit, wall_limit=10.0, run=int(time.monotonic_ns())))  # fmt: skip


def _linear(train_x: torch.Tensor, train_y: torch.Tensor, *, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()


def test_budget_stops_training_that_runs_past_it() -> None:
    def slow(train_x, train_y, *, seed=0):
        _burn(3.0)
        return _linear(train_x, train_y)

    started = time.process_time()
    report = _report(slow)
    assert report["status"] == "over_budget" and "predictions" not in report
    assert time.process_time() - started < 2.0  # stopped near 0.5 s, not after 3 s


def test_budget_holds_against_swapped_handlers_and_swallowed_stops() -> None:
    """Code that ignores SIGPROF, disarms the timers through `signal`, or catches the stop, still is over budget."""
    saved = signal.setitimer, signal.getsignal(signal.SIGPROF), signal.getsignal(signal.SIGALRM)

    def disarming(train_x, train_y, *, seed=0):
        signal.signal(signal.SIGPROF, signal.SIG_IGN)
        signal.setitimer = lambda *args, **kwargs: (0.0, 0.0)  # what the probe calls later is bound already
        _burn(1.0)
        return _linear(train_x, train_y)

    def swallowing(train_x, train_y, *, seed=0):
        for _ in range(3):
            try:
                _burn(0.4)
            except BaseException:  # noqa: BLE001 - the point: a stop that is caught
                pass
        return _linear(train_x, train_y)

    try:
        for train in (disarming, swallowing):
            report = _report(train)
            assert report["status"] == "over_budget", (train.__name__, report)
            assert report["cpu_seconds"] > 0.5
    finally:
        signal.setitimer = saved[0]
        signal.signal(signal.SIGPROF, saved[1])
        signal.signal(signal.SIGALRM, saved[2])
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_budget_lets_quick_training_through_and_predicts_in_eval_mode() -> None:
    def quick(train_x, train_y, *, seed=0):
        return _linear(train_x, train_y).train()

    report = _report(quick, cpu_limit=5.0)
    assert report["status"] == "ok" and len(report["predictions"]["v"]) == 3
    assert report["training_modules"]  # recorded before the probe's own eval()


# -- the held-out digits: never in a kit, never readable by a worker --------------------------


def test_heldout_split_is_disjoint_and_apart_from_what_ships() -> None:
    pixels, labels = heldout()
    assert pixels.shape == (500, 8, 8) and sorted(set(labels.tolist())) == list(range(10))
    assert HELDOUT_FILE.is_file() and not HELDOUT_FILE.is_relative_to(ASSIGNMENT)
    train, validation = data.train_pixels(), data.validation_pixels()
    assert len(train[1]) + len(validation[1]) + len(labels) == 1797


def test_split_files_are_what_make_data_writes() -> None:
    """The three files regenerate byte for byte from scikit-learn's digits (`python -m assignments.cnn_blocks.make_data`)."""
    pytest.importorskip("sklearn")
    from assignments.cnn_blocks import make_data

    for name, (pixels, labels) in make_data.splits().items():
        stored_pixels, stored_labels = data.read(make_data.TARGETS[name])
        assert torch.equal(stored_pixels, torch.from_numpy(pixels)) and torch.equal(
            stored_labels, torch.from_numpy(labels)
        )


def test_the_kit_ships_no_heldout_data(tmp_path: Path) -> None:
    """What `grade release` copies of the assignment: no held-out file, no bytes of it, no hidden check's name."""
    from grader.assignment import load
    from grader.kit import _copy_assignment
    from grader.redact import find_names, hidden_check_names

    assignment = load("cnn_blocks")
    hidden = hidden_check_names(assignment)
    _copy_assignment(assignment, tmp_path, hidden=hidden, include_hidden=False)
    shipped = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "digits_train.safetensors" for p in shipped)
    secret = HELDOUT_FILE.read_bytes()
    assert not [p for p in shipped if "heldout" in p.name or p.read_bytes() == secret]
    assert not list(find_names(tmp_path, hidden))
    assert not (tmp_path / "cnn_blocks" / "checks" / "hidden").exists()
    assert not [p for p in shipped if p.suffix in (".py", ".ipynb", ".md") and solution_lines() & lines_of(p)]


def solution_lines() -> set[str]:
    """The master's solution regions, line by line (those long enough to be telling)."""
    lines, inside = set(), False
    for line in MASTER.read_text().splitlines():
        if "# BEGIN SOLUTION" in line or "# END SOLUTION" in line:
            inside = "BEGIN" in line
        elif inside and len(line.strip()) >= 30:
            lines.add(line.strip())
    assert len(lines) > 10
    return lines


def lines_of(path: Path) -> set[str]:
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
    return {line.strip() for line in text.splitlines()}


def test_resources_hide_sklearn_bundled_data() -> None:
    pytest.importorskip("sklearn")
    from assignments.cnn_blocks import resources

    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    prepared = resources.prepare({}, Path("/nonexistent"))
    assert str(folder.resolve()) in prepared.hidden
    assert (folder / "digits.csv.gz").is_file()  # here, in the grader's process, it is there to steal


@pytest.mark.slow
def test_heldout_thief_gets_nothing_and_scores_as_honest_code(batch) -> None:
    pytest.importorskip("sklearn")  # without it, the first two thefts prove nothing
    records = batch[0]
    thief = records["hostile-heldout_thief"]
    assert thief["score"] == records["correct-reference_style"]["score"] == 100
    output = thief.get("output", "")
    assert "STOLEN" not in output, output[-2000:]
    for theft in THEFTS:
        assert f"REFUSED {theft}:" in output, (theft, output[-2000:])
    walked = int(output.split("WALKED ")[1].split()[0])
    assert walked > 1000, output[-2000:]  # it did look around: the interpreter and its libraries


# -- the class, its pages and its gradebook ---------------------------------------------------


@pytest.mark.slow
def test_example_class_scores(batch) -> None:
    records = batch[0]
    for student, (score, named) in EXAMPLE_SCORES.items():
        record = records[f"example-{student}"]
        assert (record["status"], record["score"]) == ("graded", score), student
        assert {c["mistake"] for c in checks_of(record).values() if not c["passed"]} - {""} == named


@pytest.mark.slow
def test_pages_gradebook_and_timings(batch) -> None:
    records, out, seconds = batch
    with open(out / "grades.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "total", "receptive_field", "gap_cnn", "conv_bn_block", "batch_images", "train_classifier"]
    assert {row[0] for row in rows[1:]} == set(records)
    assert (out / "index.html").is_file() and (out / "students" / "example-chen.html").is_file()
    timings = json.loads((out / "timings.json").read_text())["seconds"]
    per_submission = sorted(timings.values())[len(timings) // 2]
    print(f"\ncnn_blocks: {len(records)} submissions in {seconds:.1f} s; median {per_submission:.1f} s each")
    assert per_submission < 30


@pytest.mark.slow
def test_grade_check_on_the_reference(cache_dir: Path) -> None:
    env = dict(os.environ, GRADER_CACHE_DIR=str(cache_dir))
    run = subprocess.run([sys.executable, "-m", "grader.cli", "check", "--assignment", "cnn_blocks", str(REFERENCE)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "49 / 49" in run.stdout


# -- facts and properties --------------------------------------------------------------------


def _reference() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("cnn_blocks_reference_for_tests", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _reference()


def test_facts_rederived_from_pytorch() -> None:
    model = REF.GapCNN()
    assert sum(p.numel() for p in model.parameters()) == facts.GAP_CNN_PARAMS_10 == facts.gap_cnn_params(10)
    assert sorted(list(p.shape) for p in model.parameters()) == sorted(facts.GAP_CNN_SHAPES_10)
    assert sum(p.numel() for p in REF.GapCNN(7).parameters()) == facts.gap_cnn_params(7)
    assert REF.GapCNN()(torch.zeros(1, 3, facts.MIN_GAP_SIZE, facts.MIN_GAP_SIZE)).shape == (1, 10)
    block = REF.conv_bn_block(5, 7)
    assert sum(p.numel() for p in block.parameters()) == facts.conv_bn_params(5, 7)
    assert block[3].p == facts.DEFAULT_DROPOUT
    for stack, answer in (*facts.WORKED_EXAMPLES, facts.EMPTY_STACK, *ev.TELLING_CASES):
        assert measured(stack) == answer, stack


layers = st.tuples(st.integers(1, 7), st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=60, deadline=None)
@given(st.lists(layers, max_size=5))
def test_receptive_field_matches_brute_force(stack: list[tuple[int, int, int]]) -> None:
    """The reference and the two other correct formulas agree with the field measured on real layers."""
    want = measured(tuple(stack))
    assert REF.receptive_field(list(stack)) == want
    answers = probes.receptive_field_cases(REF, [[list(layer) for layer in stack]])
    assert answers == [{"ok": True, "result": {"type": "int", "value": want}}]


image_specs = st.lists(st.tuples(st.sampled_from(["L", "RGB", "RGBA", "P"]), st.integers(0, 10_000)),
                       min_size=1, max_size=4)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(image_specs, st.integers(4, 24), st.integers(4, 24), st.sampled_from(probes.PREPROCESS))
def test_batch_images_over_random_modes_and_sizes(specs, height, width, preprocess) -> None:
    """Whatever modes students' images come in, the probe builds them, the reference batches them to
    [N, 3, H, W] through RGB, and the images handed over stay as they were."""
    images = [ev._pixels(mode, height, width, seed) for mode, seed in specs]
    report = probes.batch_images_report(REF, images, preprocess)
    assert report["call"]["ok"], report["call"]
    size = (20, 20) if preprocess == "resize_normalize" else (height, width)
    assert report["call"]["result"]["shape"] == [len(specs), 3, *size]
    assert report["modes_seen"] == ["RGB"] * len(specs)
    assert report["list_unchanged"] and report["images_unchanged"]
    assert [probes._image(spec).mode for spec in images] == [mode for mode, _ in specs]


def test_the_stubs_and_reference_are_what_grade_author_makes_of_the_master() -> None:
    """cnn_blocks is authored from one master: the committed stubs and reference are exactly what
    `grade author reference/cnn_blocks_master.py --name cnn_blocks` writes, so the test above (the
    stubs score 0, the reference 100) is a test of the authored files."""
    from grader.author import author_texts

    texts = author_texts(MASTER, "cnn_blocks")
    assert sorted(texts.stubs) == ["cnn_blocks.ipynb", "cnn_blocks.py"]
    for file, text in texts.stubs.items():
        assert (ROOT / "assignments" / "cnn_blocks" / file).read_text(encoding="utf-8") == text, file
    assert (ROOT / "reference" / "cnn_blocks.py").read_text(encoding="utf-8") == texts.reference
    assert texts.regions >= 5
