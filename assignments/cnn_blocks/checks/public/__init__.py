"""Public checks: students see them, their details, and run them with `grade check`."""
