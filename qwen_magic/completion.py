"""Code completion as you type: Qwen2.5-Coder's fill-in-the-middle prompt and its stop rules.

Plain Python (no IPython, no llama.cpp): the local provider reads the prompt built here and
passes every piece of text it samples through :class:`StopRules`; the JupyterLab comm and the
terminal key binding (``qwen_magic.notebook.completer``) call :func:`qwen_magic.api.complete`.

With earlier cells, the prompt is Qwen2.5-Coder's repository-level FIM layout, the cells as
the files before the one being edited::

    <|repo_name|>notebook
    <|file_sep|>cell_1.py
    ...source of an earlier cell...
    <|file_sep|>cell_2.py
    ...
    <|file_sep|>notebook_state.py
    df: DataFrame  # columns: ... (the live values the cells use, when described)
    <|file_sep|>current.py
    <|fim_prefix|>{before the cursor}<|fim_suffix|>{after the cursor}<|fim_middle|>

With no earlier cell and no description (the first cell of a notebook, the terminal's first
line) there is no repository, and the prompt is the model's file-level FIM layout: from
``<|fim_prefix|>`` on.

The description of the live values (``CompletionRequest.live_data``, written by
:mod:`qwen_magic.livedata` after each cell ran) is a file of its own after the cells: it
changes only when a cell runs, as the cells do, so it belongs to the prompt's stable start.

Everything up to ``<|fim_prefix|>`` changes only when a cell is added, changed or run, and the text
before the cursor only grows as the user types, so the model's prefix cache reads just what
changed — and background prefill reads both ahead of the request: the grown notebook after a
cell ran, the typed text as it is typed (:func:`prefill_text`). The text after the cursor is
re-read on every request (Qwen's layout puts it after the typed part); it is usually short.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .catalog import DEFAULT_MODEL
from .errors import ConfigError
from .options import CHARS_PER_TOKEN, COMPLETION_CONTEXT_TOKENS, COMPLETION_MAX_TOKENS

# The family shares one set of markers (and one vocabulary); the catalog records them.
_FIM = DEFAULT_MODEL.fim
FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = _FIM.prefix, _FIM.suffix, _FIM.middle
REPO_NAME, FILE_SEP = _FIM.repo_name, _FIM.file_sep
#: Markers a model writes when it leaves the hole: the completion ends there.
STOP_MARKERS = (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE, REPO_NAME, FILE_SEP,
                "<|endoftext|>", "<|im_end|>", "<|im_start|>", "```")

#: Earlier cells are dropped this many at a time when over budget, so the start of the
#: prompt (and with it the cached state of everything after it) changes rarely.
CONTEXT_DROP_CELLS = 8
#: The file that holds the live values' description in the repository layout.
STATE_FILE = "notebook_state.py"


@dataclass(frozen=True)
class CompletionRequest:
    """The text around the cursor, the notebook's earlier cells, and how much to write."""

    prefix: str
    suffix: str = ""
    context_cells: tuple[str, ...] = ()
    max_tokens: int = COMPLETION_MAX_TOKENS.default
    #: Budget for the earlier cells, in characters.
    context_chars: int = COMPLETION_CONTEXT_TOKENS.default * CHARS_PER_TOKEN
    #: What the notebook's live values are (``df: DataFrame  # columns: …`` lines, from
    #: :func:`qwen_magic.livedata.describe`); "" for none. Its own budget bounds it.
    live_data: str = ""

    def __post_init__(self) -> None:
        for name in ("prefix", "suffix", "live_data"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be text, got {type(getattr(self, name)).__name__}.")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) \
                or not 1 <= self.max_tokens <= 4096:
            raise ConfigError(f"max_tokens must be an integer from 1 to 4096, got {self.max_tokens!r}.")
        object.__setattr__(self, "context_cells", tuple(str(c) for c in self.context_cells))


@dataclass(frozen=True)
class Completion:
    """What to show after the cursor, and how it was made."""

    text: str
    finish_reason: str  # "stop" (a stop rule), "length" (max_tokens), "cancelled"
    prompt_tokens: int = 0
    reused_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    total_s: float = 0.0


def select_context(cells: Sequence[str], budget_chars: int,
                   drop: int = CONTEXT_DROP_CELLS) -> list[str]:
    """The earlier cells that fit ``budget_chars``, newest kept, oldest dropped in blocks.

    The first kept cell is always at a multiple of ``drop``: as the notebook grows, the start
    stays put until a whole block has to go, instead of moving with every new cell (which
    would make the model re-read the whole context each time).
    """
    cells = [c for c in cells if c.strip()]
    sizes = [len(c) + 20 for c in cells]  # + the file separator line
    start = 0
    while start < len(cells) and sum(sizes[start:]) > budget_chars:
        start += drop
    if start >= len(cells):  # even the newest block is too big: the newest cells that fit
        kept: list[str] = []
        for cell in reversed(cells):
            if sum(len(c) + 20 for c in kept) + len(cell) + 20 > budget_chars:
                break
            kept.insert(0, cell)
        return kept
    return cells[start:]


def context_text(cells: Sequence[str], live_data: str = "") -> str:
    """The stable part of the prompt: every earlier cell as a file of the "repository", then
    the live values' description as :data:`STATE_FILE` (when there is one).

    Nothing when there are neither cells nor a description. Qwen2.5-Coder documents two
    FIM layouts: one file is the bare ``<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>``, and
    the repository header is for several files. A header around one lone file is neither,
    and the model fills worse in it: on the bench's holes (no notebook context) it changed
    7 of 30 single-line answers, two into code that no longer parsed, and the bare prompt
    scored higher on single- and multi-line holes alike (docs/performance.md).
    """
    live_data = live_data.strip()
    if not cells and not live_data:
        return ""
    files = "".join(f"{FILE_SEP}cell_{i}.py\n{cell.rstrip()}\n" for i, cell in enumerate(cells, 1))
    if live_data:
        files += f"{FILE_SEP}{STATE_FILE}\n{live_data}\n"
    return f"{REPO_NAME}notebook\n{files}{FILE_SEP}current.py\n"


def prompt_prefix(prefix: str) -> str:
    """The text before the cursor as the model reads it: on a line that holds only
    indentation, without that indentation.

    Qwen's tokenizer puts the last space of an indent into the token of the word after it
    (``"    return"`` is ``"   "`` + ``" return"``), so a prompt that ends in bare indentation
    ends mid-token, where the model has rarely been in training; there it often writes
    something that does not belong (a docstring's closing quotes once more, say). Ending the
    prompt at the start of the line lets the model write the indentation itself, and
    :class:`StopRules` drops as much of it as the user typed (``skip_indent``). On the bench's
    multi-line holes, which all start on such a line, this raised "still parses" from 0.73
    to 0.83 (docs/performance.md).
    """
    line = prefix.rsplit("\n", 1)[-1]
    return prefix[: len(prefix) - len(line)] if line and not line.strip() else prefix


def fim_prompt(request: CompletionRequest) -> str:
    """The whole prompt; read with special tokens on (the markers are single tokens)."""
    cells = select_context(request.context_cells, request.context_chars)
    return (f"{context_text(cells, request.live_data)}{FIM_PREFIX}{prompt_prefix(request.prefix)}"
            f"{FIM_SUFFIX}{request.suffix}{FIM_MIDDLE}")


def prefill_text(cells: Sequence[str], context_chars: int, prefix: str = "",
                 live_data: str = "") -> str:
    """What background prefill reads: the prompt of the next completion up to the cursor.

    ``prefix`` is what the user has typed before the cursor so far: read as it is typed, the
    next completion has only the last keystrokes and its two FIM markers left to read.
    ``live_data``: the description the next completion will carry (the same text).
    """
    return (context_text(select_context(cells, context_chars), live_data) + FIM_PREFIX
            + prompt_prefix(prefix))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


class StopRules:
    """Where a completion ends, applied to the text as it streams.

    - The model leaves the hole: it writes a FIM or file marker, or a code fence.
    - Completing a line (text before the cursor on its line, and not a block opener ending
      in ``:``): the end of that line.
    - Completing a block (the cursor on an empty line or after a ``:``): a blank line, or a
      line indented less than the block (it left the block).
    - Never the text after the cursor again: a line equal to the suffix's next line ends it.

    Whitespace at the end is held back until something follows it, so what was shown never
    has to be taken back: the completion never ends in a newline or a dangling indent.
    """

    def __init__(self, prefix: str, suffix: str = "") -> None:
        line = prefix.rsplit("\n", 1)[-1]
        stripped = line.rstrip()
        self.single_line = bool(stripped) and not stripped.endswith(":")
        if stripped.endswith(":"):
            self.block_indent = _indent(line) + 1  # the body is indented deeper than the opener
        elif stripped:
            self.block_indent = _indent(line)
        else:
            self.block_indent = len(line)  # the cursor sits at the indentation it chose
        # After typed indentation the model writes the line's indentation itself (the prompt
        # ends at the line's start: prompt_prefix): as much leading space as was typed is dropped.
        self.skip_indent = len(line) if not stripped else 0
        next_lines = [s.strip() for s in suffix.split("\n")]
        # The rest of the cursor's line counts too: "foo(|)" must not write ")" again.
        self.suffix_line = next((s for s in next_lines if s), "")
        self.text = ""      # everything accepted so far
        self.shown = 0      # how much of it has been released
        self.done = False

    def feed(self, piece: str) -> str:
        """Take a piece of sampled text; returns what may be shown now (may be empty)."""
        if self.done:
            return ""
        for marker in STOP_MARKERS:
            if marker in piece:
                piece = piece[: piece.index(marker)]
                self.done = True
        for char in piece:
            if self.skip_indent and not self.text and char in " \t":
                self.skip_indent -= 1
                continue
            self.skip_indent = 0
            if self._stops_before(char):
                self.done = True
                break
            self.text += char
        return self._release()

    def finish(self) -> str:
        """The text once generation has ended (the held-back tail is dropped)."""
        self.done = True
        self.text = self.text.rstrip()
        if self.suffix_line and self._current_line().strip() == self.suffix_line:
            self.text = self.text[: len(self.text) - len(self._current_line())].rstrip()
        return self.text

    def _current_line(self) -> str:
        return self.text.rsplit("\n", 1)[-1]

    def _stops_before(self, char: str) -> bool:
        text = self.text
        if char == "\n":
            if self.single_line:
                return True  # the line being written ends here, even if nothing was written
            line = self._current_line()
            if self.suffix_line and line.strip() == self.suffix_line:
                # The line just written is the one after the cursor: drop it and stop.
                self.text = text[: len(text) - len(line)].rstrip(" \t")
                return True
            if text.endswith("\n") and not line.strip() and text.strip():
                return True  # a blank line ends a block
            return False
        if not char.isspace():
            line = self._current_line()
            has_newline = "\n" in text
            if has_newline and not line.strip() and len(line) < self.block_indent:
                return True  # dedented out of the block being written
        return False

    def _release(self) -> str:
        """Text up to the last non-whitespace character, not yet shown."""
        visible = len(self.text.rstrip())
        line = self._current_line()
        if self.suffix_line and line.strip() and self.suffix_line.startswith(line.strip()):
            # The line may be the suffix's again: hold it, and the line break before it.
            visible = min(visible, len(self.text[: len(self.text) - len(line)].rstrip()))
        if visible <= self.shown:
            return ""
        out, self.shown = self.text[self.shown:visible], visible
        return out


class Suggestion:
    """One suggestion as it is written: sampled text in, shown text out (through
    :class:`StopRules`), with its timing — the same for every provider that fills in the
    middle, local or remote."""

    def __init__(self, request: CompletionRequest, on_text: Callable[[str], None]) -> None:
        self.rules = StopRules(request.prefix, request.suffix)
        self.on_text = on_text
        self.started = time.perf_counter()
        self.shown = ""
        self.first: float | None = None

    @property
    def done(self) -> bool:
        """A stop rule ended it: read no more."""
        return self.rules.done

    def feed(self, piece: str) -> None:
        """Take sampled text; shows what may be shown of it."""
        delta = self.rules.feed(piece)
        if delta:
            if self.first is None:
                self.first = time.perf_counter() - self.started
            self.shown += delta
            self.on_text(delta)

    def finish(self, finish_reason: str, prompt_tokens: int = 0, reused_tokens: int = 0,
               completion_tokens: int = 0) -> Completion:
        """The completion; text held back until the end is shown now, unless cancelled."""
        text = self.rules.finish()
        if text.startswith(self.shown) and len(text) > len(self.shown) \
                and finish_reason != "cancelled":
            self.on_text(text[len(self.shown):])
        return Completion(text, finish_reason, prompt_tokens, reused_tokens, completion_tokens,
                          self.first, time.perf_counter() - self.started)
