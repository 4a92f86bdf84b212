"""Encoding on the PUBLIC domain: every column becomes small integer codes, from the spec's schema alone.

Bounds, categories and nullability come from `schema:` (public knowledge the data owner declares), never from the
data: a category list, min/max or bin edges fitted on private rows would leak outside the accountant. A value the
domain does not cover is handled as its column declares (clipped, nulled, mapped) or refused, and never widens the
domain; a refusal names the column and the rule it broke, never a value or how many rows broke it. Columns without
a declared domain (free text, `estimate_bounds`, no `categories`) are refused here; the DP estimation step turns them
into declared columns first.

Codes per column: categorical and boolean levels in declared order; a numeric column's declared `values` one code
each; its declared `atoms` one code each, ahead of its bins; integers with at most `numeric_bins` values one code per
value; wider integers, floats and datetimes `numeric_bins` equal-width bins on the declared bounds, or the owner's
declared `bin_edges`. A nullable column has one more code, the last, for null. Values and atoms decode exactly; a bin
decodes to a value drawn uniformly inside it (never an atom), so every value decodes into its own code and nulls
stay null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from synth_pipeline.errors import DomainError, PrivacyConfigError
from synth_pipeline.spec.schema import (
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    MapTo,
    NumericColumn,
    StringColumn,
)

# A generator models every level of a column in its marginals and output layers: beyond this many, the noise per
# level swamps the signal and the model grows without bound. Group rare levels in harmonize instead.
DEFAULT_MAX_LEVELS = 1000
_SECONDS_PER_DAY = 86_400
# A value is a declared value or atom when it is this close to it (relative; absolute below 1): the value 0.2 read
# from a CSV and 0.2 from YAML are the same float, but 0.1 + 0.1 after arithmetic in harmonize is not.
POINT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ColumnCodec:
    """One column's public encoding.

    kind "levels": codes index `levels` (categorical, or boolean with levels ("False", "True")).
    kind "ordinal": integers (datetimes as whole days or seconds since the epoch); bin k holds the integers in
        [edges[k], edges[k+1]) and the last edge is max + 1.
    kind "float": bin k is [edges[k], edges[k+1]), the last bin closed at max.
    kind "values": codes index `atoms`, the declared values; there are no bins.
    `atoms` of an "ordinal" or "float" column take the first codes, exactly; bin k is then code len(atoms) + k.
    """

    name: str
    dtype: str  # integer | float | categorical | boolean | datetime
    kind: str
    nullable: bool
    out_of_domain: str  # reject | clip | null | map
    levels: tuple[str, ...] = ()
    map_to: str | None = None
    edges: tuple[float, ...] = ()
    datetime_unit: str | None = None  # "D" or "s" for datetime columns
    atoms: tuple[float, ...] = ()

    @property
    def bins(self) -> int:
        return max(len(self.edges) - 1, 0)

    @property
    def value_codes(self) -> int:
        return len(self.levels) if self.kind == "levels" else len(self.atoms) + self.bins

    @property
    def size(self) -> int:
        return self.value_codes + int(self.nullable)

    @property
    def null_code(self) -> int | None:
        return self.value_codes if self.nullable else None

    def describe(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "kind": self.kind, "nullable": self.nullable,
                "out_of_domain": self.out_of_domain, "levels": list(self.levels), "map_to": self.map_to,
                "edges": list(self.edges), "datetime_unit": self.datetime_unit, "atoms": list(self.atoms)}


def _integer_edges(name: str, low: int, high: int, numeric_bins: int, declared: tuple[float, ...] | None) -> tuple[float, ...]:
    if declared is not None:
        edges = [math.ceil(e) for e in declared[:-1]] + [high + 1]
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise PrivacyConfigError(f"schema.{name}: bin_edges leave a bin with no integer in it")
        return tuple(float(e) for e in edges)
    values = high - low + 1
    width = 1 if values <= numeric_bins else math.ceil(values / numeric_bins)
    return tuple(float(e) for e in range(low, high + 1, width)) + (float(high + 1),)


def _numeric_codec(name: str, spec: NumericColumn, numeric_bins: int) -> ColumnCodec:
    common = {"name": name, "dtype": spec.type, "nullable": spec.nullable, "out_of_domain": spec.out_of_domain}
    if spec.values is not None:
        return ColumnCodec(kind="values", atoms=tuple(float(v) for v in spec.values), **common)
    common["atoms"] = tuple(float(a) for a in spec.atoms or ())
    if spec.type == "integer":
        low, high = math.ceil(spec.min), math.floor(spec.max)
        if low > high:
            raise PrivacyConfigError(f"schema.{name}: no integer lies between min ({spec.min}) and max ({spec.max})")
        return ColumnCodec(kind="ordinal", edges=_integer_edges(name, low, high, numeric_bins, spec.bin_edges), **common)
    if spec.bin_edges is not None:
        edges = tuple(float(e) for e in spec.bin_edges)
    elif spec.min == spec.max:
        edges = (spec.min, spec.max)
    else:
        edges = tuple(float(e) for e in np.linspace(spec.min, spec.max, numeric_bins + 1))
    return ColumnCodec(kind="float", edges=edges, **common)


def _datetime_codec(name: str, spec: DatetimeColumn, numeric_bins: int) -> ColumnCodec:
    # Bounds given as plain dates mean a date column: code whole days, so decoded values stay on midnight.
    date_only = all(len(bound) == 10 for bound in (spec.min, spec.max))
    unit, scale = ("D", _SECONDS_PER_DAY) if date_only else ("s", 1)
    low, high = (int(pd.Timestamp(datetime.fromisoformat(b)).timestamp()) // scale for b in (spec.min, spec.max))
    return ColumnCodec(name=name, dtype="datetime", kind="ordinal", nullable=spec.nullable,
                       out_of_domain=spec.out_of_domain, edges=_integer_edges(name, low, high, numeric_bins, None),
                       datetime_unit=unit)


def _column_codec(name: str, spec: ColumnSpec, numeric_bins: int, max_levels: int) -> ColumnCodec:
    if isinstance(spec, StringColumn):
        raise PrivacyConfigError(f"schema.{name}: a string column has no public domain and cannot be modelled; "
                                 "the PII stage must drop, pseudonymize or redact it before training")
    if spec.needs_estimation:
        raise PrivacyConfigError(f"schema.{name}: its domain must be estimated under DP before encoding "
                                 "(run the domain estimation first; it returns declared columns)")
    if isinstance(spec, NumericColumn):
        codec = _numeric_codec(name, spec, numeric_bins)
    elif isinstance(spec, DatetimeColumn):
        codec = _datetime_codec(name, spec, numeric_bins)
    elif isinstance(spec, BooleanColumn):
        codec = ColumnCodec(name=name, dtype="boolean", kind="levels", nullable=spec.nullable,
                            out_of_domain=spec.out_of_domain, levels=("False", "True"))
    elif isinstance(spec, CategoricalColumn):
        mapped = isinstance(spec.out_of_domain, MapTo)
        codec = ColumnCodec(name=name, dtype="categorical", kind="levels", nullable=spec.nullable,
                            out_of_domain="map" if mapped else spec.out_of_domain, levels=tuple(spec.categories),
                            map_to=spec.out_of_domain.map_to if mapped else None)
    else:  # pragma: no cover - the schema union is closed
        raise PrivacyConfigError(f"schema.{name}: unsupported column type")
    if codec.value_codes > max_levels:
        raise PrivacyConfigError(f"schema.{name}: {codec.value_codes} levels, more than the limit of {max_levels} a "
                                 "generator can model; group rare levels in harmonize or declare fewer bins")
    return codec


@dataclass(frozen=True)
class Domain:
    """The public domain of a table, column by column, in schema order."""

    columns: tuple[ColumnCodec, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(codec.name for codec in self.columns)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(codec.size for codec in self.columns)

    def describe(self) -> list[dict]:
        """A JSON form, stored with a model so that loading can check it was trained on this very domain."""
        return [codec.describe() for codec in self.columns]

    @classmethod
    def from_description(cls, description: list[dict]) -> Domain:
        """The inverse of `describe` (reading a saved model); refuses a description that is not a domain."""
        codecs = []
        for item in description:
            codec = ColumnCodec(name=str(item["name"]), dtype=str(item["dtype"]), kind=str(item["kind"]),
                                nullable=bool(item["nullable"]), out_of_domain=str(item["out_of_domain"]),
                                levels=tuple(str(v) for v in item["levels"]), map_to=item["map_to"],
                                edges=tuple(float(e) for e in item["edges"]), datetime_unit=item["datetime_unit"],
                                atoms=tuple(float(a) for a in item.get("atoms", ())))  # older models had none
            # A float column declared with min == max is one closed bin [min, min]; every other bin is non-empty.
            ordered = all(b > a or (codec.kind == "float" and len(codec.edges) == 2 and b == a)
                          for a, b in zip(codec.edges, codec.edges[1:]))
            ordered &= all(b > a for a, b in zip(codec.atoms, codec.atoms[1:]))
            binned = codec.kind in ("ordinal", "float") and len(codec.edges) >= 2
            if not (codec.kind == "levels" or binned or (codec.kind == "values" and not codec.edges)) \
                    or codec.value_codes < 1 or not ordered:
                raise ValueError(f"column {codec.name!r}: not a valid encoding")
            codecs.append(codec)
        return cls(tuple(codecs))

    def encode(self, table: pd.DataFrame) -> np.ndarray:
        """Integer codes, shape (rows, columns). Columns of `table` the domain does not name are ignored."""
        missing = [name for name in self.names if name not in table.columns]
        if missing:
            raise DomainError(f"the table lacks domain columns {missing}")
        if not self.columns:
            return np.zeros((len(table), 0), dtype=np.int64)
        return np.stack([_encode_column(codec, table[codec.name]) for codec in self.columns], axis=1)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """A table in the target schema's dtypes; declared values and atoms exact, others drawn inside their bins."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.columns):
            raise DomainError("codes must be a table with one column per domain column")
        return pd.DataFrame({codec.name: _decode_column(codec, codes[:, j], rng)
                             for j, codec in enumerate(self.columns)})


