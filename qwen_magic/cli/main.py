"""``qwen-magic``: pull the model, generate from the terminal, show what is installed, bench.

Exit codes: 0 success, 2 bad usage or settings, 3 no model, 4 invalid model file,
5 llama.cpp load failure, 6 not enough memory, 7 prompt too long, 8 download failure,
10-15 a remote server (--provider openai) failed: 11 unreachable or wrong URL, 12 API key,
13 unknown model, 14 server error or timeout, 15 malformed stream,
130 interrupted (Ctrl-C; the partial answer stays on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

from .. import __version__
from ..errors import QwenMagicError
from ..options import (
    GENERATION,
    MODEL,
    MODEL_SETTINGS,
    PROVIDER,
    ModelConfig,
    add_flags,
    default_threads,
    given,
    on,
)
from .models import HANDLERS as MODEL_HANDLERS
from .models import add_commands as add_model_commands

EXIT_INTERRUPTED = 130


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` and the model settings, for the commands that load a model file."""
    add_flags(parser, (MODEL, *on("cli", MODEL_SETTINGS)), "cli")


def _provider_choices(parser: argparse.ArgumentParser) -> None:
    """``--provider``'s choices: the registered providers (plugins included)."""
    from ..api import provider_names

    for action in parser._actions:
        if action.dest == PROVIDER.name:
            action.choices = provider_names()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-magic", description="A local Qwen2.5-Coder: download it, ask it for code, measure it."
    )
    parser.add_argument("--version", action="version", version=f"qwen-magic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_model_commands(commands)  # pull, models: cli/models.py

    gen = commands.add_parser("generate", help="stream an answer to stdout (stats to stderr)")
    gen.add_argument("prompt", nargs="+", help="the request; `-` reads it from stdin")
    add_flags(gen, on("cli"), "cli")  # every option: qwen_magic/options.py
    _provider_choices(gen)

    info = commands.add_parser("info", help="the model found, its metadata, memory, threads, versions")
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="machine-readable output")

    serve = commands.add_parser(
        "serve", help="serve the model over an OpenAI-compatible API (llama-cpp-python's server)"
    )
    add_flags(serve, (MODEL,), "cli")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; "
                            "0.0.0.0 for the network, with QWEN_MAGIC_API_KEY set)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_flags(serve, on("cli", MODEL_SETTINGS), "cli")

    bench = commands.add_parser("bench", help="speed and memory against raw llama-cpp-python")
    from ..bench import add_arguments

    add_arguments(bench)
    return parser


def _model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig().replace(path=args.model, **given(args, on("cli", MODEL_SETTINGS)))


def _read_prompt(words: list[str]) -> str:
    if words == ["-"]:
        return sys.stdin.read()
    return " ".join(words)


def cmd_generate(args: argparse.Namespace) -> int:
    from ..api import build_config, get_provider, run
    from ..streaming import TextIOSink

    config = build_config(**given(args, on("cli", GENERATION)))
    prompt = _read_prompt(args.prompt)
    provider = get_provider(
        args.model, _model_config(args), provider=args.provider, base_url=args.base_url
    )
    sinks = [] if args.code_only else [TextIOSink(sys.stdout)]
    result = run(prompt, config, provider=provider, sinks=sinks)
    if args.code_only:
        sys.stdout.write(result.cell_source())  # a cut answer says so in its first line
        sys.stdout.flush()
    if not args.no_stats:
        print(f"[{result.stats_line()}]", file=sys.stderr)
    if result.interrupted:
        print("Interrupted: the partial answer is above.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def collect_info(model_config: ModelConfig) -> dict[str, Any]:
    """The machine, the versions, and the local model's status and GGUF metadata."""
    import psutil

    from ..api import get_provider, model_search_path, provider_names
    from ..checking import isolation_label
    from ..status import provider_status

    info: dict[str, Any] = {
        "qwen_magic": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "default_threads": default_threads(),
        "memory_total_mb": psutil.virtual_memory().total // 1024**2,
        "memory_available_mb": psutil.virtual_memory().available // 1024**2,
        "search_path": [str(p) for p in model_search_path(model_config.path)],
        "providers": list(provider_names()),
        "check_isolation": isolation_label(),
    }
    try:
        from importlib.metadata import version

        info["llama_cpp_python"] = version("llama-cpp-python")
    except Exception:
        info["llama_cpp_python"] = None
    status = provider_status(get_provider(model_config=model_config, provider="local"))
    info["model"], problem = None, status.problem
    if status.local is not None:
        try:
            info["model"] = _model_info(status.local)
        except QwenMagicError as exc:  # found, but not a model qwen-magic can run
            problem = str(exc)
    if problem is not None:
        info["problem"] = problem
    info["recommended_model"] = _recommendation(model_config)
    return info


def _recommendation(model_config: ModelConfig) -> str:
    """Which catalog model to use here, and why (no model is loaded to decide)."""
    from ..api import available_memory, installed_model
    from ..catalog import entries, recommend
    from ..speed_records import read_records

    installed = [entry for entry in entries() if installed_model(entry) is not None]
    speeds = {name: record.decode_tok_s for name, record in read_records().items()}
    entry, why = recommend(installed, model_config.n_ctx, available_memory(), speeds)
    return f"{entry.short}: {why}" if entry is not None else why


def _model_info(local: Any) -> dict[str, Any]:
    """The status of the local model and what its GGUF header says (nothing is loaded)."""
    from ..api import model_file_info

    header = model_file_info(local.path, local.n_ctx)
    memory = header.pop("memory_needed_mb")
    return {"path": str(local.path), "size_mb": local.size_mb, **header,
            "n_ctx": local.n_ctx, "n_threads": local.n_threads, "memory_needed_mb": memory}


def cmd_info(args: argparse.Namespace) -> int:
    info = collect_info(_model_config(args))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for sub, item in value.items():
                    print(f"  {sub:<18} {item}")
            elif isinstance(value, list):
                print(f"{key}:")
                for item in value:
                    print(f"  {item}")
            else:
                print(f"{key:<20} {value}")
    return 0 if info.get("model") else 3


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(args.model, args.host, args.port, n_ctx=args.n_ctx, n_threads=args.n_threads)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"generate": cmd_generate, "info": cmd_info, "serve": cmd_serve, **MODEL_HANDLERS}
    try:
        if args.command == "bench":
            from ..bench import main as bench_main

            return bench_main(args)
        return handlers[args.command](args)
    except QwenMagicError as exc:
        print(f"qwen-magic: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nqwen-magic: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
