"""The class summary page in a real headless Chromium: no console errors, the right numbers.

Uses Debian's `chromium` (apt-get install chromium) driven by PyPI's playwright through
`executable_path` (playwright's own browser download does not work offline). The figures
are read from the DOM (ids and data- attributes of index.html.j2) and compared with
numbers computed here from the run itself, not from report.py. A screenshot is saved in
the test's tmp folder and its path printed (pytest -s shows it).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from grader.report import render_all
from tests.test_ci_outputs import synthetic_run

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e .[test])")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield context
        finally:
            context.close()


def _open(browser, path: Path):
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}") if message.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def test_class_summary_shows_the_right_numbers(browser, tmp_path: Path) -> None:
    run = synthetic_run()
    render_all(run, tmp_path)
    page, problems = _open(browser, tmp_path / "index.html")
    screenshot = tmp_path / "index.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot of the class summary: {screenshot}")

    scores = [s.score for s in run.submissions]
    assert float(page.locator("#mean").inner_text()) == pytest.approx(
        statistics.fmean(scores), abs=0.006
    )  # shown to 2 decimals
    assert float(page.locator("#median").inner_text()) == pytest.approx(statistics.median(scores), abs=0.006)
    assert page.locator("#max-score").inner_text() == "40"

    # The chart: ten bins of 4 points each; bar heights proportional to the counts.
    bins = page.locator("#distribution g.bin")
    assert bins.count() == 10
    counts = [int(bins.nth(i).get_attribute("data-count")) for i in range(10)]
    expected = [0] * 10
    for score in scores:
        expected[min(int(score / 40 * 10), 9)] += 1
    assert counts == expected == [1, 0, 1, 0, 0, 1, 0, 0, 0, 1]
    heights = [float(bins.nth(i).locator("rect").get_attribute("height")) for i in range(10)]
    tallest = max(heights)
    assert tallest > 50
    assert [round(h / tallest * max(counts), 6) for h in heights] == counts
    shown = [bins.nth(i).locator("text.count").text_content() for i in range(10)]
    assert shown == [str(c) if c else "" for c in counts]
    assert bins.nth(5).locator("text.label").text_content() == "20–24"
    chart = page.locator("#distribution").bounding_box()
    assert chart and chart["width"] > 300 and chart["height"] > 150  # really drawn
    for i in range(10):  # every count label inside the picture, not clipped at the top
        box = bins.nth(i).locator("text.count").bounding_box()
        assert box is None or box["y"] >= chart["y"]

    # The tables.
    for question in run.questions:
        row = page.locator(f'#questions tr[data-question="{question.name}"]')
        mean = statistics.fmean(s.question_score(question.name) for s in run.submissions)
        assert float(row.get_attribute("data-mean")) == pytest.approx(mean, abs=0.006)
        assert float(row.locator("td").nth(1).inner_text()) == pytest.approx(mean, abs=0.006)
    for sub in run.submissions:
        row = page.locator(f'#submissions tr[data-id="{sub.id}"]')
        assert row.get_attribute("data-status") == sub.status
        assert float(row.locator("td.score").inner_text()) == sub.score
        for question in run.questions:
            cell = row.locator(f'td[data-question="{question.name}"]')
            assert float(cell.inner_text()) == sub.question_score(question.name)
    failed = page.locator("#failed-checks tr[data-check]")
    top = {
        failed.nth(i).get_attribute("data-check"): int(failed.nth(i).get_attribute("data-failures"))
        for i in range(failed.count())
    }
    # dave could not be loaded: he is not counted among those who failed a check
    assert top == {
        "conv_out.conv2d_grid": 2,
        "tiny_cnn.equivalence": 2,
        "tiny_cnn.output_shape": 2,
        "conv_out.returns_int": 1,
    }
    assert problems == []


def test_student_pages_open_from_the_summary(browser, tmp_path: Path) -> None:
    render_all(synthetic_run(), tmp_path)
    page, problems = _open(browser, tmp_path / "index.html")
    page.locator('#submissions tr[data-id="bob"] a').click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/students/bob.html")
    text = page.locator("body").inner_text()
    assert "This hidden check failed" in text and "SECRET-EXPECTED" not in text
    assert problems == []
