"""Find copied work across a class: pairs of submissions whose code is unusually alike.

Instructors only: nothing here is shown to students or shipped in the kit. The
comparison is copydetect's (winnowing over k-grams of a token stream in which every
identifier, function name, class name and string is normalised, and comments and
whitespace are dropped, so renaming and reformatting change nothing). What this module
adds:

- **Notebooks are compared on their code cells** (read by `source.read_source` with
  nbformat; magic and shell lines dropped), so a `.py` and an `.ipynb` holding the same
  code match.
- **The starter code is boilerplate.** Every k-gram of the assignment's stubs (the
  `.py` stub and the kit notebook) is removed from every submission's fingerprints.
- **What most of the class shares is discounted.** A k-gram found in more than
  `COMMON_SHARE` of the submissions (and in at least `COMMON_MIN` of them) is treated as
  boilerplate too: a small assignment's natural solutions are short and alike
  (`return (in_sz + 2 * pad - ...) // stride + 1`), and independently written correct
  solutions must not be flagged for it. The price: a copy shared by more than that share
  of the class is not reported either.

Reading runs in the grader's process but never runs student code: it unpacks each
submission with `discover.unpack` (its input limits), decodes it with
`source.read_source`, and tokenises at most `MAX_CODE_CHARS` of it (pygments costs
about 8 microseconds a token on the worst input; the cap keeps one hostile file to a
few seconds). A submission that cannot be read is listed with the reason, never a crash.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader import untrusted
from grader.discover import CODE_SUFFIXES, INPUT_LIMITS, Submission, discover, unpack
from grader.errors import GraderError
from grader.settings import SIMILARITY_THRESHOLD
from grader.source import read_source

K = 25  # copydetect's noise threshold: matches shorter than 25 normalised characters are noise
DEFAULT_THRESHOLD = SIMILARITY_THRESHOLD  # chosen with benchmarks/similarity.py (see settings.py and the README)
COMMON_SHARE = 0.3  # a k-gram in more than this share of the class is common knowledge...
COMMON_MIN = 4  # ...if at least this many submissions hold it (so a class of 3 keeps its copies)
MIN_MATCH = 4 * K  # matches shorter than this in all (a few lines) are no evidence, whatever share they are
MAX_CODE_CHARS = 512 * 1024  # code tokenised per submission (a real solution is a few KB)

# Lines `source.neutralise` writes for magics and shell escapes: not the student's Python.
_NEUTRALISED = re.compile(r"^\s*(?:pass|\w+ = None)  # (?:magic neutralised|cell magic %%\S* skipped) by the grader$")
# Control characters (escape sequences among them) become '?' one for one, so that the
# matched regions, found in this text, are the regions shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class Skipped:
    """A submission left out of the comparison, and why."""

    id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class Pair:
    """Two submissions and how much of their code matches (ids in order: a < b)."""

    a: str
    b: str
    similarity: float  # the larger of the two shares: how much of one is found in the other
    a_share: float  # share of a's compared code (starter and common code left out) found in b
    b_share: float
    matched: int  # matching normalised characters (the fewer of the two sides)
    a_lines: tuple[tuple[int, int], ...]  # first and last line of each match in a's compared code
    b_lines: tuple[tuple[int, int], ...]
    a_regions: tuple[tuple[int, int], ...]  # the same as character ranges, for the page (not in the JSON)
    b_regions: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "similarity": self.similarity, "a_share": self.a_share,
            "b_share": self.b_share, "matched": self.matched,
            "a_lines": [f"{first}-{last}" for first, last in self.a_lines],
            "b_lines": [f"{first}-{last}" for first, last in self.b_lines],
        }  # fmt: skip


@dataclass(frozen=True)
class Similarity:
    """A class compared: the pairs at or above the threshold, most similar first, and what was left out."""

    threshold: float
    compared: int
    pairs: tuple[Pair, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]  # code cut at MAX_CODE_CHARS, and the like
    codes: dict[str, str]  # the compared code of each submission in a pair (for the page; not in the JSON)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "settings": {"k": K, "common_share": COMMON_SHARE, "common_min": COMMON_MIN, "min_match": MIN_MATCH,
                         "max_code_chars": MAX_CODE_CHARS},
            "compared": self.compared,
            "pairs": [p.to_dict() for p in self.pairs],
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": list(self.notes),
        }  # fmt: skip


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """One code text's k-gram hashes, with the fields `copydetect.compare_files` reads.

    Built with copydetect's own functions. The winnowing window is 1 (copydetect's
    default: its guarantee threshold equals its noise threshold), so every k-gram is
    kept: the result does not depend on the hash values, which Python randomises per
    process, and the same class always gives the same report.
    """

    filtered_code: str  # the normalised token stream
    offsets: np.ndarray  # copydetect's map from the token stream back to the code
    hash_idx: dict[int, list[int]]  # each hash, and where its k-grams start in the token stream
    hashes: frozenset[int]
    token_coverage: float  # normalised characters covered by the hashes kept
    k: int = K

    @classmethod
    def of(cls, code: str) -> Fingerprint:
        from copydetect.utils import filter_code, get_document_fingerprints

        filtered, offsets = filter_code(code, "code.py", language="python")
        _, idx = get_document_fingerprints(filtered, K, 1)
        return cls._make(filtered, offsets, {int(h): at for h, at in idx.items()})

    @classmethod
    def _make(cls, filtered: str, offsets: np.ndarray, idx: dict[int, list[int]]) -> Fingerprint:
        from copydetect.utils import get_token_coverage

        coverage = float(get_token_coverage(idx, K, len(filtered)))
        return cls(filtered, offsets, idx, frozenset(idx), coverage)

    def without(self, boilerplate: set[int]) -> Fingerprint:
        """These fingerprints less the boilerplate ones (every occurrence of each: copydetect's own
        `boilerplate` argument misses repeats, as np.intersect1d is told the hashes are unique)."""
        return self._make(
            self.filtered_code, self.offsets, {h: at for h, at in self.hash_idx.items() if h not in boilerplate}
        )


def code_text(path: Path, module: str) -> str:
    """The code of a `.py` or `.ipynb` file as compared: a notebook's code cells without magics or
    shell lines; control characters shown as '?'; at most MAX_CODE_CHARS. Raises InputError."""
    source = read_source(path, module, INPUT_LIMITS)
    if source.kind == "ipynb":
        cells = source.load_request["cells"]
        kept = ["\n".join(ln for ln in c["source"].splitlines() if not _NEUTRALISED.match(ln)) for c in cells]
        text = "\n\n".join(cell.strip("\n") for cell in kept if cell.strip())
    else:
        text = source.text
    return clean(text)


def clean(text: str) -> str:
    """Code as compared and shown: valid Unicode, newlines as pygments reads them (\\r\\n and \\r as
    \\n, no leading ones, so that offsets in its tokens are offsets here), controls as '?'."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\n")
    return _CONTROL.sub("?", untrusted.text(text))


