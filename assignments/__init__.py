"""Assignments: one sub-package per assignment, each with an assignment.toml."""

# The assignment `grade` uses when several are installed and --assignment is not given.
DEFAULT = "cnn_basics"
