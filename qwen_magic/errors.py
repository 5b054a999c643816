"""Errors a user can act on.

Each class is one failure with one fix. ``str(error)`` is the one-line message shown in a
notebook or printed by the CLI, so every message says what happened *and* what to do.
"""

from __future__ import annotations


class QwenMagicError(Exception):
    """Base of every error this package raises on purpose."""

    #: Process exit code the CLI uses for this failure.
    exit_code = 1

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: a notebook shows one short
        # red line with the fix, not a wall of frames from inside the package.
        return [f"\x1b[31m{type(self).__name__}: {self}\x1b[0m"]


class ConfigError(QwenMagicError, ValueError):
    """A generation or model setting is out of its valid range."""

    exit_code = 2


class ModelNotFoundError(QwenMagicError, FileNotFoundError):
    """No model file at the requested path, or none found on the search path."""

    exit_code = 3


class InvalidModelError(QwenMagicError):
    """The file exists but is not a usable GGUF model (truncated, corrupt, wrong kind)."""

    exit_code = 4


class ModelLoadError(QwenMagicError):
    """llama.cpp refused to load a file that passed our own checks."""

    exit_code = 5


class InsufficientMemoryError(QwenMagicError, MemoryError):
    """Loading would need more memory than the machine has available."""

    exit_code = 6


class ContextOverflowError(QwenMagicError):
    """The prompt leaves no room for an answer in the model's context window."""

    exit_code = 7


class DownloadError(QwenMagicError):
    """Fetching the model failed (network, checksum, disk)."""

    exit_code = 8


class GenerationCancelled(QwenMagicError):
    """The user stopped a generation; the partial result travels with the error."""

    exit_code = 130

    def __init__(self, message: str = "Generation cancelled.", result: object = None) -> None:
        super().__init__(message)
        self.result = result


# -- a remote, OpenAI-compatible server (providers/openai/) ----------------------------------
# One class per thing the user fixes differently: start the server or fix the URL, set the
# key, name another model, look at the server's log, or suspect that the URL is not an
# OpenAI-compatible API at all.


class RemoteError(QwenMagicError):
    """An OpenAI-compatible server refused or failed a request (base of the classes below)."""

    exit_code = 10


class EndpointUnreachableError(RemoteError):
    """No connection to the server: refused, unknown host, or connect timeout."""

    exit_code = 11


class EndpointNotFoundError(RemoteError):
    """The server answered 404 for the API path itself: the base URL is wrong."""

    exit_code = 11


class RemoteAuthError(RemoteError):
    """The server wants an API key (HTTP 401/403) and ours is missing or wrong."""

    exit_code = 12


class RemoteModelNotFoundError(RemoteError):
    """The server does not serve the model the request names (HTTP 404)."""

    exit_code = 13


class RemoteServerError(RemoteError):
    """The server failed (HTTP 5xx, or an error event in the middle of the stream)."""

    exit_code = 14


class RemoteTimeoutError(RemoteError):
    """The server accepted the request but sent nothing for longer than the read timeout."""

    exit_code = 14


class RemoteProtocolError(RemoteError):
    """The answer was not a well-formed OpenAI event stream (or it was cut off)."""

    exit_code = 15
