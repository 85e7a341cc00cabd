"""Hidden checks: they run at grading; students see their names, verdicts and hints only."""
