"""``qwen-magic serve``: one machine hosts the model for several notebooks.

It runs llama-cpp-python's own OpenAI-compatible server (its ``[server]`` extra: FastAPI +
uvicorn) on the model the rest of qwen-magic would use, found by the same search path, so
notebooks elsewhere reach it with ``%%qwen --provider openai --base-url http://HOST:PORT/v1``.
This module is the one place besides providers/local/ that imports
llama_cpp, because what it starts *is* llama-cpp-python's server; nothing here is rewritten.

The settings are chosen for sharing a CPU: requests queue instead of interrupting each other
(llama-cpp-python's default cuts the running answer short when a second request arrives),
and the model is named by its file name rather than its path, so clients see a stable model
id and no directory layout of the server.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from .. import settings
from ..config import ModelConfig
from ..errors import ConfigError
from ..providers.local.models import preflight_memory, resolve_model_path, validate_model

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SERVER_EXTRA_HINT = "pip install 'qwen-magic[server]'"


def _check_port(host: str, port: int) -> None:
    """Fail in a second with the fix, not after loading the model, when the port is taken."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be from 1 to 65535, got {port}.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({exc}).") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port."
            ) from None


def _missing_server(exc: ImportError) -> ConfigError:
    return ConfigError(
        f"`qwen-magic serve` needs llama-cpp-python's server ({exc.name} is missing): "
        f"{SERVER_EXTRA_HINT}."
    )


def server_settings(
    path: Path, host: str, port: int, n_ctx: int, n_threads: int, api_key: str | None
) -> tuple[Any, Any]:
    """llama-cpp-python's (ServerSettings, ModelSettings) for ``path``."""
    try:
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise _missing_server(exc) from None
    # Both are pydantic BaseSettings, which also read same-named environment variables
    # (MODEL, N_CTX, API_KEY, ...): every setting that matters is passed explicitly, so
    # the command line means what it says.
    model = ModelSettings(
        model=str(path),
        model_alias=path.stem,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        n_gpu_layers=0,
        chat_format=None,  # the chat template stored in the GGUF, as the local provider uses
        # The server's default (True) exists for logprobs, which qwen-magic never asks for;
        # it keeps an n_ctx × vocab float array (2.3 GB at 4096 × 151,936) and copies every
        # prompt position's logits, slowing each prompt read.
        logits_all=False,
        verbose=False,
    )
    server = ServerSettings(
        host=host, port=port, api_key=api_key, interrupt_requests=False, root_path=""
    )
    return server, model


def serve(
    model: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Load the model and serve it until Ctrl-C / SIGTERM. Raises QwenMagicError subclasses.

    The API key clients must send is $QWEN_MAGIC_API_KEY when set (the same variable the
    openai provider sends), so one environment configures both ends.
    """
    config = ModelConfig().replace(path=model, n_ctx=n_ctx, n_threads=n_threads)
    path = resolve_model_path(config.path)
    info = validate_model(path)  # a bad file gets our message, not a llama.cpp abort
    preflight_memory(info, config.n_ctx)
    _check_port(host, port)
    api_key = settings.server_api_key()
    server, model_settings = server_settings(
        path, host, port, config.n_ctx, config.n_threads, api_key
    )
    try:
        import uvicorn
        from llama_cpp.server.app import create_app
    except ImportError as exc:
        raise _missing_server(exc) from None

    # create_app would read every setting from $CONFIG_FILE instead when it is set.
    os.environ.pop("CONFIG_FILE", None)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/v1"
    print(f"qwen-magic serve: loading {path.name} (n_ctx {config.n_ctx}, "
          f"{config.n_threads} threads)…", file=sys.stderr, flush=True)
    app = create_app(server_settings=server, model_settings=[model_settings])  # loads the model
    print(f"qwen-magic serve: model {path.stem!r} at {url} "
          f"(API key {'required, from $QWEN_MAGIC_API_KEY' if api_key else 'not required'}).\n"
          f"  In a notebook: %%qwen --provider openai --base-url {url} <request>\n"
          "  Ctrl-C stops the server.", file=sys.stderr, flush=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        print("qwen-magic serve: anyone who can reach this port can use the model; set "
              "QWEN_MAGIC_API_KEY to require a key.", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
