"""`grade similarity`: planted copies are found, independent work and the starter code are not,
and the report is deterministic, escaped, instructors-only and never a crash."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import disguise
from grader import kit, similarity
from grader.assignment import load
from grader.cli import main
from grader.report import render_all
from grader.results import QuestionInfo, RunInfo, RunResult, SubmissionResult
from grader.similarity_report import write_similarity
from tests.conftest import ROOT, SUBMISSIONS

CORRECT = SUBMISSIONS / "correct"
EXAMPLES = ROOT / "examples" / "submissions"
ASSIGNMENT = load()
STUBS = [ASSIGNMENT.folder / stub for stub in ASSIGNMENT.stubs]
# Correct solutions written independently of each other (see benchmarks/similarity.py).
INDEPENDENT = ["explicit_layers_hook", "legacy_pretrained", "manual_transforms", "numpy_then_cast", "utf8_bom",
               "sequential_inference_mode", "reordered_layers"]  # fmt: skip


def find(folder: Path, threshold: float = similarity.DEFAULT_THRESHOLD) -> similarity.Similarity:
    return similarity.find_similar(folder, ASSIGNMENT.module, STUBS, threshold)


def ids(result: similarity.Similarity) -> set[tuple[str, str]]:
    return {(p.a, p.b) for p in result.pairs}


def independent_class(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in INDEPENDENT:
        shutil.copyfile(CORRECT / f"{name}.py", folder / f"{name}.py")
    return folder


def test_a_renamed_reordered_notebook_copy_is_flagged_and_independent_solutions_are_not(tmp_path: Path) -> None:
    folder = independent_class(tmp_path / "class")
    rng = random.Random(3)
    code = disguise.reorder(disguise.rename((CORRECT / "explicit_layers_hook.py").read_text(), rng), rng)
    (folder / "copier.ipynb").write_text(disguise.to_notebook(code, rng))
    result = find(folder)
    assert ids(result) == {("copier", "explicit_layers_hook")}
    pair = result.pairs[0]
    assert pair.similarity >= 0.9 and pair.a_share >= 0.9 and pair.b_share >= 0.9
    assert result.compared == len(INDEPENDENT) + 1 and not result.skipped


def test_a_py_and_a_notebook_holding_the_same_code_match_whole(tmp_path: Path) -> None:
    cells = [c["original"] for c in json.loads((CORRECT / "notebook_with_magics.ipynb").read_text())["cells"]
             if c["cell_type"] == "code" and (c.update(original="".join(c["source"])) or True)]  # fmt: skip
    folder = independent_class(tmp_path / "class")
    shutil.copyfile(CORRECT / "notebook_with_magics.ipynb", folder / "nb.ipynb")
    (folder / "script.py").write_text(disguise.from_notebook(cells))  # magics as get_ipython() calls
    result = find(folder)
    assert ids(result) == {("nb", "script")}
    assert result.pairs[0].similarity >= 0.95


def test_the_examples_flag_only_the_solutions_made_from_one_another() -> None:
    # chloe, eve and dmitri are the reference with a mistake or two: copies by construction.
    # ada (a notebook), ben, farid (a short unfinished file) were written on their own.
    assert ids(find(EXAMPLES)) <= {("chloe", "dmitri"), ("chloe", "eve"), ("dmitri", "eve")}
    assert ("ben", "farid") not in ids(find(EXAMPLES, 0.01))  # a few shared lines are no evidence


def test_the_correct_fixtures_flag_no_pair() -> None:
    result = find(CORRECT)
    assert result.compared == 13 and result.pairs == ()


def test_the_starter_code_alone_is_never_a_match(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    (folder / "alice").mkdir(parents=True)
    shutil.copyfile(STUBS[0], folder / "alice" / "cnn_basics.py")  # handed in untouched
    shutil.copyfile(STUBS[1], folder / "bob.ipynb")  # the kit notebook, untouched
    stub = STUBS[0].read_text()
    solved = stub.replace('raise NotImplementedError("conv_out: compute the output size with the formula above")',
                          "return (in_sz + 2 * pad - dilation * (k - 1) - 1) // stride + 1")  # fmt: skip
    (folder / "carol.py").write_text(solved)
    (folder / "dan.py").write_text(disguise.recomment(stub, random.Random(1)))
    assert find(folder, 0.01).pairs == ()
    # The same files with the starter code counted (and nothing discounted as common) all match.
    codes, _, _ = similarity.read_class(folder, ASSIGNMENT.module)
    assert len(similarity.compare(codes, set(), 0.5, common_share=1.01)) == 6


def test_code_most_of_the_class_shares_is_discounted() -> None:
    shared = (CORRECT / "manual_transforms.py").read_text()  # e.g. a helper handed out in a lecture
    codes = {
        name: (CORRECT / f"{name}.py").read_text() + "\n\n" + shared
        for name in INDEPENDENT
        if name != "manual_transforms"
    }
    assert similarity.compare(codes, similarity.starter_hashes(STUBS, "cnn_basics")) == []
    everyone = similarity.compare(codes, set(), 0.5, common_share=1.01)  # discount off: every pair matches
    assert len(everyone) == len(codes) * (len(codes) - 1) // 2


def test_a_copy_in_a_class_of_two_is_still_found() -> None:
    code = (CORRECT / "legacy_pretrained.py").read_text()
    pairs = similarity.compare({"a": code, "b": disguise.rename(code, random.Random(0))}, set())
    assert [(p.a, p.b, p.similarity) for p in pairs] == [("a", "b", 1.0)]


def planted_class(folder: Path) -> Path:
    """Independent solutions and copies of two of them, disguised more or less."""
    independent_class(folder)
    rng = random.Random(7)
    for name, level in (("utf8_bom", 1), ("numpy_then_cast", 2), ("legacy_pretrained", 3)):
        code = (CORRECT / f"{name}.py").read_text(encoding="utf-8-sig")
        steps = [disguise.rename, disguise.reorder, disguise.recomment, disguise.edit_lines][: level + 1]
        for step in steps:
            code = step(code, rng)
        (folder / f"copy_of_{name}.py").write_text(code)
        (folder / f"copy2_of_{name}.py").write_text(code)  # ties: identical copies
    return folder


def test_json_holds_the_pairs_above_the_threshold_most_similar_first_ties_by_id(tmp_path: Path) -> None:
    folder = planted_class(tmp_path / "class")
    out = tmp_path / "out"
    assert main(["similarity", str(folder), "--out", str(out), "--similarity-threshold", "0.7"]) == 0
    data = json.loads((out / "similarity.json").read_text())
    assert data["threshold"] == 0.7 and data["compared"] == len(INDEPENDENT) + 6 and data["skipped"] == []
    keys = [(-p["similarity"], p["a"], p["b"]) for p in data["pairs"]]
    assert keys == sorted(keys)
    assert all(0.7 <= p["similarity"] <= 1 and p["a"] < p["b"] for p in data["pairs"])
    assert set(data["pairs"][0]) == {"a", "b", "similarity", "a_share", "b_share", "matched", "a_lines", "b_lines"}
    found = {(p["a"], p["b"]) for p in data["pairs"]}
    for name in ("utf8_bom", "numpy_then_cast", "legacy_pretrained"):
        assert {(f"copy2_of_{name}", f"copy_of_{name}"), (f"copy2_of_{name}", name), (f"copy_of_{name}", name)} <= found
    assert len(found) == 9


def test_the_report_is_the_same_whatever_the_hash_seed(tmp_path: Path) -> None:
    folder = planted_class(tmp_path / "class")
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", "import sys; from grader.cli import main; "
                              f"code = main(['similarity', {str(folder)!r}, '--out', {str(out)!r}]); "
                              "assert 'torch' not in sys.modules, 'grade similarity imported torch'; sys.exit(code)"],
                             env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode == 0, run.stderr
        outputs.append(((out / "similarity.json").read_bytes(), (out / "similarity.html").read_bytes()))
    assert outputs[0] == outputs[1]


def test_the_page_escapes_hostile_ids_and_code(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    hostile = (CORRECT / "explicit_layers_hook.py").read_text() + (
        '\nBANNER = "</pre><script>alert(1)</script>\x1b]52;c;Zm9v\x07\x1b[2J"  # <img src=x onerror=alert(2)>\n'
    )
    (folder / "<script>alert(3)<\x1b[31m.py").write_text(hostile)
    (folder / "twin.py").write_text(hostile)
    result = find(folder)
    assert len(result.pairs) == 1
    out = tmp_path / "out"
    write_similarity(result, out)
    page = (out / "similarity.html").read_text()
    text = page + (out / "similarity.json").read_text()
    assert "<script" not in page and "<img" not in page and "\x1b" not in text and "\x07" not in text
    assert "&lt;script&gt;alert(3)" in page and "&lt;/pre&gt;&lt;script&gt;alert(1)" in page
    assert page.count("<mark") == page.count("</mark>") > 0


def test_unreadable_submissions_are_listed_with_the_reason(tmp_path: Path) -> None:
    folder = independent_class(tmp_path / "class")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not a zip")
    (folder / "bad_notebook.ipynb").write_text("{ not json")
    (folder / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (folder / "empty.py").write_text("")
    (folder / "nothing").mkdir()
    (folder / "link.py").symlink_to(CORRECT / "utf8_bom.py")
    with zipfile.ZipFile(folder / "zipped.zip", "w") as archive:
        archive.write(CORRECT / "utf8_bom.py", "cnn_basics.py")
    result = find(folder)
    reasons = {s.id: s.reason for s in result.skipped}
    assert set(reasons) == {"broken", "bad_notebook", "latin1", "empty", "nothing", "link"}
    assert "not a readable zip" in reasons["broken"] and "not a valid notebook" in reasons["bad_notebook"]
    assert "UTF-8" in reasons["latin1"] and "link" in reasons["link"] and "no cnn_basics.py" in reasons["nothing"]
    assert result.compared == len(INDEPENDENT) + 1 and ids(result) == {("utf8_bom", "zipped")}
    write_similarity(result, tmp_path / "out")
    page = (tmp_path / "out" / "similarity.html").read_text()
    assert all(f'data-id="{i}"' in page for i in reasons)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["{tmp}/nope"], ["does not exist"]),
        (["{tmp}"], ["holds no submissions"]),
        (["{tmp}", "--similarity-threshold", "0"], ["--similarity-threshold must be above 0 and at most 1", "got 0"]),
        (["{tmp}", "--similarity-threshold", "1.5"], ["at most 1", "got 1.5"]),
        (["{tmp}", "--similarity-threshold", "nan"], ["at most 1", "got nan"]),
        (["{tmp}", "--similarity-threshold", "high"], ["invalid float value: 'high'", "--help"]),
        (["{tmp}", "--bogus"], ["unknown option '--bogus'"]),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needles: list[str]
) -> None:
    code = main(["similarity", *(a.format(tmp=tmp_path) for a in args), "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("grade: "), lines
    assert all(needle in lines[0] for needle in needles), lines[0]
    assert not (tmp_path / "out").exists()


def test_grade_refuses_a_threshold_without_similarity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(EXAMPLES), "--out", str(tmp_path), "--similarity-threshold", "0.5"]) == 2
    assert "add --similarity" in capsys.readouterr().err


def _run() -> RunResult:
    questions = (QuestionInfo("conv_out", "Output size", 15),)
    subs = (SubmissionResult("chloe", "chloe", "graded", 15, 15), SubmissionResult("eve", "eve", "graded", 0, 15))
    return RunResult("cnn_basics", RunInfo(), subs, questions)


def test_grade_with_similarity_writes_it_before_the_pages_and_links_it_from_the_class_page_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader import commands

    class FakeBatch:  # grading itself is tested elsewhere; here only what follows it
        reused: list[str] = []

        def run_result(self, complete: bool) -> RunResult:
            return _run()

    monkeypatch.setattr(commands, "grade_folder", lambda *args, **kwargs: FakeBatch())
    out = tmp_path / "grading"
    assert main([str(EXAMPLES), "--out", str(out), "--similarity", "--similarity-threshold", "0.7"]) == 0
    assert json.loads((out / "similarity.json").read_text())["threshold"] == 0.7
    assert 'href="similarity.html"' in (out / "index.html").read_text()
    for page in (out / "students").iterdir():
        assert "similarity" not in page.read_text().lower()


def test_the_class_page_links_the_report_only_when_it_exists(tmp_path: Path) -> None:
    render_all(_run(), tmp_path)
    assert "similarity" not in (tmp_path / "index.html").read_text()
    write_similarity(find(EXAMPLES), tmp_path)
    render_all(_run(), tmp_path)
    assert 'href="similarity.html"' in (tmp_path / "index.html").read_text()
    assert not any("similarity" in p.read_text().lower() for p in (tmp_path / "students").iterdir())


def test_the_kit_never_ships_the_similarity_report_or_its_code(tmp_path: Path) -> None:
    import grader

    source = Path(grader.__file__).parent
    assert all((source / path).is_file() for path in kit.INSTRUCTORS_ONLY)
    kit._copy_tree(source, tmp_path / "grader", leave_out=kit.INSTRUCTORS_ONLY)  # as write_kit copies the engine
    shipped = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert shipped and not [p for p in shipped if "similarity" in p.name]
    # The kit is built from the package's folders, never from an output folder.
    assert "similarity.html" not in {p.name for p in ROOT.joinpath("assignments").rglob("*")}


@pytest.mark.slow
def test_huge_and_deeply_nested_code_is_tokenised_in_bounded_time(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "long_line.py").write_text("x = " + "a+" * 1_900_000 + "1\n")  # 3.8 MB on one line
    (folder / "nested.py").write_text("x = " + "(" * 60_000 + ")" * 60_000 + "\n" + "[{" * 20_000 + "}]" * 20_000)
    (folder / "string.py").write_text("s = '''" + "\\" * 1_000_000)  # an unterminated string of backslashes
    started = time.perf_counter()
    result = find(folder)
    assert time.perf_counter() - started < 20
    assert result.compared == 3 and any("long_line: only the first 512 KB" in note for note in result.notes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.text(max_size=300),
            st.lists(st.sampled_from(["def f(a):", "    return a + 1", "x = [i for i in y]", "%time", "!ls", "'''",
                                      "class A(B):", "    pass", "\t", "#", "\\", "(", ")", "\x1b[2J", "\r\n"]),
                     max_size=40).map("\n".join),
        ),
        min_size=2,
        max_size=4,
    )
)  # fmt: skip
def test_any_code_compares_without_error_and_symmetrically(texts: list[str]) -> None:
    codes = {f"s{n}": similarity.clean(text) for n, text in enumerate(texts)}
    pairs = similarity.compare(codes, set(), 0.0)
    swapped = similarity.compare(
        {"s0": codes["s1"], "s1": codes["s0"], **{k: v for k, v in codes.items() if k not in ("s0", "s1")}}, set(), 0.0
    )
    by_pair = {(p.a, p.b): p for p in pairs}
    for pair in pairs:
        assert 0 <= pair.b_share <= 1 and 0 <= pair.a_share <= 1 and 0 <= pair.similarity <= 1
    first, second = by_pair.get(("s0", "s1")), next((p for p in swapped if (p.a, p.b) == ("s0", "s1")), None)
    assert (first is None) == (second is None)
    if first and second:
        assert (first.similarity, first.a_share, first.b_share) == (second.similarity, second.b_share, second.a_share)


def test_in_a_student_kit_grade_similarity_says_it_is_for_instructors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "grader.similarity", None)  # as in the kit: the module is not there
    assert main(["similarity", str(EXAMPLES), "--out", str(tmp_path)]) == 3
    error = capsys.readouterr().err.strip()
    assert error.startswith("grade: grade similarity is an instructors' command") and "\n" not in error
