"""What `qwen-magic bench` asks each path, interleaved over rounds.

Every scenario runs its paths in an order that rotates from one trial to the next (see
:func:`~qwen_magic.bench.plan.rotated`), and every ratio is taken between samples of the
same trial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..config import GenerationConfig, ModelConfig
from ..providers import engine_hooks
from ..providers.base import GenerationRequest, Provider
from .checking import check_isolation, check_problems, follow_ups
from .completion import completion
from .extraction import examples_section
from .fixes import fix_section
from .live_data import live_data
from .plan import Plan, greedy, rotated
from .prompts import (
    CONTEXT_QUESTIONS,
    EDIT_REQUESTS,
    SHORT_REQUESTS,
    WARM_REQUESTS,
    build_context,
    with_context,
)
from .remote import first_ghost_text
from .runners import ApiPath, LoadWatch, MagicPath, RawPath, Sample
from .stats import ratio, stats
from .two_models import two_models

Progress = Callable[[str], None]


class Bench:
    """The paths over one model file, and the resets that make trials comparable.

    Paths: ``raw``, ``api``, ``magic``, and ``plain``/``speculative`` (the API with
    speculative decoding forced off/on).
    """

    def __init__(self, raw: RawPath, magic: MagicPath, plan: Plan, provider: Provider,
                 loads: LoadWatch, model_config: ModelConfig) -> None:
        self.raw, self.magic, self.plan, self.provider, self.loads = raw, magic, plan, provider, loads
        self.model_config = model_config
        self.api = ApiPath(provider, "api")

    def count(self, text: str) -> int:
        return self.raw.count(text)

    def prompt_tokens(self, prompt: str, config: GenerationConfig) -> list[int]:
        return engine_hooks.prompt_tokens(self.provider, GenerationRequest.from_prompt(prompt, config))

    def reset(self, path: str) -> None:
        """Forget every cached prompt state of ``path``, so its next prompt is read in full."""
        if path == "raw":
            self.raw.reset()
            return
        engine_hooks.forget_prompt_states(self.provider)

    def run(self, path: str, prompt: str, config: GenerationConfig) -> Sample:
        if path == "raw":
            request = GenerationRequest.from_prompt(prompt, config)
            sample = self.raw.run(request, self.prompt_tokens(prompt, config))
        elif path == "magic":
            sample = self.magic.run(prompt, config)
        elif path == "plain":
            sample = ApiPath(self.provider, "plain").run(prompt, config.replace(speculative="off"))
        elif path == "speculative":
            sample = ApiPath(self.provider, "speculative").run(prompt, config.replace(speculative="on"))
        else:
            sample = self.api.run(prompt, config)
        self.loads.sample()
        return sample


def warm_up(bench: Bench) -> None:
    """First touches of the weights, the chat template and the file digest stay out of the numbers."""
    for path in ("raw", "api", "magic"):
        bench.reset(path)
        bench.run(path, "Say hi.", greedy(1, 4))


def short_requests(bench: Bench, progress: Progress) -> dict[str, Any]:
    """Decode speed, time to first token and prompt speed on fixed short code requests."""
    plan, paths = bench.plan, ("raw", "api", "magic")
    trials: list[dict[str, Sample]] = []
    for round_ in range(plan.rounds):
        for i, prompt in enumerate(SHORT_REQUESTS[: plan.short_prompts]):
            config = greedy(1000 + i, plan.short_tokens)
            trial: dict[str, Sample] = {}
            for path in rotated(paths, len(trials)):
                bench.reset(path)
                trial[path] = bench.run(path, prompt, config)
            trials.append(trial)
            progress(f"short round {round_ + 1} prompt {i + 1}: " + ", ".join(
                f"{p} {s.decode_tok_s or 0:.1f} tok/s" for p, s in trial.items()))
    return summarize_paths(trials, paths)


def summarize_paths(trials: list[dict[str, Sample]], paths: Sequence[str]) -> dict[str, Any]:
    """Per path: the figures of its samples and, beside raw, their per-trial ratios to raw."""
    out: dict[str, Any] = {"trials": len(trials), "paths": {}}
    for path in paths:
        samples = [t[path] for t in trials]
        entry: dict[str, Any] = {
            "ttft_s": stats([s.ttft_s for s in samples]),
            "prompt_tok_s": stats([s.prompt_tok_s for s in samples]),
            "decode_tok_s": stats([s.decode_tok_s for s in samples]),
            "completion_tokens": stats([s.completion_tokens for s in samples]),
            "prompt_tokens": stats([s.new_prompt_tokens for s in samples]),
        }
        if path != "raw":
            entry["decode_ratio_vs_raw"] = stats([ratio(t[path].decode_tok_s, t["raw"].decode_tok_s)
                                                  for t in trials])
            entry["ttft_delta_vs_raw_s"] = stats([t[path].ttft_s - t["raw"].ttft_s for t in trials])
            entry["same_text_as_raw"] = sum(t[path].text == t["raw"].text for t in trials)
        updates = [s.extra["display_updates"] for s in samples if "display_updates" in s.extra]
        if updates:
            entry["display_updates"] = stats(updates)
        out["paths"][path] = entry
    return out


def shared_prefix(bench: Bench, progress: Progress) -> dict[str, Any]:
    """A second cell sharing a long context with the first: how much sooner its first token."""
    plan, paths = bench.plan, ("raw", "api", "magic")
    context = build_context("analysis", plan.context_tokens, bench.count)
    per_path: dict[str, list[tuple[Sample, Sample]]] = {p: [] for p in paths}
    for round_ in range(plan.rounds_for("context")):
        for path in rotated(paths, round_):
            bench.reset(path)
            config = greedy(7, plan.context_answer_tokens)
            first = bench.run(path, with_context(context, CONTEXT_QUESTIONS[0]), config)
            second = bench.run(path, with_context(context, CONTEXT_QUESTIONS[1]), config)
            per_path[path].append((first, second))
        progress(f"shared prefix round {round_ + 1}: " + ", ".join(
            f"{p} {v[-1][0].ttft_s:.2f}s→{v[-1][1].ttft_s:.2f}s" for p, v in per_path.items()))
    out: dict[str, Any] = {"context_tokens": bench.count(context), "paths": {}}
    for path, pairs in per_path.items():
        out["paths"][path] = {
            "first_ttft_s": stats([a.ttft_s for a, _ in pairs]),
            "second_ttft_s": stats([b.ttft_s for _, b in pairs]),
            "second_new_tokens": stats([b.new_prompt_tokens for _, b in pairs]),
            "speedup": stats([ratio(a.ttft_s, b.ttft_s) for a, b in pairs]),
        }
    return out


def deterministic(bench: Bench, progress: Progress) -> dict[str, Any]:
    """A warm cell after the shared context, with ``deterministic`` off and on: what it costs.

    Each measured cell follows the same earlier cell (the context, then CONTEXT_QUESTIONS[0]),
    so both modes start from the same cached prompt and differ only in how much of it they
    reuse. The modes alternate in an order that rotates from trial to trial.
    """
    plan = bench.plan
    context = build_context("analysis", plan.context_tokens, bench.count)
    before = with_context(context, CONTEXT_QUESTIONS[0])
    answer_tokens = plan.context_answer_tokens
    bench.reset("api")
    bench.run("api", before, greedy(7, answer_tokens))  # reads the whole context once
    trials: list[dict[bool, Sample]] = []
    for n in range(plan.rounds):
        request = with_context(context, WARM_REQUESTS[n % len(WARM_REQUESTS)])
        trial: dict[bool, Sample] = {}
        for mode in rotated((False, True), n):
            bench.run("api", before, greedy(7, answer_tokens))
            trial[mode] = bench.run("api", request, greedy(13, answer_tokens).replace(deterministic=mode))
        trials.append(trial)
        progress(f"deterministic trial {n + 1}: off {trial[False].ttft_s:.3f}s "
                 f"({trial[False].new_prompt_tokens} new tokens), on {trial[True].ttft_s:.3f}s "
                 f"({trial[True].new_prompt_tokens} new tokens)")
    return {"context_tokens": bench.count(context), "path": "api", **summarize_deterministic(trials)}


def summarize_deterministic(trials: Sequence[dict[bool, Sample]]) -> dict[str, Any]:
    """Each mode's figures, and per trial the ratio and difference of "on" to "off"."""
    modes = {}
    for mode, name in ((False, "off"), (True, "on")):
        modes[name] = {"ttft_s": stats([t[mode].ttft_s for t in trials]),
                       "new_prompt_tokens": stats([t[mode].new_prompt_tokens for t in trials])}
    return {
        "trials": len(trials),
        "modes": modes,
        "ttft_ratio_on_vs_off": stats([ratio(t[True].ttft_s, t[False].ttft_s) for t in trials]),
        "ttft_delta_on_minus_off_s": stats([t[True].ttft_s - t[False].ttft_s for t in trials]),
        "same_text": sum(t[True].text == t[False].text for t in trials),
    }


