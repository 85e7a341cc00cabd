"""Benchmark: does `grade similarity` find planted copies and leave independent work alone?

    python benchmarks/similarity.py            # the labelled class, the sweep, and 500 submissions
    python benchmarks/similarity.py --quick    # without the 500

**The labelled class.** The originals are the fixtures and the examples. Not all of
them were written independently, and the benchmark says which came from which:

- the *reference family*: reference/cnn_basics.py and every file made from it by
  construction: tests/submissions/correct/reference_copy.py, each mistake fixture
  ("Otherwise the reference solution", one line changed), and the examples chloe, eve
  and dmitri (the reference with a mistake or two);
- ada's notebook is notebook_with_magics.ipynb; ben.py is main_guard_demo.py;
- every other correct fixture and farid.py were written on their own.

Pairs inside a family are *derived* pairs: copies by construction, expected above the
threshold but kept out of precision and recall (they would flatter recall). Pairs across
families are *independent*: none may be flagged. Six mistake fixtures stand in for the
mistaken solutions (with all 42 the reference family would be half the class, and what
half the class shares is discounted by design: a copy ring that large is not reported).

Then copies are planted: each disguise (rename, reorder, recomment, few lines edited,
.py to notebook and back, and all of them together) applied to four originals in turn.
Each (original, copy) pair is *planted*: all must be flagged.

**500 submissions.** Every fixture (all the mistakes too) and solutions mixed from the
functions of random originals, each disguised at random, half of them notebooks: only
timed (the mixes share functions, so they have no clean labels).
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import disguise  # noqa: E402
from grader import similarity  # noqa: E402
from grader.assignment import load  # noqa: E402
from grader.discover import Submission  # noqa: E402
from grader.similarity_report import write_similarity  # noqa: E402
from grader.source import read_source  # noqa: E402

SUBMISSIONS = ROOT / "tests" / "submissions"
EXAMPLES = ROOT / "examples" / "submissions"
MISTAKES = ["conv_out_ceil", "tiny_cnn_missing_relu", "top5_wrong_order", "embedding_hook_left",
            "finetune_not_frozen", "tiny_cnn_avg_pool"]  # fmt: skip
FAMILIES = {"ada": "notebook_with_magics", "ben": "main_guard_demo", "chloe": "reference", "eve": "reference",
            "dmitri": "reference", "reference_copy": "reference", **{m: "reference" for m in MISTAKES}}  # fmt: skip
Disguise = Callable[[str, random.Random], str]
DISGUISES: dict[str, Disguise] = {
    "rename": disguise.rename,
    "reorder": disguise.reorder,
    "recomment": disguise.recomment,
    "edit_lines": disguise.edit_lines,
    "convert": lambda code, rng: code,  # the format changes, not the code
    "all": lambda code, rng: disguise.edit_lines(
        disguise.recomment(disguise.reorder(disguise.rename(code, rng), rng), rng), rng
    ),
}


def originals() -> dict[str, Path]:
    """The fixtures and examples the class starts from, by id."""
    found = {
        p.stem: p for p in sorted((SUBMISSIONS / "correct").iterdir()) if p.suffix in (".py", ".ipynb") or p.is_dir()
    }
    found["reference"] = ROOT / "reference" / "cnn_basics.py"
    found.update({m: SUBMISSIONS / "mistakes" / f"{m}.py" for m in MISTAKES})
    for path in sorted(EXAMPLES.iterdir()):
        found[path.stem] = path
    return found


def cells_and_code(path: Path) -> tuple[list[str] | None, str]:
    """A notebook's code cells as written (None for a .py), and the code as one text."""
    if path.is_dir():
        code, _ = similarity.read_submission(Submission(path.name, path, "folder"), "cnn_basics")
        return None, code
    source = read_source(path, "cnn_basics")
    if source.kind == "ipynb":
        return [c["original"] for c in source.load_request["cells"]], similarity.code_text(path, "cnn_basics")
    return None, source.text


