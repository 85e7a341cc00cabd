"""raise SystemExit at import."""
raise SystemExit(4)
