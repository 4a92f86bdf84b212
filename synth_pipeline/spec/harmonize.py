"""`harmonize:` how each source's columns and values map onto the target schema."""

from __future__ import annotations

from typing import Literal

from synth_pipeline.spec.base import Frozen, Scalar


class UnitConversion(Frozen):
    """target = value * scale + offset (e.g. pounds to kilograms: scale 0.45359237)."""

    scale: float = 1.0
    offset: float = 0.0


class SourceMapping(Frozen):
    """How one source's columns become target columns. Keys of recode/units/missing name *target* columns."""

    rename: dict[str, str] = {}
    recode: dict[str, dict[Scalar, Scalar | None]] = {}
    units: dict[str, UnitConversion] = {}
    missing: dict[str, tuple[Scalar, ...]] = {}
    constants: dict[str, Scalar] = {}


class Dedupe(Frozen):
    """Drop rows that repeat on `keys`, before contribution bounding. A subset of the columns must hold
    `privacy_unit.key`, so that rows only collide within one individual; with `privacy_unit: row` only whole rows
    (`keys: null`) may be de-duplicated (the whole spec checks it: `ReleaseSpec._dedupe_problems`)."""

    keys: tuple[str, ...] | None = None  # None: all target columns
    keep: Literal["first", "last"] = "first"


class HarmonizeSpec(Frozen):
    sources: dict[str, SourceMapping] = {}
    missing_markers: tuple[str, ...] = ()
    recode: dict[str, dict[Scalar, Scalar | None]] = {}
    strip_whitespace: bool = True
    case_insensitive_categories: bool = True
    dedupe: Dedupe | None = None

    def references(self, columns: set[str], sources: set[str]) -> list[str]:
        """Problems with the schema columns and sources this section names."""
        problems = []
        for source in self.sources:
            if source not in sources:
                problems.append(f"harmonize.sources.{source}: no source named {source!r} in sources")
        for source, mapping in self.sources.items():
            for section in ("recode", "units", "missing", "constants"):
                for column in getattr(mapping, section):
                    if column not in columns:
                        problems.append(f"harmonize.sources.{source}.{section}.{column}: not a schema column")
            for target in mapping.rename.values():
                if target not in columns:
                    problems.append(f"harmonize.sources.{source}.rename: target {target!r} is not a schema column")
        for column in self.recode:
            if column not in columns:
                problems.append(f"harmonize.recode.{column}: not a schema column")
        if self.dedupe and self.dedupe.keys:
            for key in self.dedupe.keys:
                if key not in columns:
                    problems.append(f"harmonize.dedupe.keys: {key!r} is not a schema column")
        return problems
