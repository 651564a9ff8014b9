"""The `colorization` command line."""
