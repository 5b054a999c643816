"""The openai provider behind every front end: engine selection, the Python API, the magics,
the CLI, and `qwen-magic serve`'s settings (no server started), all against a FAKE server."""

from __future__ import annotations

import json
import socket

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from qwen_magic import api, cli
from qwen_magic.errors import ConfigError, EndpointUnreachableError
from qwen_magic.notebook.grammar import parse_cell_args
from tests.unit.openai.fake_server import CODE_PIECES, RIGHT_KEY, free_port

# -- selection -------------------------------------------------------------------------------


def test_engine_selects_the_provider(monkeypatch, server):
    assert api.get_provider(provider="openai", base_url=server.url).name == "openai"
    assert api.get_provider(base_url=server.url).name == "openai"  # a URL implies openai
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "openai")
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", server.url)
    monkeypatch.setenv("QWEN_MAGIC_REMOTE_MODEL", "ok")
    provider = api.get_provider()
    assert (provider.name, provider.base_url, provider.model) == ("openai", server.url, "ok")
    assert api.get_provider() is provider  # one client (and connection pool) per endpoint
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "cloud")
    with pytest.raises(ConfigError, match="QWEN_MAGIC_PROVIDER must be one of local, openai"):
        api.get_provider()


def test_python_api_takes_provider_and_base_url(server):
    from qwen_magic import generate, stream

    result = generate("write add", provider="openai", base_url=server.url, model="ok")
    assert result.code.startswith("def add")
    chunks = list(stream("write add", provider="openai", base_url=server.url, model="ok"))
    assert chunks == CODE_PIECES


def test_cell_options_parse():
    args, prompt = parse_cell_args("--provider openai --base-url http://h:8000/v1 --model m hi")
    assert (args.provider, args.base_url, args.model, prompt) == (
        "openai", "http://h:8000/v1", "m", "hi")


# -- the notebook and the CLI ------------------------------------------------------------------


@pytest.fixture
def shell(monkeypatch):
    ip = InteractiveShell.instance()
    ip.config.QwenMagics.preload = False  # these tests never touch the local model
    ip.display_pub = CapturingDisplayPublisher()
    ip.inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: ip.inserted.append(text))
    yield ip
    ip.run_line_magic("unload_ext", "qwen_magic")
    InteractiveShell.clear_instance()


def test_cell_with_provider_options_streams_and_inserts(shell, server, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", RIGHT_KEY)
    shell.run_line_magic("load_ext", "qwen_magic")
    magics = shell.magics_manager.registry["QwenMagics"]
    assert magics.provider == "local"  # the default is untouched: the cell's options choose
    result = shell.run_cell(f"%%qwen --provider openai --base-url {server.url} --model needs-key"
                            " write an add function")
    assert result.success, result.error_in_exec
    assert shell.inserted == ["def add(a, b):\n    return a + b"]
    assert shell.user_ns["_qwen"].finish_reason == "stop"
    final = [o for o in shell.display_pub.outputs if "qwen_magic" in o.get("metadata", {})][-1]
    provenance = final["metadata"]["qwen_magic"]
    assert provenance["endpoint"] == server.url and provenance["provider"] == "openai"
    assert RIGHT_KEY not in json.dumps(shell.display_pub.outputs, default=str)


def test_environment_selects_the_server_and_status_shows_it(shell, server, monkeypatch, capsys):
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "openai")
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", server.url.removesuffix("/v1"))
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", RIGHT_KEY)
    shell.run_line_magic("load_ext", "qwen_magic")
    magics = shell.magics_manager.registry["QwenMagics"]
    assert (magics.provider, magics.base_url) == ("openai", server.url)
    shell.run_cell("%qwen status")
    out = capsys.readouterr().out
    assert f"endpoint        {server.url}" in out and "reachable       True" in out
    assert "from $QWEN_MAGIC_API_KEY" in out and RIGHT_KEY not in out
    assert "fake-coder" in out
    result = shell.run_cell("%%qwen write an add function")
    assert result.success, result.error_in_exec
    assert shell.inserted == ["def add(a, b):\n    return a + b"]
    shell.run_line_magic("config", "QwenMagics.provider = 'local'")
    assert magics.get_provider().name in ("local", "fallback")


def test_cell_against_a_dead_server_is_one_red_line(shell, monkeypatch):
    shell.run_line_magic("load_ext", "qwen_magic")
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = shell.run_cell(f"%%qwen --base-url {url} write add")
    assert isinstance(result.error_in_exec, EndpointUnreachableError)
    assert shell.inserted == []


def test_cli_generate_against_the_server(server, capsys):
    code = cli.main(["generate", "--provider", "openai", "--base-url", server.url, "--model", "ok",
                     "-t", "0", "write", "add"])
    captured = capsys.readouterr()
    assert code == 0 and "def add(a, b):" in captured.out and "tokens" in captured.err


def test_cli_exit_code_and_message_for_a_dead_server(capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = cli.main(["generate", "--base-url", url, "write", "add"])
    err = capsys.readouterr().err
    assert code == EndpointUnreachableError.exit_code
    assert err.startswith("qwen-magic: Cannot reach") and err.count("\n") == 1


# -- `qwen-magic serve` settings (no server started here) ------------------------------------


def test_serve_settings_share_the_cpu_and_hide_the_path(tmp_path, monkeypatch):
    from qwen_magic.cli.serve import server_settings

    monkeypatch.setenv("API_KEY", "from-a-stray-variable")  # pydantic-settings would read it
    monkeypatch.setenv("N_CTX", "99")
    path = tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    server, model = server_settings(path, "127.0.0.1", 8123, 2048, 2, None)
    assert server.interrupt_requests is False  # a second notebook waits, it does not cut
    assert server.api_key is None and (server.host, server.port) == ("127.0.0.1", 8123)
    assert model.model_alias == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert (model.n_ctx, model.n_threads, model.n_threads_batch) == (2048, 2, 2)
    assert model.logits_all is False and model.chat_format is None


def test_serve_refuses_a_busy_port_before_loading(monkeypatch):
    from qwen_magic.cli.serve import _check_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match="pick another --port"):
            _check_port("127.0.0.1", busy.getsockname()[1])
