"""cnn-grader: a sandboxed, pytest-based autograder for deep-learning coursework."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
