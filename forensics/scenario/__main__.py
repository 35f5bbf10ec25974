"""`python -m forensics.scenario` entry point."""

from .cli import main

main()
