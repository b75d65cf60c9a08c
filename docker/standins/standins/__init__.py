"""Drydock's stand-in base images: see ../build and ../README.md."""