def build_domain(schema: Mapping[str, ColumnSpec], *, numeric_bins: int,
                 max_levels: int = DEFAULT_MAX_LEVELS) -> Domain:
    """The public domain of `schema` (read from the spec only). `numeric_bins` is the generator's bin count for
    numeric and datetime columns without declared `bin_edges`."""
    if numeric_bins < 1:
        raise PrivacyConfigError(f"numeric_bins must be at least 1, got {numeric_bins}")
    return Domain(tuple(_column_codec(name, spec, numeric_bins, max_levels) for name, spec in schema.items()))


def _refuse(codec: ColumnCodec, rule: str) -> DomainError:
    # The column and the rule only: a count of offending rows is a statistic of private data, and the task log
    # that shows this message is no place for one.
    return DomainError(f"column {codec.name!r}: {rule}; the domain is declared in the spec and is not widened to fit "
                       "the data (fix harmonize or the schema)")


def _apply_policy(codec: ColumnCodec, codes: np.ndarray, outside: np.ndarray, clipped: np.ndarray | None) -> np.ndarray:
    if not outside.any():
        return codes
    if codec.out_of_domain == "clip" and clipped is not None:
        return np.where(outside, clipped, codes)
    if codec.out_of_domain == "map":
        return np.where(outside, codec.levels.index(codec.map_to), codes)
    if codec.out_of_domain == "null" and codec.nullable:
        return np.where(outside, codec.null_code, codes)
    raise _refuse(codec, f"values outside the declared domain, and its out_of_domain policy is {codec.out_of_domain}")


