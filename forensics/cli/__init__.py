"""The command line: `main` holds the commands (options in, one library call, one-line errors),
`text` their terminal renderings."""

from forensics.cli.main import main

__all__ = ["main"]
