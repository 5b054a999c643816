"""The ``%config QwenMagics`` traits of every option with the ``trait`` surface.

Made from :mod:`qwen_magic.options` rather than written out, so a new option becomes a trait
(name, default, help, type, range check) by its one entry. The traits live on a small
HasTraits base of :class:`~qwen_magic.notebook.magics.QwenMagics`; config loading, ``%config``
and ``%qwen config`` see inherited traits as the class's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traitlets import Bool, Enum, Float, HasTraits, Int, TraitError, TraitType, Unicode, validate

from ..errors import ConfigError
from ..options import GENERATION, Option, on

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

    Generation settings are checked as they are set, with the ConfigError's own message; the
    model settings (n_ctx, n_threads) are checked when a cell uses them, by the ModelConfig
    that loads the model, as before (tests/reliability pin that order).
    """
    specs = tuple(on("trait") if specs is None else specs)
    by_name = {spec.name: spec for spec in specs}
    generation = {spec.name for spec in GENERATION}
    checked = [name for name in by_name if name in generation]

    def check(self: HasTraits, proposal: Any) -> Any:
        try:
            return by_name[proposal["trait"].name].check(proposal["value"])
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    namespace: dict[str, Any] = {name: make_trait(spec) for name, spec in by_name.items()}
    namespace["_check_option"] = validate(*checked)(check)
    return type("OptionTraits", (HasTraits,), namespace)


__all__ = ["make_trait", "option_traits"]