def read_submission(submission: Submission, module: str) -> tuple[str, str]:
    """(code, problem) for one submission: its module file, then any other code files beside it."""
    with tempfile.TemporaryDirectory(prefix="grader-similarity-") as scratch:
        unpacked = unpack(submission, Path(scratch), module)
        if unpacked.code is None:
            return "", unpacked.problem
        try:
            parts = [code_text(unpacked.code, module)]
        except GraderError as error:
            return "", str(error)
        helpers = sorted(p for p in Path(scratch).rglob("*") if p.suffix in CODE_SUFFIXES and p != unpacked.code)
        for helper in helpers:
            if sum(map(len, parts)) >= MAX_CODE_CHARS:
                break
            try:
                parts.append(code_text(helper, module))
            except GraderError:
                continue  # a helper that cannot be read is not worth losing the submission over
    return "\n\n".join(part for part in parts if part), ""


def starter_hashes(stubs: Iterable[Path], module: str) -> set[int]:
    """Every k-gram hash of the starter code (the stubs students begin from)."""
    found: set[int] = set()
    for stub in stubs:
        found |= Fingerprint.of(code_text(stub, module)).hashes
    return found


def common_hashes(prints: Sequence[Fingerprint], share: float = COMMON_SHARE) -> set[int]:
    """Hashes held by more than `share` of the submissions, and by at least COMMON_MIN."""
    counts = Counter(h for p in prints for h in p.hash_idx)
    floor = max(COMMON_MIN, int(share * len(prints)) + 1)
    return {h for h, n in counts.items() if n >= floor}


