"""Extracting code from a Markdown reply."""

from __future__ import annotations

from qwen_magic.codeblocks import extract_code, find_code_blocks


def test_single_python_block_with_prose_around():
    reply = "Here you go:\n```python\ndef f():\n    return 1\n```\nIt returns 1."
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_language_tags_prefer_python_blocks():
    reply = "```bash\npip install x\n```\n```py\nimport x\n```\n```python3\nx.run()\n```"
    assert extract_code(reply) == "import x\n\nx.run()\n"


def test_other_language_used_when_no_python_block():
    assert extract_code("```sql\nSELECT 1;\n```") == "SELECT 1;\n"


def test_unclosed_fence_from_max_tokens_runs_to_the_end():
    blocks = find_code_blocks("```python\nx = 1\ny = 2")
    assert blocks[0].code == "x = 1\ny = 2" and not blocks[0].closed


def test_no_fence_but_python():
    assert extract_code("import math\nprint(math.pi)") == "import math\nprint(math.pi)\n"


def test_prose_without_fence_gives_nothing():
    assert extract_code("I cannot help with that.") == ""
    assert extract_code("Sure") == ""


def test_tilde_fences_and_longer_backtick_fences():
    assert extract_code("~~~python\na = 1\n~~~") == "a = 1\n"
    assert extract_code("````python\nprint('```')\n````") == "print('```')\n"


def test_fence_indented_in_a_list_item():
    reply = "1. Do this:\n   ```python\n   x = 1\n   if x:\n       y = 2\n   ```"
    assert extract_code(reply) == "x = 1\nif x:\n    y = 2\n"


def test_empty_blocks_are_ignored():
    assert extract_code("```python\n```\n```python\nz = 3\n```") == "z = 3\n"