def place(folder: Path, sub_id: str, origin: Path) -> None:
    target = folder / (sub_id if origin.is_dir() else f"{sub_id}{origin.suffix}")
    (shutil.copytree if origin.is_dir() else shutil.copyfile)(origin, target)


def write_py(path: Path, text: str) -> None:
    """Save Python source in the encoding its coding line declares (a copy of the cp1252 fixture keeps it)."""
    declared = re.search(r"coding[:=]\s*([-\w.]+)", "\n".join(text.splitlines()[:2]))
    path.write_bytes(text.encode(declared.group(1) if declared else "utf-8", errors="replace"))


def plant(folder: Path, sub_id: str, origin: Path, how: str, rng: random.Random) -> None:
    """Write a disguised copy of `origin`; 'convert' and 'all' also swap .py and notebook."""
    cells, code = cells_and_code(origin)
    code = DISGUISES[how](code, rng)
    swap = how in ("convert", "all")
    if (cells is not None) == swap:  # a .py stays one; a notebook converted becomes a .py
        text = disguise.from_notebook(cells) if cells is not None and how == "convert" else code
        write_py(folder / f"{sub_id}.py", text)
    else:
        (folder / f"{sub_id}.ipynb").write_text(disguise.to_notebook(code, rng), encoding="utf-8")


def labelled_class(
    folder: Path, seed: int = 0
) -> tuple[set[tuple[str, str]], dict[str, str], dict[tuple[str, str], str]]:
    """Write the class; return the planted pairs, each id's family, and each planted pair's disguise."""
    rng = random.Random(seed)
    sources = originals()
    family = {}
    for sub_id, path in sources.items():
        place(folder, sub_id, path)
        family[sub_id] = FAMILIES.get(sub_id, sub_id)
    parseable = [i for i in sources if i not in MISTAKES and disguise.parses(cells_and_code(sources[i])[1])]
    planted, how_of = set(), {}
    cycle = itertools.cycle(parseable)
    for how in DISGUISES:
        for _ in range(4):
            origin = next(cycle)
            copy_id = f"copy_{how}_{origin}"
            plant(folder, copy_id, sources[origin], how, rng)
            family[copy_id] = family[origin]
            pair = (min(origin, copy_id), max(origin, copy_id))
            planted.add(pair)
            how_of[pair] = how
    return planted, family, how_of


def evaluate(codes: dict[str, str], starter: set[int], planted: set[tuple[str, str]], family: dict[str, str],
             share: float) -> dict[str, float]:  # fmt: skip
    scores = {(p.a, p.b): p.similarity for p in similarity.compare(codes, starter, 0.0, common_share=share)}
    ids = sorted(codes)
    pairs = [(a, b) for n, a in enumerate(ids) for b in ids[n + 1 :]]
    independent = [p for p in pairs if family[p[0]] != family[p[1]]]
    derived = [p for p in pairs if family[p[0]] == family[p[1]] and p not in planted]
    threshold = similarity.DEFAULT_THRESHOLD
    hits = sum(scores.get(p, 0) >= threshold for p in planted)
    false = sum(scores.get(p, 0) >= threshold for p in independent)
    worst = max(independent, key=lambda p: scores.get(p, 0))
    return {
        "precision": hits / (hits + false) if hits + false else 1.0, "recall": hits / len(planted),
        "min_planted": min(scores.get(p, 0) for p in planted), "max_independent": scores.get(worst, 0),
        "worst": worst, "independent": len(independent), "derived": len(derived),
        "derived_flagged": sum(scores.get(p, 0) >= threshold for p in derived), "scores": scores,
    }  # fmt: skip


