"""Assignments: one sub-package per assignment, each with an assignment.toml."""
