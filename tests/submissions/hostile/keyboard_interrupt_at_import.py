"""raise KeyboardInterrupt at import."""
raise KeyboardInterrupt
