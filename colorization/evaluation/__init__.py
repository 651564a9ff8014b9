"""`colorization evaluate`: full-resolution photos through the served `colorize_image` path, scored
per photo and per class against gray with the Evaluator's own metrics (models/metrics.py)."""
