"""The `polyshop` command line."""

from polyshop.cli._main import app, main

__all__ = ["app", "main"]
