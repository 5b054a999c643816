"""``python -m qwen_magic.bench probe KIND JSON-SETTINGS``: one probe's fresh process.

The benchmark starts it (:func:`qwen_magic.bench.probes.run_probe`); run the benchmark itself
with ``qwen-magic bench``.
"""

from __future__ import annotations

import sys

from .probes import main

if len(sys.argv) != 4 or sys.argv[1] != "probe":
    sys.exit("usage: python -m qwen_magic.bench probe KIND JSON-SETTINGS (run `qwen-magic bench`)")
sys.exit(main(sys.argv[2:]))
