"""The panel's widgets and the HTML it shows: what a person sees, none of what it does.

The controls come from the option registry (:mod:`qwen_magic.options`): every option with
the ``panel`` surface is one, its kind given by the option's ``widget`` — a slider (the
:data:`SLIDERS` table), an optional integer (a "fixed <label>" checkbox and a number box), a
text (a collapsed section) or a switch (a checkbox) — so a new option reaches the panel by its
one entry. Labels, descriptions and CSS classes are what the browser tests (tests/e2e) select
on: change them only together with those tests.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import ipywidgets as widgets

from ..errors import QwenMagicError
from ..options import GENERATION, GenerationConfig, Option, on
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


def _slider_spec(option: Option) -> SliderSpec:
    low, high = option.widget_range or (option.low, option.high)
    assert low is not None and high is not None  # a number option has a range (Option checks)
    kind: Literal["float", "int"] = "int" if option.type is int else "float"
    return SliderSpec(option.name, kind, low, high, option.step or 1, option.label, option.grows)


#: The panel's options, in registry order.
PANEL_OPTIONS: tuple[Option, ...] = on("panel", GENERATION)
SLIDERS: tuple[SliderSpec, ...] = tuple(
    _slider_spec(option) for option in PANEL_OPTIONS if option.widget == "slider")

#: Generation settings the panel edits and "Use as defaults" writes to the %%qwen defaults.
PANEL_SETTINGS: tuple[str, ...] = tuple(option.name for option in PANEL_OPTIONS)

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


def _optional_int(option: Option, value: int | None) -> tuple[Any, Any]:
    """A "fixed <label>" checkbox and the number box it enables (unchecked: None)."""
    toggle = widgets.Checkbox(value=value is not None, description=f"fixed {option.label}",
                              indent=False, layout=widgets.Layout(width="8em"))
    box = widgets.BoundedIntText(value=value or 0, min=option.low, max=option.high,
                                 disabled=value is None, layout=widgets.Layout(width="10em"))

    def follow(change: dict[str, Any]) -> None:
        box.disabled = not change["new"]

    toggle.observe(follow, "value")
    return toggle, box


def _text_section(option: Option, value: str | None) -> tuple[Any, Any]:
    """A text box in a section that starts collapsed: most people never open it."""
    text = widgets.Textarea(value=value or "", layout=widgets.Layout(width="100%", height="6em"))
    section = widgets.Accordion([text], selected_index=None, layout=widgets.Layout(width="100%"))
    section.set_title(0, option.label[:1].upper() + option.label[1:])
    return text, section


class PanelView:
    """Every widget of the panel, laid out in :attr:`children`; the handlers are the panel's.

    The only behaviour here is a number box following its "fixed" checkbox: it is about what
    can be typed, not about generating.
    """

    def __init__(self, prompt: str, start: GenerationConfig) -> None:
        self.prompt = widgets.Textarea(
            value=prompt, layout=widgets.Layout(width="100%", height="5em"),
            placeholder="Describe the code you want, e.g. a function that parses ISO dates",
        )
        #: The widget holding each panel option's value, by option name.
        self.controls: dict[str, Any] = {}
        self.toggles: dict[str, Any] = {}  # an optional number's "fixed" checkbox
        self.sections: dict[str, Any] = {}  # a text's collapsible section
        self.switches: dict[str, Any] = {}  # a yes/no option's checkbox
        sliders = {spec.name: spec for spec in SLIDERS}
        for option in PANEL_OPTIONS:
            value = getattr(start, option.name)
            if option.widget == "slider":
                self.controls[option.name] = _slider(sliders[option.name], value)
            elif option.widget == "optional_int":
                self.toggles[option.name], self.controls[option.name] = _optional_int(option, value)
            elif option.widget == "checkbox":
                self.switches[option.name] = self.controls[option.name] = widgets.Checkbox(
                    value=bool(value), description=option.label, indent=False,
                    layout=widgets.Layout(width="20em"))
            else:
                self.controls[option.name], self.sections[option.name] = _text_section(option, value)
        self.sliders: dict[str, Any] = {name: self.controls[name] for name in sliders}

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
            widgets.HTML("<b>Qwen panel</b>"), self.model_status, self.prompt,
            *self.sections.values(), self._settings_box(),
            widgets.HBox(list(self.buttons.values())), self.status, self.output, self.stats,
            self.script,
        )

    def _settings_box(self) -> widgets.VBox:
        """Two sliders a row; the optional numbers' checkbox and box end the last row."""
        sliders = list(self.sliders.values())
        rows = [sliders[i:i + 2] for i in range(0, len(sliders), 2)]
        for name, toggle in self.toggles.items():
            rows[-1] += [toggle, self.controls[name]]
        if self.switches:
            rows.append(list(self.switches.values()))
        return widgets.VBox([widgets.HBox(row) for row in rows])

    def named(self) -> dict[str, Any]:
        """The controls by the panel attribute that holds them: ``temperature``, ``seed`` and
        ``fixed_seed``, ``system`` and ``system_box``..."""
        return {**self.controls, **{f"fixed_{name}": w for name, w in self.toggles.items()},
                **{f"{name}_box": w for name, w in self.sections.items()}}

    def settings(self) -> dict[str, Any]:
        """The controls' values by GenerationConfig field (not validated: that is the config's)."""
        values: dict[str, Any] = {
            spec.name: _CASTS[spec.kind](self.sliders[spec.name].value) for spec in SLIDERS}
        for name, toggle in self.toggles.items():
            values[name] = int(self.controls[name].value) if toggle.value else None
        for name in (*self.sections, *self.switches):
            values[name] = self.controls[name].value
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
    if status.needs_model:
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
    "BUTTON_SPECS", "CURSOR", "PANEL_OPTIONS", "PANEL_SETTINGS", "SLIDERS", "ButtonSpec", "PanelView",
    "SliderSpec", "markdown_output", "model_line", "problem_line", "stats_html", "status_html",
]
