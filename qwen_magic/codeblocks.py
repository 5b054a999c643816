"""Pull the code out of a Markdown reply.

Models answer with fenced blocks (```python … ```), sometimes several, sometimes with other
languages' tags, sometimes cut off by max_tokens before the closing fence, and sometimes
with no fence at all. The code cell inserted below gets only the code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# An opening fence: up to 3 spaces, ``` or ~~~ (3+), then an optional info string.
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_PYTHON_TAGS = {"", "python", "py", "python3", "ipython", "ipython3", "jupyter", "pycon"}


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str
    closed: bool


def find_code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block in ``text``, in order; an unclosed last block runs to the end."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        language = match["info"].strip().split(" ")[0].lower() if match["info"] else ""
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                closed = True
                i += 1
                break
            line = lines[i]
            # Fences indented by a list item indent their body too; take that indent off.
            body.append(line[indent:] if line[:indent].isspace() else line)
            i += 1
        blocks.append(CodeBlock(language, "\n".join(body).strip("\n"), closed))
    return blocks


def _is_python(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def python_blocks(text: str, *, untagged: bool = True) -> list[str]:
    """The code of each non-empty block tagged as Python (or, with ``untagged``, untagged),
    in order."""
    tags = _PYTHON_TAGS if untagged else _PYTHON_TAGS - {""}
    return [b.code for b in find_code_blocks(text) if b.code.strip() and b.language in tags]


def extract_code(text: str) -> str:
    """The code to put in a new cell: Python blocks joined, else any blocks, else bare code.

    A reply without fences is taken as code only if it parses as Python, so an answer that
    is all prose never becomes a broken code cell.
    """
    blocks = [b for b in find_code_blocks(text) if b.code.strip()]
    chosen = [b for b in blocks if b.language in _PYTHON_TAGS] or blocks
    if chosen:
        return "\n\n".join(b.code for b in chosen).rstrip() + "\n"
    bare = text.strip()
    if bare and "\n" in bare and _is_python(bare):
        return bare + "\n"
    if bare and _is_python(bare) and not bare.replace(" ", "").isalpha():
        return bare + "\n"
    return ""
