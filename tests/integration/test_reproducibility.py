"""The reproducibility promise with the real model (docs/reproducibility.md).

Exact texts are compared only with each other, on this machine: another CPU may word an
answer differently (llama.cpp picks other kernels on AVX2 and AVX-512), but on any one
machine a deterministic request gives one text whatever ran before it.
"""

from __future__ import annotations

import pytest

import qwen_magic
from qwen_magic import api
from qwen_magic.providers.local import models
from qwen_magic.providers.local.provider import DETERMINISTIC_CHUNK

pytestmark = pytest.mark.model

# A request long enough to span several aligned chunks, so that reuse really is cut back.
CODE = "\n".join(
    f"def step_{i}(values, factor={i}):\n"
    f"    \"\"\"Scale every value by {i} and drop the negative ones.\"\"\"\n"
    f"    return [v * factor for v in values if v >= 0]\n"
    for i in range(8)
)
REQUEST = f"```python\n{CODE}```\nWrite one function that applies step_0 to step_3 in order."
OTHER = f"```python\n{CODE}```\nAdd type hints to step_5."  # shares the whole code block
SETTINGS = dict(temperature=0, seed=3, max_tokens=40, deterministic=True)


@pytest.fixture(autouse=True)
def default_model(model_path, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))


def ask(prompt: str = REQUEST, **overrides) -> str:
    return qwen_magic.generate(prompt, **{**SETTINGS, **overrides}).text


def test_deterministic_gives_one_text_whatever_ran_before():
    models.unload()
    cold = qwen_magic.generate(REQUEST, **SETTINGS)
    assert cold.prompt_tokens > 3 * DETERMINISTIC_CHUNK and cold.reused_tokens == 0
    texts = {"cold": cold.text}

    warm = qwen_magic.generate(REQUEST, **SETTINGS)
    assert warm.reused_tokens > 0  # the warm path really reused the prompt
    texts["warm"] = warm.text

    ask(OTHER, deterministic=False)  # shares the code block, read the default way
    texts["after a request sharing its prefix"] = ask()

    ask("write a function that reverses a string", deterministic=False, temperature=0.7, seed=9)
    texts["after another prompt"] = ask()

    context_prompt = "Earlier cells:\n" + "\n".join(f"x{i} = {i} * 2" for i in range(150))
    ask(context_prompt + "\n\nRequest: print x3", deterministic=False)  # a --context-like cell
    texts["after a context cell"] = ask()

    texts["streamed"] = "".join(qwen_magic.stream(REQUEST, **SETTINGS))

    models.unload()
    texts["after unload + load"] = ask()

    assert cold.text.strip(), "the model said nothing"
    different = {name: text for name, text in texts.items() if text != cold.text}
    assert not different, f"cold: {cold.text!r}\ndiffers: {different!r}"


def test_deterministic_answers_are_recorded_as_such():
    result = qwen_magic.generate(REQUEST, **SETTINGS)
    assert result.config.deterministic is True and result.config.seed == 3
    assert api.last_result is result
