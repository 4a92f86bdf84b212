"""`schema:` the PUBLIC domain of the target table: per column its type, bounds or categories, nullability.

Whatever a column does not declare here must be estimated under DP (and charged) or is refused: encoders read their
domain from these objects, never from the data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from synth_pipeline.spec.base import Frozen
from synth_pipeline.spec.limits import (
    MAX_ABS_BOUND,
    MAX_ATOMS,
    MAX_BIN_EDGES,
    MAX_CATEGORIES,
    MAX_ESTIMATED_BINS,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
)

# A category label (declared, or a map_to target): one level's name, not a document.
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS)]
Bound = Annotated[float, Field(ge=-MAX_ABS_BOUND, le=MAX_ABS_BOUND)]

OutOfDomain = Literal["reject", "clip", "null"]
# `categories: estimate`: the levels are estimated under DP (as when categories are left out), paid from
# privacy.estimation.
ESTIMATE = "estimate"


class MapTo(Frozen):
    map_to: Label


class ColumnBase(Frozen):
    nullable: bool = False
    description: str = Field("", max_length=MAX_TEXT_CHARS)

    @model_validator(mode="after")
    def _null_needs_nullable(self) -> ColumnBase:
        if getattr(self, "out_of_domain", None) == "null" and not self.nullable:
            raise ValueError("out_of_domain 'null' needs nullable: true")
        return self

    @property
    def needs_estimation(self) -> bool:
        """True when part of the domain must be estimated under DP before a generator may use the column."""
        return False


class NumericColumn(ColumnBase):
    """`min`/`max` are the public bounds. With `estimate_bounds: true` they are only an outer range, and the
    generator's bounds are tightened inside it with DP quantiles (charged to privacy.estimation)."""

    type: Literal["integer", "float"]
    min: Bound
    max: Bound
    out_of_domain: OutOfDomain = "reject"
    estimate_bounds: bool = False
    # Public cut points for the generators' bins, declared by the data owner for a heavy-tailed column (a capital
    # income: 0 alone, then widening bins). Strictly increasing from min to max; bin k is [edges[k], edges[k+1]),
    # the last one closed. Without them, generators use equal-width bins on [min, max].
    bin_edges: tuple[Bound, ...] | None = Field(None, min_length=2, max_length=MAX_BIN_EDGES)
    # The only values the column takes (a rating 1..5, a score 0, 0.2, ..., 1): one code each, decoded exactly,
    # instead of bins. Any other value is out of domain (`clip` moves it to the nearest declared value).
    values: tuple[Bound, ...] | None = Field(None, min_length=1, max_length=MAX_CATEGORIES)
    # Values with a point mass of their own (0 in a zero-inflated amount, a 99999 top-code): one code each, decoded
    # exactly; every other value keeps its bin. Without them a bin's values decode uniformly, and a real 0 comes
    # back as 0.004.
    atoms: tuple[Bound, ...] | None = Field(None, min_length=1, max_length=MAX_ATOMS)
    # Cut points from the data under DP instead of equal widths: this many bins between DP quantiles (1/k, ...,
    # (k-1)/k of the values other than the atoms), paid from privacy.estimation. Without bin_edges or this, the
    # generator's bins are equal-width on the (declared or DP-estimated) bounds.
    estimate_bin_edges: int | None = Field(None, ge=2, le=MAX_ESTIMATED_BINS)

    @model_validator(mode="after")
    def _ordered(self) -> NumericColumn:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        for key in ("values", "atoms"):
            points = getattr(self, key)
            if points is None:
                continue
            if list(points) != sorted(set(points)):
                raise ValueError(f"{key} must be strictly increasing")
            if points[0] < self.min or points[-1] > self.max:
                raise ValueError(f"{key} must lie between min ({self.min}) and max ({self.max})")
            if self.type == "integer" and any(point != int(point) for point in points):
                raise ValueError(f"{key} of an integer column must be whole numbers")
        if self.values is not None and (self.atoms is not None or self.bin_edges is not None or self.estimate_bounds
                                        or self.estimate_bin_edges is not None):
            raise ValueError("values list every value the column takes: they cannot go with atoms, bin_edges, "
                             "estimate_bounds or estimate_bin_edges")
        if self.estimate_bin_edges is not None and self.bin_edges is not None:
            raise ValueError("bin_edges are declared: estimate_bin_edges would replace them; keep one")
        if self.bin_edges is not None:
            if self.estimate_bounds:
                raise ValueError("bin_edges fix the bins on the declared bounds: they cannot go with estimate_bounds")
            edges = list(self.bin_edges)
            if edges != sorted(set(edges)):
                raise ValueError("bin_edges must be strictly increasing")
            if edges[0] != self.min or edges[-1] != self.max:
                raise ValueError(f"bin_edges must start at min ({self.min}) and end at max ({self.max})")
        return self

    @property
    def needs_estimation(self) -> bool:
        return self.estimate_bounds or self.estimate_bin_edges is not None


