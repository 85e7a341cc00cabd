"""What rubric authors use inside checks: failing with a hint, and partial credit.

    from grader.rubric import fail

    @pytest.mark.points(3, visibility="public")
    def test_seed_examples(submission, expected):
        got = submission.probe("conv_out_cases", cases=SEEDS)
        if got != want:
            fail("conv_out(32, 3, 1, 1) returned 31; expected 32.",
                 hint="Did you forget the +1?", mistake="conv_out.off_by_one")

A check that calls `credit.award(0.6, ...)` earns 60% of its points.
"""

from __future__ import annotations

from typing import NoReturn


class CheckFailed(AssertionError):
    """A check's verdict: what was expected and what came back, and the likely mistake."""

    def __init__(self, message: str, *, hint: str = "", mistake: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.mistake = mistake


def fail(message: str, *, hint: str = "", mistake: str = "") -> NoReturn:
    """Fail the running check with a message for instructors and a hint for the student."""
    raise CheckFailed(message, hint=hint, mistake=mistake)


class Credit:
    """Partial credit for the running check (the `credit` fixture)."""

    def __init__(self) -> None:
        self.fraction: float | None = None

    def award(self, fraction: float, message: str = "", *, hint: str = "", mistake: str = "") -> None:
        """Earn `fraction` (0..1) of the check's points; below 1 the check fails with `message`."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"credit fraction must be within 0..1, got {fraction}")
        self.fraction = fraction
        if fraction < 1.0:
            raise CheckFailed(message, hint=hint, mistake=mistake)
