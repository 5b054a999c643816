"""settings.py: each QWEN_MAGIC_* variable, read when asked, blank meaning unset."""

from __future__ import annotations

import pytest

from qwen_magic import settings
from qwen_magic.errors import ConfigError

VARIABLES = ("QWEN_MAGIC_PROVIDER", "QWEN_MAGIC_BASE_URL", "QWEN_MAGIC_REMOTE_MODEL",
             "QWEN_MAGIC_MODEL", "QWEN_MAGIC_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_when_nothing_is_set():
    assert settings.provider_kind() == "local"
    assert settings.base_url() is None
    assert settings.remote_model() is None
    assert settings.model_path() is None
    assert settings.api_key() is None
    assert settings.api_key_source() == "none"
    assert settings.server_api_key() is None


def test_each_variable_is_read_when_asked(monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", " OpenAI ")
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", " http://gpu-box:8000 ")
    monkeypatch.setenv("QWEN_MAGIC_REMOTE_MODEL", " qwen2.5-coder:7b ")
    monkeypatch.setenv("QWEN_MAGIC_MODEL", "/models/my model.gguf")
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", " sk-abc ")
    assert settings.provider_kind() == "openai"
    assert settings.base_url() == "http://gpu-box:8000"  # raw: checking it is the caller's job
    assert settings.remote_model() == "qwen2.5-coder:7b"
    assert settings.model_path() == "/models/my model.gguf"
    assert settings.api_key() == "sk-abc" and settings.server_api_key() == "sk-abc"
    assert settings.api_key_source() == "from $QWEN_MAGIC_API_KEY"
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "local")  # read again, not remembered
    assert settings.provider_kind() == "local"


def test_blank_means_unset(monkeypatch):
    for name in ("QWEN_MAGIC_PROVIDER", "QWEN_MAGIC_BASE_URL", "QWEN_MAGIC_REMOTE_MODEL"):
        monkeypatch.setenv(name, "  ")
    monkeypatch.setenv("QWEN_MAGIC_MODEL", "")
    assert settings.provider_kind() == "local"
    assert settings.base_url() is None and settings.remote_model() is None
    assert settings.model_path() is None


def test_bad_provider_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "cloud")
    # The registry checks the name (plugins add providers), naming the variable.
    from qwen_magic.providers import registry

    assert settings.provider_kind() == "cloud"
    with pytest.raises(ConfigError) as caught:
        registry.default_name()
    assert str(caught.value).startswith("QWEN_MAGIC_PROVIDER must be one of local, openai")
    assert str(caught.value).endswith(", got 'cloud'.")
    assert caught.value.exit_code == 2


def test_api_key_precedence_opt_out_and_source(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert settings.api_key() == "sk-openai"
    assert settings.api_key_source() == "from $OPENAI_API_KEY"
    assert settings.server_api_key() is None  # a server never adopts the OpenAI key
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", "")  # "send no key", even with OPENAI_API_KEY set
    assert settings.api_key() is None
    assert settings.api_key_source() == "none ($QWEN_MAGIC_API_KEY is empty)"
    for text in (settings.api_key_source(), repr(settings.api_key_source())):
        assert "sk-openai" not in text


def test_a_mapping_can_stand_in_for_the_environment():
    environ = {"QWEN_MAGIC_PROVIDER": "openai", "QWEN_MAGIC_API_KEY": "k"}
    assert settings.provider_kind(environ) == "openai" and settings.api_key(environ) == "k"
    assert settings.provider_kind() == "local"  # os.environ was not touched


def test_settings_imports_nothing_else_from_the_package():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(settings))
    relative = [(node.module, [a.name for a in node.names]) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == []  # a true leaf: which providers exist is the registry's to check


def test_no_other_module_reads_these_variables():
    import re
    from pathlib import Path

    import qwen_magic

    # A read names the variable in environ.get(...), getenv(...) or environ[...] (not = ...).
    read = re.compile(r"""(environ\.get\(|getenv\(|environ\[)\s*["']"""
                      r"""(QWEN_MAGIC_\w+|OPENAI_API_KEY)["']\s*[),\]](?!\s*=[^=])""")
    package = Path(qwen_magic.__file__).parent
    readers = [str(path.relative_to(package)) for path in package.rglob("*.py")
               if path.name != "settings.py" and read.search(path.read_text())]
    assert readers == []