def alternating(bench: Bench, progress: Progress) -> dict[str, Any]:
    """Two long contexts (a cell's notebook and the panel's) asked in turn: A, B, A, B, ..."""
    plan = bench.plan
    paths = ("raw", "api") if plan.raw_alternating else ("api",)
    contexts = {name: build_context(kind, plan.context_tokens, bench.count)
                for name, kind in (("A", "analysis"), ("B", "text"))}
    out: dict[str, Any] = {"context_tokens": {k: bench.count(v) for k, v in contexts.items()},
                           "visits": plan.alternations, "paths": {}}
    for path in paths:
        bench.reset(path)
        first: dict[str, float] = {}
        returns: list[dict[str, Any]] = []
        for visit in range(plan.alternations):
            for name, context in contexts.items():
                question = CONTEXT_QUESTIONS[visit % len(CONTEXT_QUESTIONS)]
                sample = bench.run(path, with_context(context, question),
                                   greedy(11, plan.context_answer_tokens))
                if name not in first:
                    first[name] = sample.ttft_s
                else:
                    returns.append({"context": name, "ttft_s": sample.ttft_s,
                                    "new_tokens": sample.new_prompt_tokens,
                                    "speedup": first[name] / sample.ttft_s})
        progress(f"alternating {path}: first " + ", ".join(f"{k} {v:.2f}s" for k, v in first.items())
                 + "; returns " + ", ".join(f"{r['context']} {r['ttft_s']:.2f}s" for r in returns))
        out["paths"][path] = {
            "first_ttft_s": first,
            "returns": returns,
            "return_ttft_s": stats([r["ttft_s"] for r in returns]),
            "speedup": stats([r["speedup"] for r in returns]),
        }
    return out


