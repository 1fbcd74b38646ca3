"""Where the authors' released code differs from the paper, and one switch that selects the released behaviour.

:data:`RELEASE_DIFFERENCES` is the one table of the differences (rendered by :func:`differences_table`); each row
names the setting that selects it, which is also settable alone (an :class:`ExperimentConfig` field or a recipe
override, ``hgn train --set``). :func:`variant_settings` gives the settings of a variant ('paper': none, except that
recipe settings in which the profile takes the released choice are set back to the paper's; 'release': every row that
applies to the model and profile), :func:`apply_variant` a configuration with them.

The frame strides and epochs of the release belong to its full-length training; they are applied on the profiles
that use the paper's recipe (``full``, ``paper``), not on the short ``smoke`` / ``quick`` recipes, whose data and
step budgets are fixed for speed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..models.registry import get_config
from ..profiles import PAPER_RECIPE, get_profile
from .config import ExperimentConfig

VARIANTS = ("paper", "release")
#: Profiles whose recipe is the paper's, where the release's strides and epochs apply.
FULL_LENGTH_PROFILES = ("full", "paper")
#: Model kinds with fusion stages (where the fusion ordering means something).
FUSION_KINDS = ("hgn", "hgn_wo_mesh_c", "hgn_wo_mesh_c1")


@dataclass(frozen=True)
class Difference:
    """One behaviour: the paper's, the release's, and the setting (``where``: 'config' field or 'recipe')."""

    item: str
    paper: str
    release: str
    setting: str
    value: Any
    where: str


RELEASE_DIFFERENCES: tuple[Difference, ...] = (
    Difference("fusion order", "Eq. 3: every target reads the unfused branch features",
               "in place: a later target of a stage reads branches already fused", "fusion", "inplace", "config"),
    Difference("loss form", "Eq. 4: joint L2 + lambda_M * vertex L2, summed over joints / vertices (lambda_M = 0.01)",
               "MSE per output: mean over joints / vertices and coordinates (lambda_M = 0.01 is then about "
               "0.002-0.004 in Eq. 4 units)", "loss", "release", "recipe"),
    Difference("loss scale", "1", "x100 on every term (joints x100, each coarse mesh x1 at lambda_M = 0.01)",
               "loss_scale", 100.0, "recipe"),
    Difference("initialisation", "Xavier (gain 1.414) per SemGConv matrix; fusion maps Xavier",
               "Xavier (gain 1.414) on the stacked (2, Cin, Cout) tensor (8x smaller bound at 128 channels); "
               "fusion maps with the Conv1d default", "init", "release", "recipe"),
    Difference("heavy edge matching", "graclus weights W_ij (1/d_i + 1/d_j), ascending degree (stable)",
               "(2 W_ij + W_ii + W_jj) / (d_i + d_j), first stored entry as W_ii, unstable argsort, row quirks",
               "hem", "release", "config"),
    Difference("padding", "fake nodes inert (real nodes compute as on the plain graph)",
               "fake nodes active: uniform SemGConv rows, counted by batch norm, non-local and fusion",
               "padding", "release", "config"),
    Difference("training frames", "every frame (train and test)", "every 5th training frame",
               "train_stride", 5, "config"),
    Difference("test frames", "every frame (Protocol #1)", "every 50th test frame", "test_stride", 50, "config"),
    Difference("epochs", "100", "150", "epochs", 150, "recipe"),
)


def variant_settings(variant: str, model: str, profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config fields, recipe overrides)`` of ``variant`` for ``model`` on ``profile`` (see the module doc).

    The mesh settings (matching, padding with ``padded=True``) apply to models with mesh graphs, fusion to HGN
    models only.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    fields: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    if variant == "paper":
        # a profile whose recipe takes a released choice (e.g. 'standard') is set back to the paper's reading
        recipe = get_profile(profile).recipe
        return fields, {d.setting: getattr(PAPER_RECIPE, d.setting) for d in RELEASE_DIFFERENCES
                        if d.where == "recipe" and d.setting != "epochs"
                        and getattr(recipe, d.setting) != getattr(PAPER_RECIPE, d.setting)}
    full_length = profile in FULL_LENGTH_PROFILES
    meshes = any(g != "skeleton" for g in get_config(model).graphs)
    for diff in RELEASE_DIFFERENCES:
        if diff.setting == "fusion" and get_config(model).kind not in FUSION_KINDS:
            continue
        if diff.setting in ("hem", "padding") and not meshes:
            continue
        if diff.setting in ("train_stride", "test_stride", "epochs") and not full_length:
            continue
        (fields if diff.where == "config" else overrides)[diff.setting] = diff.value
    if meshes:
        fields["padded"] = True
    return fields, overrides


def apply_variant(config: ExperimentConfig, variant: str) -> ExperimentConfig:
    """``config`` with the settings of ``variant`` (its recipe overrides merged over the existing ones)."""
    fields, overrides = variant_settings(variant, config.model, config.profile)
    merged = {**dict(config.overrides), **overrides}
    return replace(config, **fields, overrides=tuple(merged.items()))


def differences_table() -> str:
    """The differences as a Markdown table (item, paper, release, setting)."""
    rows = ["| item | paper | released code | setting |", "|---|---|---|---|"]
    for d in RELEASE_DIFFERENCES:
        where = f"`{d.setting}={d.value}`" + (" (recipe, `--set`)" if d.where == "recipe" else "")
        rows.append(f"| {d.item} | {d.paper} | {d.release} | {where} |")
    return "\n".join(rows)
