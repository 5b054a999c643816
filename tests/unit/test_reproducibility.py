"""Issue: the same answer cold or warm. Unit tests with a FAKE provider / FAKE model state.

What the real model does with these rules is tested in tests/integration/test_reproducibility.py.
"""

from __future__ import annotations

import pytest

from qwen_magic.providers.local.prefix_cache import PrefixStateCache, aligned_reuse
from tests.fakes import FakeProvider
from tests.unit.test_prefix_cache import FakeModel, context, prompt

CHUNK = 64


def read(model: FakeModel, cache: PrefixStateCache, tokens: list[int], *, align: int | None,
         answer: int = 20) -> int:
    """What the local provider does: prepare, keep what it says, read the rest, answer."""
    keep = cache.prepare(model, tokens, align=align)
    model.truncate(keep)
    assert model.live == tokens[:keep], "reuse must be a prefix that is really live"
    model.live = tokens[:] + [-1] * answer
    return keep


def test_aligned_reuse_is_a_chunk_boundary_before_the_last_chunk() -> None:
    assert aligned_reuse(live=1000, aligned=1000, prompt_len=1200, align=64) == 960
    assert aligned_reuse(live=1000, aligned=500, prompt_len=1200, align=64) == 448
    # The chunk holding the prompt's last token is always read whole, even when all is live.
    assert aligned_reuse(live=128, aligned=128, prompt_len=128, align=64) == 64
    assert aligned_reuse(live=129, aligned=128, prompt_len=129, align=64) == 128
    assert aligned_reuse(live=63, aligned=63, prompt_len=200, align=64) == 0


def test_deterministic_read_reuses_only_aligned_chunks_of_a_deterministic_read() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a = prompt(context(1), 1)  # 1,052 tokens
    assert read(model, cache, a, align=CHUNK) == 0
    assert cache.aligned == (len(a) - 1) // CHUNK * CHUNK
    # Same context, another request: reuse stops at the last full chunk of the context.
    b = prompt(context(1), 7)
    shared = len(b) - 2
    assert read(model, cache, b, align=CHUNK) == shared // CHUNK * CHUNK
    # The very same request again: everything but the last chunk.
    assert read(model, cache, b, align=CHUNK) == (len(b) - 1) // CHUNK * CHUNK


def test_a_default_read_ends_the_aligned_prefix_where_it_starts_reading() -> None:
    cache, model = PrefixStateCache(0), FakeModel()  # no snapshots: only the live state
    a = prompt(context(1), 1)
    read(model, cache, a, align=CHUNK)
    # A default request sharing only 300 tokens re-reads from 300 in n_batch chunks.
    other = a[:300] + [5] * 400
    assert read(model, cache, other, align=None) == 300
    assert cache.aligned == 300
    # Back to the deterministic request: only chunks below 300 may be kept (not the rest of
    # the first read's chunks, which the default read overwrote).
    assert read(model, cache, a, align=CHUNK) <= 256


def test_answer_tokens_are_never_reused_by_a_deterministic_read() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    first = list(range(100))
    read(model, cache, first, align=CHUNK, answer=300)  # the live state is 400 tokens long
    follow_up = model.live[:]  + [7, 8]  # a prompt that repeats the whole answer
    assert read(model, cache, follow_up, align=CHUNK) == 64  # not 384: answers are read 1 by 1


def test_a_restored_snapshot_brings_its_own_aligned_prefix() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a, b = prompt(context(1), 1), prompt(context(2), 1)
    read(model, cache, a, align=CHUNK)
    read(model, cache, b, align=None)  # saves a's state (aligned), reads b the default way
    assert cache.aligned == 50  # b shares only the system prompt with a
    keep = read(model, cache, prompt(context(1), 9), align=CHUNK)  # restores a
    assert cache.stats.restores == 1
    assert keep == (len(a) - 2) // CHUNK * CHUNK


def test_a_failed_restore_keeps_nothing() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a, b = prompt(context(1), 1), prompt(context(2), 1)
    read(model, cache, a, align=CHUNK)
    read(model, cache, b, align=CHUNK)
    model.fail_restore = True
    assert read(model, cache, prompt(context(1), 9), align=CHUNK) == 0


# -- what a cut answer inserts ---------------------------------------------------------------

CUT_CODE = ["```python\n", "def f(x):\n", '    """Docs', " that go on"]


