"""The option registry: every option appears on exactly the surfaces it declares, and each
surface is made from the registry (no model, no server)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
from traitlets import TraitError

import qwen_magic
from qwen_magic import options, settings
from qwen_magic.cli.main import build_parser
from qwen_magic.errors import ConfigError
from qwen_magic.notebook import grammar
from qwen_magic.notebook.magics import QwenMagics
from qwen_magic.options import ALL, GENERATION, OPTIONS, GenerationConfig, ModelConfig, on
from qwen_magic.providers.base import GenerationRequest
from qwen_magic.providers.openai import OpenAICompatibleProvider
from qwen_magic.widgets.view import PANEL_SETTINGS, SLIDERS
from tests.fakes import FakeProvider

#: The magics' own traits, not options: they configure the notebook side only.
MAGICS_OWN_TRAITS = {"model_path", "preload", "remote_model", "insert", "footer",
                     "context_tokens", "update_interval"}


def parser_dests(parser: argparse.ArgumentParser) -> dict[str, tuple[str, ...]]:
    return {action.dest: tuple(action.option_strings) for action in parser._actions
            if action.dest not in ("help", "prompt")}


def generate_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["generate"]


def surfaces_found(spec: options.Option) -> set[str]:
    """Where ``spec`` really shows up, looked for on each built front end."""
    found = set()
    if spec.name in parser_dests(grammar.PARSER):
        found.add("magic")
    if spec.name in parser_dests(generate_parser()):
        found.add("cli")
    if spec.name in QwenMagics.class_traits(config=True):
        found.add("trait")
    if spec.name in inspect.signature(qwen_magic.generate).parameters:
        found.add("api")
    if spec.name in PANEL_SETTINGS:
        found.add("panel")
    return found


@pytest.mark.parametrize("spec", ALL, ids=[spec.name for spec in ALL])
def test_every_option_is_on_exactly_the_surfaces_it_declares(spec):
    assert surfaces_found(spec) == set(spec.surfaces)
    if "magic" in spec.surfaces:
        assert parser_dests(grammar.PARSER)[spec.name] == spec.flags
    if "cli" in spec.surfaces:
        assert parser_dests(generate_parser())[spec.name] == spec.flags


def test_the_front_ends_hold_nothing_the_registry_does_not_declare():
    names = set(OPTIONS)
    assert set(parser_dests(grammar.PARSER)) <= names
    assert set(parser_dests(generate_parser())) <= names
    assert set(QwenMagics.class_traits(config=True)) == {s.name for s in on("trait")} | MAGICS_OWN_TRAITS
    api_params = set(inspect.signature(qwen_magic.generate).parameters)
    assert api_params - {"prompt", "config", "sinks", "cancel"} == {s.name for s in on("api")}
    assert [spec.name for spec in SLIDERS] == [s.name for s in on("panel") if s.widget == "slider"]


def test_config_fields_are_the_generation_and_model_entries():
    fields = dataclasses.fields(GenerationConfig)
    assert [spec.name for spec in GENERATION] == [f.name for f in fields]
    for f, spec in zip(fields, GENERATION):
        assert f.metadata["qwen_magic.option"] is spec  # the field IS the entry
        assert getattr(GenerationConfig(), spec.name) == spec.default_value()
    assert {s.name for s in options.MODEL_SETTINGS} <= {f.name for f in dataclasses.fields(ModelConfig)}
    # The provider registry names the providers (plugins add some): no fixed list here.
    assert OPTIONS["provider"].choices == () and OPTIONS["provider"].environment is settings.provider_kind
    assert len(OPTIONS) == len(ALL)  # no name twice


def test_types_come_from_the_annotations():
    assert (OPTIONS["seed"].type, OPTIONS["seed"].nullable) == (int, True)
    assert (OPTIONS["stop"].type, OPTIONS["stop"].repeatable) == (str, True)
    assert (OPTIONS["temperature"].type, OPTIONS["temperature"].nullable) == (float, False)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("temperature", 9, "temperature must be a number from 0 to 5, got 9."),
    ("top_k", -1, "top_k must be an integer from 0 to 1e+06, got -1."),
    ("speculative", "maybe", "speculative must be one of auto, on, off, got 'maybe'."),
    ("deterministic", 1, "deterministic must be True or False, got 1."),
])
def test_validation_is_derived_with_the_same_messages(name, value, message):
    with pytest.raises(ConfigError) as raised:
        GenerationConfig(**{name: value})
    assert str(raised.value) == message


def test_a_trait_refuses_what_the_config_refuses_with_its_message():
    magics = QwenMagics(shell=None, preload=False)
    with pytest.raises(TraitError, match="repeat_penalty must be a number from 0.5 to 2"):
        magics.repeat_penalty = 3.0
    magics.n_ctx = 10  # model settings are checked when a cell loads the model
    with pytest.raises(ConfigError, match="n_ctx must be an integer from 256"):
        magics.model_config()


def test_cell_options_and_cli_flags_reach_the_config():
    args, prompt = grammar.parse_cell_args("-t 0 --stop END --deterministic -n 7 hi")
    config = GenerationConfig().replace(**options.given(args, on("magic", GENERATION)))
    assert (config.temperature, config.stop, config.deterministic, config.max_tokens, prompt) \
        == (0, ("END",), True, 7, "hi")
    args = build_parser().parse_args(["generate", "--top-k", "3", "--threads", "1", "hi"])
    assert (args.top_k, args.n_threads, args.temperature) == (3, 1, None)


def test_api_refuses_an_unknown_option_in_one_line_naming_the_valid_ones():
    with pytest.raises(ConfigError) as raised:
        qwen_magic.generate("x", tempreature=0.1, provider=FakeProvider())
    message = str(raised.value)
    assert "tempreature" in message and "temperature" in message and "\n" not in message


def test_api_signature_shows_each_option_with_its_default():
    parameters = inspect.signature(qwen_magic.generate).parameters
    assert parameters["temperature"].default == 0.2 and parameters["seed"].default is None
    assert "temperature" in inspect.signature(qwen_magic.stream).parameters
    assert "temperature:" in (qwen_magic.generate.__doc__ or "")


def test_remote_payload_sends_each_option_under_its_remote_names():
    provider = OpenAICompatibleProvider("http://127.0.0.1:9/v1", "m")
    body = provider.payload("m", GenerationRequest.from_prompt("x", GenerationConfig()))
    assert "seed" not in body and "stop" not in body  # sent only when set
    assert body["repeat_penalty"] == body["repetition_penalty"] == 1.05
    body = provider.payload("m", GenerationRequest.from_prompt(
        "x", GenerationConfig(seed=3, stop=("END",))))
    assert (body["seed"], body["stop"]) == (3, ["END"])


def test_options_module_is_a_leaf():
    tree = ast.parse(Path(options.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not {name for name in imported if name and name.split(".")[0] in
                ("IPython", "traitlets", "ipywidgets", "qwen_magic")}
    assert {name for name in imported if name and name.startswith("errors")} == {"errors"}
