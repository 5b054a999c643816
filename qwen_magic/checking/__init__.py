"""``--check``: run generated code against the examples its request shows (docs/checking.md).

Plain Python: no IPython, no llama.cpp. ``examples`` finds the examples in a request's text;
``sandbox`` runs code and examples in a separate, limited, short-lived Python process.
"""

from qwen_magic.checking.examples import Example, extract_examples
from qwen_magic.checking.sandbox import (
    CheckRun,
    CheckUnavailableError,
    ExampleResult,
    Limits,
    run_examples,
)

__all__ = ["CheckRun", "CheckUnavailableError", "Example", "ExampleResult", "Limits",
           "extract_examples", "run_examples"]