def _ordinal_values(codec: ColumnCodec, series: pd.Series) -> np.ndarray:
    if codec.dtype == "datetime":
        stamps = pd.to_datetime(series).astype("datetime64[s]")
        seconds = stamps.to_numpy(dtype="datetime64[s]").astype(np.int64).astype(np.float64)
        return np.floor(seconds / (_SECONDS_PER_DAY if codec.datetime_unit == "D" else 1))
    return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)


def _encode_column(codec: ColumnCodec, series: pd.Series) -> np.ndarray:
    null = series.isna().to_numpy()
    if null.any() and not codec.nullable and codec.out_of_domain != "map":
        raise _refuse(codec, "nulls in a column that is not nullable")
    codes = np.zeros(len(series), dtype=np.int64)
    if codec.kind == "levels":
        text = series.astype("string") if codec.dtype != "boolean" else series.astype("boolean").astype("string")
        lookup = {level: k for k, level in enumerate(codec.levels)}
        mapped = text.map(lookup).to_numpy(dtype=np.float64, na_value=np.nan)
        outside = ~null & np.isnan(mapped)
        codes[~np.isnan(mapped)] = mapped[~np.isnan(mapped)].astype(np.int64)
        codes = _apply_policy(codec, codes, outside, None)
        if codec.out_of_domain == "map" and not codec.nullable:
            codes = np.where(null, codec.levels.index(codec.map_to), codes)
    elif codec.kind == "values":
        values = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
        nearest, exact = nearest_points(np.where(null, codec.atoms[0], values), codec.atoms)
        codes = _apply_policy(codec, nearest, ~null & ~exact, nearest)
    else:
        values = _ordinal_values(codec, series) if codec.kind == "ordinal" else pd.to_numeric(series).to_numpy(
            dtype=np.float64, na_value=np.nan)
        edges = np.asarray(codec.edges)
        low, high = edges[0], (edges[-1] - 1 if codec.kind == "ordinal" else edges[-1])
        safe = np.where(null, low, values)
        outside = ~null & ((safe < low) | (safe > high))
        inner = np.clip(np.searchsorted(edges, np.clip(safe, low, high), side="right") - 1, 0, codec.bins - 1)
        inner = inner.astype(np.int64) + len(codec.atoms)
        if codec.atoms:
            atom, exact = nearest_points(safe, codec.atoms)
            inner = np.where(exact & ~outside, atom, inner)
        codes = _apply_policy(codec, inner, outside, inner)
    if codec.nullable:
        codes = np.where(null, codec.null_code, codes)
    return codes


