"""One family of errors for people: each names the thing, what was expected, and the fix.

The CLI prints `str(error)` on one line and exits with `error.exit_code`; it never
shows a traceback for these. Anything else escaping the CLI is a bug in the grader.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class: a problem with the input or the setup, explained for a person."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(GraderError):
    """The command line itself is wrong: an unknown option, a bad value."""

    exit_code = 2


class InputError(GraderError):
    """A path, file or folder given to the grader cannot be used."""

    exit_code = 2


class SetupError(GraderError):
    """The machine or the assignment is not set up as grading needs (weights, reference)."""

    exit_code = 3


class OutputError(GraderError):
    """Results cannot be written where they were asked for."""

    exit_code = 4