def big_class(folder: Path, size: int, seed: int = 1) -> None:
    """`size` submissions: every fixture and example, then disguised mixes of them."""
    rng = random.Random(seed)
    sources = originals()
    sources.update({p.stem: p for p in sorted((SUBMISSIONS / "mistakes").glob("*.py"))})
    for sub_id, path in sources.items():
        place(folder, sub_id, path)
    texts = [cells_and_code(p)[1] for p in sources.values()]
    functions = disguise.graded_functions([t for t in texts if disguise.parses(t)])
    for n in range(size - len(sources)):
        code = disguise.mix(functions, rng)
        steps = ["rename", "reorder", "recomment", "edit_lines"]  # in this order: the first two need valid Python
        chosen = set(rng.sample(steps, rng.randrange(1, 5)))
        for how in (step for step in steps if step in chosen):
            code = DISGUISES[how](code, rng)
        if rng.random() < 0.5:
            (folder / f"mix{n:03d}.ipynb").write_text(disguise.to_notebook(code, rng), encoding="utf-8")
        else:
            write_py(folder / f"mix{n:03d}.py", code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 500-submission timing")
    parser.add_argument("--size", type=int, default=500, help="submissions in the timed class")
    args = parser.parse_args()
    assignment = load()
    stubs = [assignment.folder / stub for stub in assignment.stubs]
    starter = similarity.starter_hashes(stubs, assignment.module)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "class"
        folder.mkdir()
        planted, family, how_of = labelled_class(folder)
        codes, skipped, _ = similarity.read_class(folder, assignment.module)
        assert not skipped, skipped
        print(f"labelled class: {len(codes)} submissions; {len(planted)} planted pairs; "
              f"independent: pairs across families (reference family, ada~notebook_with_magics, "
              f"ben~main_guard_demo, each other fixture alone)")  # fmt: skip
        print(
            f"\n{'common share':>12} {'precision':>9} {'recall':>6} {'min planted':>11} {'max independent':>15}  derived flagged"
        )
        for share in (1.01, 0.6, 0.5, 0.4, 0.3, 0.2):
            r = evaluate(codes, starter, planted, family, share)
            label = "off" if share > 1 else f"{share:.2f}"
            mark = "  <- the default" if share == similarity.COMMON_SHARE else ""
            print(f"{label:>12} {r['precision']:>9.3f} {r['recall']:>6.3f} {r['min_planted']:>11.3f} "
                  f"{r['max_independent']:>15.3f}  {r['derived_flagged']}/{r['derived']}{mark}")  # fmt: skip
        r = evaluate(codes, starter, planted, family, similarity.COMMON_SHARE)
        print("\nplanted pairs, lowest score per disguise:")
        for how in DISGUISES:
            low = min((r["scores"].get(p, 0), p) for p in planted if how_of[p] == how)
            print(f"  {how:<11} {low[0]:.3f}  {low[1][0]} / {low[1][1]}")
        print(f"\nthreshold {similarity.DEFAULT_THRESHOLD} (common share {similarity.COMMON_SHARE}, "
              f"at least {similarity.COMMON_MIN} submissions; k = {similarity.K})")  # fmt: skip
        print(f"precision {r['precision']:.3f}   recall {r['recall']:.3f}")
        print(f"lowest planted pair {r['min_planted']:.3f}   highest independent pair {r['max_independent']:.3f} "
              f"({r['worst'][0]} / {r['worst'][1]}, of {r['independent']} independent pairs)")  # fmt: skip
        print("\nthe folders as they are (every flagged pair, and whether it was written independently):")
        for folder in (EXAMPLES, SUBMISSIONS / "correct"):
            small = similarity.find_similar(folder, assignment.module, stubs)
            flagged = ", ".join(f"{p.a} / {p.b} {p.similarity:.2f} ({'INDEPENDENT' if FAMILIES.get(p.a, p.a) != FAMILIES.get(p.b, p.b) else 'derived'})"
                                for p in small.pairs) or "none"  # fmt: skip
            print(f"  {folder.relative_to(ROOT)} ({small.compared}): {flagged}")
        if args.quick:
            return 0
        big = Path(scratch) / "big"
        big.mkdir()
        big_class(big, args.size)
        started = time.perf_counter()
        result = similarity.find_similar(big, assignment.module, stubs)
        found = time.perf_counter() - started
        write_similarity(result, Path(scratch) / "out")
        total = time.perf_counter() - started
        print(f"\n{result.compared} submissions: {total:.1f} s in all ({found:.1f} s reading and comparing, "
              f"{total - found:.2f} s writing); {len(result.pairs)} pairs above the threshold (target: under 60 s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
