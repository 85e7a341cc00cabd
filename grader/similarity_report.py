"""Write a class's similarity report: `similarity.json` and `similarity.html` (instructors only).

The page shows the pairs ranked by similarity, then the most similar side by side with
the matching regions highlighted by copydetect's `highlight_overlap`, which escapes the
code (markupsafe) before it inserts its marks; the code was already cleared of control
characters (`similarity.code_text`) and every id goes through Jinja's autoescape.
Students never see it: `grade release` never ships it, and no student page links to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import markupsafe
import numpy as np

from grader.report import environment
from grader.results import write_atomic
from grader.similarity import Pair, Similarity

SIDE_BY_SIDE = 100  # pairs shown with their code; the table lists them all
_TRUNCATE_LINES = 200  # longer code shows 10 lines around each match instead of all of it


def write_similarity(result: Similarity, out: Path) -> tuple[Path, Path]:
    """Write `out/similarity.json` and `out/similarity.html`; return their paths."""
    json_path, html_path = out / "similarity.json", out / "similarity.html"
    write_atomic(json_path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    shown = [_side_by_side(pair, result.codes) for pair in result.pairs[:SIDE_BY_SIDE]]
    page = environment().get_template("similarity.html.j2").render(
        result=result, shown=shown, more=max(0, len(result.pairs) - SIDE_BY_SIDE),
        class_page=(out / "index.html").exists(),
    )  # fmt: skip
    write_atomic(html_path, page)
    return json_path, html_path


def _side_by_side(pair: Pair, codes: dict[str, str]) -> dict[str, Any]:
    return {"pair": pair, "a_code": _highlight(codes[pair.a], pair.a_regions, "a"),
            "b_code": _highlight(codes[pair.b], pair.b_regions, "b")}  # fmt: skip


def _highlight(code: str, regions: tuple[tuple[int, int], ...], side: str) -> markupsafe.Markup:
    """The code, HTML-escaped, with each matching region in <mark>."""
    from copydetect.utils import highlight_overlap

    if not regions:
        return markupsafe.escape(code)
    slices = np.array([[start for start, _ in regions], [end for _, end in regions]])
    truncate = 10 if code.count("\n") > _TRUNCATE_LINES else -1
    marked, _ = highlight_overlap(
        code, slices, f'<mark class="{side}">', "</mark>", truncate=truncate, escape_html=True
    )
    return markupsafe.Markup(marked)