def compare(codes: dict[str, str], starter: set[int], threshold: float = DEFAULT_THRESHOLD, *,
            common_share: float = COMMON_SHARE) -> list[Pair]:  # fmt: skip
    """Every pair of submissions whose similarity reaches `threshold`, most similar first (ties by ids)."""
    from copydetect import compare_files

    ids = sorted(codes)
    raw = [Fingerprint.of(codes[i][:MAX_CODE_CHARS]) for i in ids]
    boilerplate = starter | common_hashes([p.without(starter) for p in raw], common_share)
    prints = [p.without(boilerplate) for p in raw]
    holders: dict[int, list[int]] = {}
    for index, fingerprint in enumerate(prints):
        for h in fingerprint.hash_idx:
            holders.setdefault(h, []).append(index)
    # Only pairs that share a fingerprint can match; the rest score 0 without being compared.
    candidates = sorted({(i, j) for held in holders.values() for n, i in enumerate(held) for j in held[n + 1 :]})
    pairs = []
    for i, j in candidates:
        matched_a, (share_a, share_b), (slices_a, slices_b) = compare_files(prints[i], prints[j])
        matched = min(int(matched_a), round(share_b * prints[j].token_coverage))  # the same either way round
        score = round(float(max(share_a, share_b)), 4)
        if matched >= MIN_MATCH and score >= threshold:
            a, b = _regions(slices_a), _regions(slices_b)
            pairs.append(Pair(ids[i], ids[j], score, round(float(share_a), 4), round(float(share_b), 4), matched,
                              _lines(codes[ids[i]], a), _lines(codes[ids[j]], b), a, b))  # fmt: skip
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def _regions(slices: np.ndarray) -> tuple[tuple[int, int], ...]:
    return tuple((int(start), int(end)) for start, end in zip(slices[0], slices[1]))


def _lines(code: str, regions: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """The regions as line ranges (1-based), touching ones merged."""
    merged: list[tuple[int, int]] = []
    for start, end in regions:
        first, last = code.count("\n", 0, start) + 1, code.count("\n", 0, max(start, end - 1)) + 1
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return tuple(merged)


def read_class(root: Path, module: str) -> tuple[dict[str, str], list[Skipped], list[str]]:
    """Each readable submission's code by id, those left out, and notes (see `discover`)."""
    codes: dict[str, str] = {}
    skipped: list[Skipped] = []
    notes: list[str] = []
    for submission in discover(root, module):
        code, problem = read_submission(submission, module)
        if problem or not code.strip():
            skipped.append(Skipped(submission.id, problem or "no code to compare (empty file or notebook)"))
            continue
        if len(code) > MAX_CODE_CHARS:
            notes.append(f"{submission.id}: only the first {MAX_CODE_CHARS // 1024} KB of its "
                         f"{len(code) // 1024} KB of code were compared")  # fmt: skip
        codes[submission.id] = code
    return codes, skipped, notes


def find_similar(root: Path, module: str, stubs: Iterable[Path], threshold: float = DEFAULT_THRESHOLD) -> Similarity:
    """Compare every submission under `root`; raise InputError if there are none."""
    codes, skipped, notes = read_class(root, module)
    pairs = compare(codes, starter_hashes(stubs, module), threshold)
    shown = {i for p in pairs for i in (p.a, p.b)}
    return Similarity(threshold, len(codes), tuple(pairs), tuple(skipped), tuple(notes),
                      {i: codes[i][:MAX_CODE_CHARS] for i in sorted(shown)})  # fmt: skip
