"""``--check``: run generated code against the examples its request shows (docs/checking.md).

Plain Python: no IPython, no llama.cpp. ``examples`` finds the examples in a request's text;
``sandbox`` runs code and examples in a separate, limited, short-lived Python process, isolated
from the machine as far as ``isolation`` can here (``isolation_label()`` says how far).
"""

from qwen_magic.checking.examples import Example, extract_examples
from qwen_magic.checking.isolation import Isolation
from qwen_magic.checking.sandbox import (
    CheckRun,
    CheckUnavailableError,
    ExampleResult,
    Limits,
    isolation_label,
    isolation_level,
    run_examples,
)

__all__ = ["CheckRun", "CheckUnavailableError", "Example", "ExampleResult", "Isolation", "Limits",
           "extract_examples", "isolation_label", "isolation_level", "run_examples"]
