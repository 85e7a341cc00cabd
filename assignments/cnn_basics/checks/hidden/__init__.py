"""Hidden checks: run at grading; students see only each verdict and its hint."""