def _decode_column(codec: ColumnCodec, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
    if codes.size and (codes.min() < 0 or codes.max() >= codec.size):
        raise DomainError(f"column {codec.name!r}: codes outside the column's domain")
    null = codes == codec.null_code if codec.nullable else np.zeros(len(codes), dtype=bool)
    values = np.where(null, 0, codes)
    if codec.kind == "levels":
        if codec.dtype == "boolean":
            result = pd.array(values == 1, dtype="boolean")
            result[null] = pd.NA
            return pd.Series(result)
        return pd.Series(pd.Categorical.from_codes(np.where(null, -1, values), categories=list(codec.levels)))
    atoms = np.asarray(codec.atoms, dtype=np.float64)
    is_atom = values < len(atoms)
    if codec.kind == "values":
        return _numeric_series(codec, atoms[values], null)
    edges = np.asarray(codec.edges)
    bins = np.where(is_atom, 0, values - len(atoms))
    low, high = edges[bins], edges[bins + 1]
    if codec.kind == "float":  # a uniform draw hits an atom with probability 0
        drawn = low + rng.random(len(values)) * (high - low)
        if atoms.size:
            drawn = np.where(is_atom, atoms[np.where(is_atom, values, 0)], drawn)
        return _numeric_series(codec, drawn, null)
    drawn = _integers_between(low.astype(np.int64), high.astype(np.int64), atoms, rng)
    if atoms.size:
        drawn = np.where(is_atom, atoms[np.where(is_atom, values, 0)].astype(np.int64), drawn)
    if codec.dtype == "datetime":
        scale = _SECONDS_PER_DAY if codec.datetime_unit == "D" else 1
        stamps = pd.Series((drawn * scale).astype("datetime64[s]")).astype("datetime64[us]")
        return stamps.mask(pd.Series(null))
    return _numeric_series(codec, drawn, null)


def _numeric_series(codec: ColumnCodec, values: np.ndarray, null: np.ndarray) -> pd.Series:
    integer = codec.dtype == "integer"
    result = pd.array(values.astype(np.int64) if integer else values, dtype="Int64" if integer else "Float64")
    result[null] = pd.NA
    return pd.Series(result)


def _integers_between(low: np.ndarray, high: np.ndarray, atoms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One integer drawn uniformly from [low, high) per row, skipping the atoms (they have codes of their own).

    Draw the r-th of the bin's non-atom integers, then step over each atom at or below it in increasing order. A bin
    holding atoms only (no row encodes to it; a generator's noise still may) decodes to its first integer."""
    whole = atoms[atoms == np.floor(atoms)]
    inside = ((whole[None, :] >= low[:, None]) & (whole[None, :] < high[:, None])).sum(axis=1) if whole.size else 0
    free = high - low - inside
    drawn = low + np.floor(rng.random(len(low)) * np.maximum(free, 1)).astype(np.int64)
    for atom in whole:  # ascending: each step can only push the draw past later atoms, never earlier ones
        drawn += (drawn >= atom) & (atom >= low) & (atom < high)
    return np.where(free > 0, drawn, low)


def nearest_points(values: np.ndarray, points: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per value, the index of the nearest of the sorted `points`, and whether it is that point (POINT_TOLERANCE).
    NaN values get index 0 and are not a point."""
    grid = np.asarray(points, dtype=np.float64)
    right = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
    left = np.clip(right - 1, 0, len(grid) - 1)
    nearest = np.where(np.abs(values - grid[left]) <= np.abs(values - grid[right]), left, right)
    nearest = np.where(np.isnan(values), 0, nearest)
    exact = np.abs(values - grid[nearest]) <= POINT_TOLERANCE * np.maximum(1.0, np.abs(grid[nearest]))
    return nearest.astype(np.int64), exact
