"""The ``%config QwenMagics`` traits of every option with the ``trait`` surface.

Made from :mod:`qwen_magic.options` rather than written out, so a new option becomes a trait
(name, default, help, type, range check) by its one entry. The traits live on a small
HasTraits base of :class:`~qwen_magic.notebook.magics.QwenMagics`; config loading, ``%config``
and ``%qwen config`` see inherited traits as the class's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traitlets import Bool, Enum, Float, HasTraits, Int, TraitError, TraitType, Unicode, default, validate

from ..errors import ConfigError
from ..options import GENERATION, MODEL_SETTINGS, Option, on

_TRAITS: dict[type, type[TraitType]] = {bool: Bool, int: Int, float: Float, str: Unicode}


def make_trait(spec: Option) -> TraitType:
    """The trait of one option: its type (an Enum for choices), default and help."""
    common: dict[str, Any] = {"allow_none": spec.nullable, "help": spec.describe("trait")}
    if spec.choices:
        trait: TraitType = Enum(list(spec.choices), spec.default_value(), **common)
    elif spec.type in _TRAITS and not spec.repeatable:
        trait = _TRAITS[spec.type](spec.default_value(), **common)
    else:
        raise TypeError(f"option {spec.name!r} cannot be a trait (type {spec.type.__name__})")
    return trait.tag(config=True)


def option_traits(specs: Iterable[Option] | None = None) -> type[HasTraits]:
    """A HasTraits class with one trait per option (default: every ``trait`` option).

    Generation settings and the front ends' own are checked as they are set, with the
    ConfigError's own message; the model settings (n_ctx, n_threads) are checked when a cell
    uses them, by the ModelConfig that loads the model, as before (tests/reliability pin that
    order). An option with an ``environment`` default reads it when the trait is first read.
    """
    specs = tuple(on("trait") if specs is None else specs)
    by_name = {spec.name: spec for spec in specs}
    generation = {spec.name for spec in GENERATION}
    model = {spec.name for spec in MODEL_SETTINGS}
    # Text settings of the front ends (a path, a URL) are checked where they are used.
    checked = [name for name, spec in by_name.items()
               if name in generation or (name not in model and spec.type is not str)]

    def check(self: HasTraits, proposal: Any) -> Any:
        try:
            return by_name[proposal["trait"].name].check(proposal["value"])
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    namespace: dict[str, Any] = {name: make_trait(spec) for name, spec in by_name.items()}
    namespace["_check_option"] = validate(*checked)(check)
    for spec in specs:
        if spec.environment is not None:
            namespace[f"_default_{spec.name}"] = default(spec.name)(_from_environment(spec))
    return type("OptionTraits", (HasTraits,), namespace)


def _from_environment(spec: Option) -> Any:
    read = spec.environment
    assert read is not None

    def initial(self: HasTraits) -> Any:
        return read()

    return initial


__all__ = ["make_trait", "option_traits"]
