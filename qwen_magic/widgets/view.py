"""The panel's widgets and the HTML it shows: what a person sees, none of what it does.

The sampling sliders come from a table (:data:`SLIDERS`) rather than one call each, so that
adding a setting is one row (and a later option registry can generate the rows). Labels,
descriptions and CSS classes are what the browser tests (tests/e2e) select on: change them
only together with those tests.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import ipywidgets as widgets

from ..config import GenerationConfig
from ..errors import QwenMagicError
from ..providers.fallback import FallbackProvider
from ..result import GenerationResult
from ..status import ProviderStatus

#: Ends a partial answer while it streams; the final render has none.
CURSOR = "▌"


@dataclass(frozen=True)
class SliderSpec:
    """One sampling control: the GenerationConfig field it edits and how the slider looks."""

    name: str                       # the GenerationConfig field, and the panel's attribute
    kind: Literal["float", "int"]   # FloatSlider or IntSlider
    low: float
    high: float
    step: float
    description: str                # the label the browser tests find the slider by
    grows: bool = False             # stretch the range to hold a larger starting value


SLIDERS: tuple[SliderSpec, ...] = (
    SliderSpec("temperature", "float", 0, 2, 0.05, "temperature"),
    SliderSpec("top_p", "float", 0, 1, 0.01, "top-p"),
    SliderSpec("top_k", "int", 0, 200, 1, "top-k"),
    # A %config max_tokens above the slider's end must not be cut down by opening the panel.
    SliderSpec("max_tokens", "int", 1, 2048, 1, "max tokens", grows=True),
    SliderSpec("repeat_penalty", "float", 0.5, 2, 0.01, "repeat penalty"),
)

#: Generation settings the panel edits and "Use as defaults" writes to the %%qwen defaults.
PANEL_SETTINGS: tuple[str, ...] = (*(spec.name for spec in SLIDERS), "seed", "system")

_SLIDER_CLASSES = {"float": widgets.FloatSlider, "int": widgets.IntSlider}
_CASTS: dict[str, type] = {"float": float, "int": int}


class ButtonSpec(NamedTuple):
    name: str  # as in state.BUTTONS / buttons_for
    label: str
    icon: str
    style: str
    tooltip: str


BUTTON_SPECS: tuple[ButtonSpec, ...] = (
    ButtonSpec("generate", "Generate", "play", "primary", "Generate with these settings"),
    ButtonSpec("stop", "Stop", "stop", "danger", "Stop (keeps the text so far)"),
    ButtonSpec("insert", "Insert as cell", "level-down", "",
               "Put the code in a new cell below (not run)"),
    ButtonSpec("copy", "Copy", "copy", "", "Copy the code to the clipboard"),
    ButtonSpec("defaults", "Use as defaults", "check", "",
               "Make these settings the defaults of later %%qwen cells"),
)


def _slider(spec: SliderSpec, value: float) -> Any:
    high = max(spec.high, value) if spec.grows else spec.high
    cast = _CASTS[spec.kind]
    # continuous_update=False: one sync per release, not one per pixel dragged.
    return _SLIDER_CLASSES[spec.kind](
        value=value, min=cast(spec.low), max=cast(high), step=cast(spec.step),
        description=spec.description, continuous_update=False,
        style={"description_width": "8em"}, layout=widgets.Layout(width="26em"))


class PanelView:
    """Every widget of the panel, laid out in :attr:`children`; the handlers are the panel's.

    The only behaviour here is the seed box following its checkbox: it is about what can be
    typed, not about generating.
    """

    def __init__(self, prompt: str, start: GenerationConfig) -> None:
        full = widgets.Layout(width="100%")
        self.prompt = widgets.Textarea(
            value=prompt, layout=widgets.Layout(width="100%", height="5em"),
            placeholder="Describe the code you want, e.g. a function that parses ISO dates",
        )
        self.system = widgets.Textarea(value=start.system or "",
                                       layout=widgets.Layout(width="100%", height="6em"))
        # Collapsed: most people never touch it, and it is long.
        self.system_box = widgets.Accordion([self.system], selected_index=None, layout=full)
        self.system_box.set_title(0, "System prompt")

        self.sliders: dict[str, Any] = {
            spec.name: _slider(spec, getattr(start, spec.name)) for spec in SLIDERS}
        self.fixed_seed = widgets.Checkbox(value=start.seed is not None, description="fixed seed",
                                           indent=False, layout=widgets.Layout(width="8em"))
        self.seed = widgets.BoundedIntText(value=start.seed or 0, min=0, max=2**32 - 1,
                                           disabled=start.seed is None,
                                           layout=widgets.Layout(width="10em"))
        self.fixed_seed.observe(self._on_fixed_seed, "value")

        self.buttons: dict[str, widgets.Button] = {
            spec.name: widgets.Button(description=spec.label, icon=spec.icon,
                                      button_style=spec.style, tooltip=spec.tooltip)
            for spec in BUTTON_SPECS}

        self.model_status = widgets.HTML()
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(
            border="1px solid var(--jp-border-color2, #ddd)", padding="0 0.5em", min_height="3em"))
        self.stats = widgets.HTML()
        self.script = widgets.Output(layout=widgets.Layout(display="none"))  # runs Copy's JS

        # Class names give a stylesheet (and the browser test) something stable to hold.
        for widget, name in ((self.model_status, "model"), (self.status, "status"),
                             (self.output, "output"), (self.stats, "stats"),
                             (self.prompt, "prompt")):
            widget.add_class(f"qwen-panel-{name}")

        self.children: tuple[Any, ...] = (
            widgets.HTML("<b>Qwen panel</b>"), self.model_status, self.prompt, self.system_box,
            self._settings_box(), widgets.HBox(list(self.buttons.values())), self.status,
            self.output, self.stats, self.script,
        )

    def _settings_box(self) -> widgets.VBox:
        """Two sliders a row; the seed controls end the last row."""
        sliders = list(self.sliders.values())
        rows = [sliders[i:i + 2] for i in range(0, len(sliders), 2)]
        rows[-1] += [self.fixed_seed, self.seed]
        return widgets.VBox([widgets.HBox(row) for row in rows])

    def _on_fixed_seed(self, change: dict[str, Any]) -> None:
        self.seed.disabled = not change["new"]

    def settings(self) -> dict[str, Any]:
        """The controls' values by GenerationConfig field (not validated: that is the config's)."""
        values: dict[str, Any] = {
            spec.name: _CASTS[spec.kind](self.sliders[spec.name].value) for spec in SLIDERS}
        values["seed"] = int(self.seed.value) if self.fixed_seed.value else None
        values["system"] = self.system.value
        return values


# -- what the panel shows as text -----------------------------------------------------------

_COLOURS = {"info": "inherit", "error": "var(--jp-error-color1, #c62828)",
            "busy": "var(--jp-warn-color1, #e65100)"}


def status_html(message: str, kind: str = "info") -> str:
    """The status line: one message, coloured by kind ("info", "error" or "busy")."""
    colour = _COLOURS[kind]
    return f'<span style="color:{colour}">{html.escape(message)}</span>' if message else ""


def markdown_output(text: str) -> dict[str, Any]:
    """An Output widget's display_data, rendered as Markdown (highlighted code) by the front end."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/markdown": text, "text/plain": text}}


