"""The package's shape: modules import one way only, and importing it loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import qwen_magic.providers.openai as package

#: Each module may import only those before it.
ORDER = ["urls", "errors", "sse", "transport", "fim", "provider", "entry"]


def sibling_imports(name: str) -> set[str]:
    tree = ast.parse((Path(package.__file__).parent / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            # `from .sse import x` names the module; `from . import fim` names it as x.
            found |= {node.module} if node.module else {alias.name for alias in node.names}
    return found


def test_modules_import_only_earlier_ones():
    for index, name in enumerate(ORDER):
        assert sibling_imports(name) <= set(ORDER[:index]), name


def test_importing_it_loads_no_ipython_llama_cpp_or_http():
    code = ("import sys, qwen_magic.providers.openai; "
            "print(sorted(m for m in ('IPython', 'llama_cpp', 'httpx', 'httpx_sse') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"
