"""`python -m polyshop ...`: the same command as `polyshop` (the demo starts its API server so)."""

from polyshop.cli import main

main()
