"""forensics: offline post-incident analysis of exported Heroku logs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("forensics")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
