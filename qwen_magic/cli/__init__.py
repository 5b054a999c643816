"""The ``qwen-magic`` command: :mod:`.main` (generate, info, pull, bench), :mod:`.serve`."""

from .main import main

__all__ = ["main"]