class CategoricalColumn(ColumnBase):
    """Without `categories` the level list is estimated with a thresholded DP histogram (at most
    `max_categories` levels kept; rarer levels are not released). Rows in a level that is not released then become
    null, so such a column is nullable with `out_of_domain: null` by default, and refuses anything else: rejecting
    them would fail training after the charge, exactly when someone holds a rare level, and name how many rows."""

    type: Literal["categorical"]
    categories: tuple[Label, ...] | None = Field(None, min_length=1, max_length=MAX_CATEGORIES)
    max_categories: int = Field(100, gt=0, le=MAX_CATEGORIES)
    out_of_domain: Literal["reject", "null"] | MapTo = "reject"

    @model_validator(mode="before")
    @classmethod
    def _estimated_levels_become_null(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("categories") == ESTIMATE:
            # `categories: estimate` says in so many words what leaving them out means (init writes it).
            data = {key: value for key, value in data.items() if key != "categories"}
        if not isinstance(data, dict) or data.get("categories") is not None:
            return data
        if data.get("nullable") is False:
            raise ValueError("nullable: false cannot go with categories estimated under DP (no categories declared): "
                             "rows in levels too rare to be released become null; declare the categories, or leave "
                             "nullable unset")
        return {"nullable": True, "out_of_domain": "null", **data}

    @field_validator("out_of_domain")
    @classmethod
    def _no_reject_on_estimated_levels(cls, value: object, info: ValidationInfo) -> object:
        # `categories` is validated first (field order): absent from info.data only when it is itself invalid.
        if value == "reject" and "categories" in info.data and info.data["categories"] is None:
            raise ValueError("'reject' cannot go with categories estimated under DP (no categories declared): levels "
                             "too rare to be released would fail training after the charge, and whether they do "
                             "depends on whether anyone holds one; use 'null' (the default here), or declare the "
                             "categories")
        return value

    @model_validator(mode="after")
    def _valid_categories(self) -> CategoricalColumn:
        if self.categories is not None and len(set(self.categories)) != len(self.categories):
            raise ValueError("categories contain duplicates")
        if isinstance(self.out_of_domain, MapTo):
            if self.categories is None:
                raise ValueError("out_of_domain.map_to needs declared categories")
            if self.out_of_domain.map_to not in self.categories:
                raise ValueError(f"out_of_domain.map_to {self.out_of_domain.map_to!r} is not one of the categories")
        return self

    @property
    def needs_estimation(self) -> bool:
        return self.categories is None


class BooleanColumn(ColumnBase):
    type: Literal["boolean"]
    out_of_domain: Literal["reject", "null"] = "reject"


class DatetimeColumn(ColumnBase):
    type: Literal["datetime"]
    min: str
    max: str
    out_of_domain: OutOfDomain = "reject"
    # How the sources write it (strptime, e.g. "%d/%m/%Y"); without one only ISO 8601 is read (harmonize).
    format: str | None = Field(None, min_length=2, max_length=64, pattern="%")

    @model_validator(mode="after")
    def _parsable_and_ordered(self) -> DatetimeColumn:
        try:
            low, high = datetime.fromisoformat(self.min), datetime.fromisoformat(self.max)
        except ValueError as exc:
            raise ValueError(f"min and max must be ISO dates or date-times ({exc})") from None
        if low > high:
            raise ValueError(f"min ({self.min}) is after max ({self.max})")
        return self


class StringColumn(ColumnBase):
    """Free text or identifiers: no public domain. The PII stage must drop, pseudonymize or redact it, and no
    generator models it: string columns are never part of a synthetic release."""

    type: Literal["string"]
    out_of_domain: Literal["reject"] = "reject"


ColumnSpec = Annotated[
    Union[NumericColumn, CategoricalColumn, BooleanColumn, DatetimeColumn, StringColumn],
    Field(discriminator="type"),
]
COLUMN_TYPES = ("integer", "float", "categorical", "boolean", "datetime", "string")
