"""``python -m qwen_magic.cli``: the ``qwen-magic`` command."""

from .main import main

raise SystemExit(main())