def test_a_cut_answer_inserts_a_cell_that_says_so(shell) -> None:
    shell.fake_provider = FakeProvider(CUT_CODE)
    assert shell.run_cell("%%qwen -n 4 write f").success
    (inserted,) = shell.inserted
    first, _, rest = inserted.partition("\n")
    assert first == "# qwen: cut at max_tokens=4 — incomplete, raise -n to get the rest"
    assert rest.startswith("def f(x):")
    footer = shell.display_pub.outputs[-1]["data"]["text/markdown"]
    assert "cut at max_tokens=4 — incomplete" in footer


def test_an_answer_that_was_not_cut_carries_no_such_line(shell) -> None:
    shell.fake_provider = FakeProvider(CUT_CODE[:2] + ["    return x\n", "```"])
    assert shell.run_cell("%%qwen -n 40 write f").success
    assert shell.inserted == ["def f(x):\n    return x"]
    assert "cut at" not in shell.display_pub.outputs[-1]["data"]["text/markdown"]
    assert "# qwen:" not in shell.user_ns["_qwen"].cell_source()


# -- %%qwen with options and a body in terminal IPython -----------------------------------------

@pytest.mark.parametrize(("cell", "status"), [
    ("%%qwen -n 400\n", "incomplete"),           # options only: the prompt follows as the body
    ("%%qwen --deterministic -t 0\n", "incomplete"),
    ("%%qwen\n", "incomplete"),
    ("%%qwen write hello\n", "complete"),        # prompt words: a whole one-line cell
    ("%%qwen -n 400 write hello\n", "complete"),
    ("%%qwen --help\n", "complete"),
])
def test_check_complete_waits_for_a_body_only_when_the_line_has_no_prompt(shell, cell, status):
    assert shell.input_transformer_manager.check_complete(cell)[0] == status


def test_options_then_a_body_make_one_request(shell) -> None:
    assert shell.run_cell("%%qwen -n 400 --deterministic\nwrite hello").success
    request = shell.fake_provider.requests[-1]
    assert request.messages[-1]["content"] == "write hello"
    assert request.config.max_tokens == 400 and request.config.deterministic is True


def test_deterministic_is_a_setting_of_the_magics_the_api_and_the_cli(shell) -> None:
    shell.run_line_magic("config", "QwenMagics.deterministic = True")
    shell.run_cell("%%qwen write hello")
    assert shell.fake_provider.requests[-1].config.deterministic is True
    assert shell.user_ns["_qwen"].config.deterministic is True  # recorded in provenance too

    from qwen_magic.cli.main import build_parser

    args = build_parser().parse_args(["generate", "--deterministic", "hi"])
    assert args.deterministic is True


def test_the_api_passes_deterministic_on() -> None:
    import qwen_magic

    fake = FakeProvider(["```python\n", "x = 1\n", "```"])
    qwen_magic.generate("write x", deterministic=True, temperature=0, provider=fake)
    assert fake.requests[-1].config.deterministic is True
    qwen_magic.generate("write x", provider=fake)
    assert fake.requests[-1].config.deterministic is False


# -- models.cached() sees a model loaded with a clamped n_ctx -----------------------------------

def test_cached_finds_a_model_whose_n_ctx_was_clamped(tmp_path, monkeypatch) -> None:
    """A FAKE loaded model (no llama.cpp): ``load()`` clamps n_ctx to the model's context
    length; ``cached()`` must look it up under the same clamped key."""
    from qwen_magic.config import ModelConfig
    from qwen_magic.providers.local import models
    from qwen_magic.providers.local.gguf import read_gguf
    from tests.gguf_factory import U32, build_gguf, qwen2_metadata

    path = tmp_path / "small.gguf"
    path.write_bytes(build_gguf(qwen2_metadata(**{"qwen2.context_length": (U32, 2048)})))
    monkeypatch.setattr(models, "validate_model", read_gguf)  # a tiny file: no size checks
    monkeypatch.setattr(models, "preflight_memory", lambda info, n_ctx, path=None: None)
    monkeypatch.setattr(models, "_create_llama", lambda path, config: object())
    monkeypatch.setattr(models, "_loaded", {})
    model_loader = models.GgufModelLoader(ModelConfig(path=str(path), n_ctx=8192))
    assert model_loader.cached() is None
    model = model_loader.load()
    assert model.config.n_ctx == 2048
    assert model_loader.cached() is model
    assert models.GgufModelLoader(ModelConfig(path=str(path), n_ctx=1024)).cached() is None
