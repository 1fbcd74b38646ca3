"""Checks of the recipe overrides (``hgn train --set KEY=VALUE``): type and range, before any run folder exists."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """What a recipe setting accepts: ``kind`` int, float, bool or str; ``low``/``high`` bounds (``low`` excluded when
    ``strict``); ``choices``: the values a str setting takes; ``optional``: None is allowed; ``why``: the reason for
    a bound, shown in the error."""

    kind: type
    low: float | None = None
    high: float | None = None
    strict: bool = False
    optional: bool = False
    why: str = ""
    choices: tuple[str, ...] = ()


#: One rule per overridable setting of :class:`hgnlib.profiles.Recipe`.
RULES: dict[str, Rule] = {
    "epochs": Rule(int, 1, why="a run trains at least one epoch"),
    "lr": Rule(float, 0, strict=True),
    "lr_decay": Rule(float, 0, 1, strict=True, why="a factor of the learning rate"),
    "decay_every": Rule(float, 0, strict=True),
    "batch_size": Rule(int, 8, 65536, why="batch norm needs several samples per batch; the paper uses 64"),
    "max_norm": Rule(float, 0, strict=True),
    "train_limit": Rule(int, 8, optional=True),
    "output_init_scale": Rule(float, 0, strict=True),
    "evals_per_epoch": Rule(int, 1, 1000),
    "val_samples": Rule(int, 1, optional=True),
    "prediction_samples": Rule(int, 1),
    "init": Rule(str, choices=("paper", "release"), why="the paper's reading or the released code's"),
    "loss": Rule(str, choices=("paper", "release"), why="Eq. 4 summed, or the released code's mean squared error"),
    "loss_scale": Rule(float, 0, strict=True),
    "amp": Rule(bool),
    "compile": Rule(bool),
}


def _kind_ok(kind: type, value: Any) -> bool:
    if kind is str:
        return isinstance(value, str)
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_override(key: str, value: Any) -> None:
    """Raise ValueError (one line: the setting, the value, what it accepts, the fix) unless ``value`` fits."""
    rule = RULES[key]
    if value is None and rule.optional:
        return
    if rule.kind is str and _kind_ok(str, value):
        if value in rule.choices:
            return
    elif _kind_ok(rule.kind, value):
        below = rule.low is not None and (value < rule.low or (rule.strict and value == rule.low))
        if not (below or (rule.high is not None and value > rule.high)):
            return
    names = {int: "an integer", float: "a finite number", bool: "true or false",
             str: "one of " + ", ".join(rule.choices)}
    low = "" if rule.low is None else (f"> {rule.low:g}" if rule.strict else f">= {rule.low:g}")
    high = "" if rule.high is None else f"<= {rule.high:g}"
    bounds = " and ".join(b for b in (low, high) if b)
    expected = (names[rule.kind] + (f" {bounds}" if bounds else "") + (" (or null)" if rule.optional else "")
                + (f" ({rule.why})" if rule.why else ""))
    raise ValueError(f"recipe setting {key}={value!r} is invalid: expected {expected}; "
                     f"fix: pass e.g. --set {key}={_example(key)}")


def _example(key: str) -> str:
    from ..profiles import PAPER_RECIPE

    value = getattr(PAPER_RECIPE, key)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else f"{value}"