def stats_html(result: GenerationResult) -> str:
    """The line under an answer: tokens, speed, first token, and the seed to reproduce it."""
    line = result.stats_line()
    if result.config is not None and result.config.seed is not None:
        line += f" · seed {result.config.seed}"
    return f"<small><i>{html.escape(line)}</i></small>"


def problem_line(error: QwenMagicError) -> str:
    """The model line when the model cannot even be found or described."""
    return f"⚠ {html.escape(str(error))}"


def model_line(status: ProviderStatus) -> str:
    """The model line: which model, loaded or not, busy or not (from :func:`provider_status`,
    without the remote check: the watcher polls it)."""
    if status.provider == FallbackProvider.name:
        return ("⚠ no model found — run <code>%qwen pull</code> to download it "
                "(see <code>%qwen status</code>)")
    remote, local = status.remote, status.local
    if remote is not None:  # a remote server or a test fake: nothing loads in this kernel
        where = f" at {remote.endpoint}" if remote.endpoint else ""
        name = remote.model or "the server's model"
        return html.escape(f"● {name} · {status.provider} provider{where}")
    if local is None:
        return f"⚠ {html.escape(status.problem or 'no model')}"
    name = html.escape(local.path.name)
    if not local.loaded:
        if local.loading:
            return f"◌ {name} · loading…"
        return f"○ {name} · not loaded yet (loads on first Generate)"
    busy = " · <b>busy</b>" if local.busy else ""
    return (f"● {name} · loaded in {local.load_seconds or 0:.1f} s · "
            f"n_ctx {local.n_ctx} · {local.n_threads} threads{busy}")


__all__ = [
    "BUTTON_SPECS", "CURSOR", "PANEL_SETTINGS", "SLIDERS", "ButtonSpec", "PanelView",
    "SliderSpec", "markdown_output", "model_line", "problem_line", "stats_html", "status_html",
]