def edits(bench: Bench, progress: Progress) -> dict[str, Any]:
    """Edit-style requests: plain decoding against prompt-lookup speculative decoding."""
    plan = bench.plan
    paths = ("raw", "plain", "speculative", "magic")
    trials: list[dict[str, Sample]] = []
    prompt_of: list[int] = []
    for round_ in range(plan.rounds_for("edits")):
        for i, prompt in enumerate(EDIT_REQUESTS[: plan.edit_prompts]):
            config = greedy(2000 + i, plan.edit_tokens)
            trial: dict[str, Sample] = {}
            for path in rotated(paths, len(trials)):
                bench.reset(path)
                trial[path] = bench.run(path, prompt, config)
            trials.append(trial)
            prompt_of.append(i)
            spec = trial["speculative"]
            progress(f"edit round {round_ + 1} prompt {i + 1}: " + ", ".join(
                f"{p} {s.decode_tok_s or 0:.1f} tok/s" for p, s in trial.items())
                + f"; accepted {spec.extra.get('accepted')}/{spec.extra.get('drafted')}")
    out = summarize_paths(trials, paths)
    for path in ("speculative", "magic"):
        out["paths"][path]["decode_ratio_vs_plain"] = stats(
            [ratio(t[path].decode_tok_s, t["plain"].decode_tok_s) for t in trials])
    divergences = []
    for n, t in enumerate(trials):
        a, b = t["plain"].text, t["speculative"].text
        if a != b:
            at = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                      min(len(a), len(b)))
            divergences.append({"trial": n, "at_char": at, "plain": a[max(0, at - 30):at + 30],
                                "speculative": b[max(0, at - 30):at + 30]})
    # How much an edit's answer copies decides the gain, so each prompt is shown on its own.
    out["per_prompt"] = [
        {"prompt": EDIT_REQUESTS[i].split("\n", 1)[0],
         "decode_ratio_vs_raw": stats([ratio(t["speculative"].decode_tok_s, t["raw"].decode_tok_s)
                                       for t, p in zip(trials, prompt_of, strict=True) if p == i]),
         "accepted": sum(t["speculative"].extra.get("accepted", 0)
                         for t, p in zip(trials, prompt_of, strict=True) if p == i),
         "drafted": sum(t["speculative"].extra.get("drafted", 0)
                        for t, p in zip(trials, prompt_of, strict=True) if p == i)}
        for i in sorted(set(prompt_of))]
    if plan.control_tokens:
        out["control"] = control(bench, progress)
    drafted = sum(t["speculative"].extra.get("drafted", 0) for t in trials)
    accepted = sum(t["speculative"].extra.get("accepted", 0) for t in trials)
    out["match"] = {"identical": len(trials) - len(divergences), "total": len(trials),
                    "divergences": divergences}
    out["acceptance"] = {"drafted": drafted, "accepted": accepted,
                         "rate": accepted / drafted if drafted else None}
    return out


def control(bench: Bench, progress: Progress) -> dict[str, Any]:
    """A request that is not an edit but has code in its prompt (a --context cell), where
    drafts find fewer runs to copy: what speculative decoding costs or gains there."""
    plan = bench.plan
    prompt = with_context(build_context("analysis", 400, bench.count), CONTEXT_QUESTIONS[1])
    trials: list[dict[str, Sample]] = []
    for round_ in range(plan.rounds_for("edits")):
        trial: dict[str, Sample] = {}
        for path in rotated(("plain", "speculative"), round_):
            bench.reset(path)
            trial[path] = bench.run(path, prompt, greedy(3000, plan.control_tokens))
        trials.append(trial)
        progress(f"non-edit control round {round_ + 1}: " + ", ".join(
            f"{p} {s.decode_tok_s or 0:.1f} tok/s" for p, s in trial.items()))
    return {
        "decode_ratio_vs_plain": stats([ratio(t["speculative"].decode_tok_s, t["plain"].decode_tok_s)
                                        for t in trials]),
        "identical": sum(t["speculative"].text == t["plain"].text for t in trials),
        "total": len(trials),
    }


#: Each section's runner, by its ``--only`` name (plan.SECTIONS).
SCENARIOS: dict[str, Callable[[Bench, Progress], dict[str, Any]]] = {
    "short": short_requests, "shared_prefix": shared_prefix, "deterministic": deterministic,
    "alternating": alternating, "edits": edits, "completion": completion,
    "live_data": live_data, "follow_up": follow_ups, "examples": examples_section,
    "check_isolation": check_isolation, "check": check_problems, "fix": fix_section,
    "remote_completion": first_ghost_text, "two_models": two_models,
}
