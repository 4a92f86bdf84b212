"""`pii:` how each column holding personal data is handled, and how the Presidio scan is configured.

A column the block does not mention is declared free of PII: the scan stops the run if it finds any there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import Frozen

PiiClass = Literal["direct_identifier", "quasi_identifier", "sensitive", "free_text", "none"]
PiiAction = Literal["drop", "pseudonymize", "generalize", "redact", "keep"]


class KeySource(Frozen):
    """Where the pseudonymization key is read from: never the key itself."""

    env: str | None = None
    conn_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> KeySource:
        if (self.env is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'env' or 'conn_id'")
        return self


class Generalization(Frozen):
    to: Literal["year", "month"] | None = None  # dates
    zip_prefix: int | None = Field(None, ge=1, le=5)  # ZIP codes to their first digits
    bands: tuple[float, ...] | None = Field(None, min_length=2)  # numbers to bands [b0, b1), [b1, b2), ...

    @model_validator(mode="after")
    def _exactly_one(self) -> Generalization:
        if sum(x is not None for x in (self.to, self.zip_prefix, self.bands)) != 1:
            raise ValueError("give exactly one of 'to', 'zip_prefix' or 'bands'")
        if self.bands is not None and list(self.bands) != sorted(set(self.bands)):
            raise ValueError("bands must be strictly increasing")
        return self


class PiiColumn(Frozen):
    class_: PiiClass = Field(alias="class")
    action: PiiAction
    generalize: Generalization | None = None

    @model_validator(mode="after")
    def _generalize_needs_rule(self) -> PiiColumn:
        if (self.action == "generalize") != (self.generalize is not None):
            raise ValueError("action 'generalize' needs a 'generalize' rule, and only it takes one")
        return self


class PatternSpec(Frozen):
    name: str
    regex: str
    score: float = Field(0.6, gt=0, le=1)


class RecognizerSpec(Frozen):
    """A custom Presidio pattern recognizer (e.g. a hospital's medical record number)."""

    name: str
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    patterns: tuple[PatternSpec, ...] = Field(min_length=1)
    context: tuple[str, ...] = ()


class PiiSpec(Frozen):
    columns: dict[str, PiiColumn] = {}
    phone_regions: tuple[str, ...] = ("US",)
    sample_size: int = Field(300, gt=0)
    recognizers: tuple[RecognizerSpec, ...] = ()
    recognizers_file: str | None = None  # YAML with a list of recognizers, relative to the project root
    key: KeySource | None = None

    @model_validator(mode="after")
    def _key_when_pseudonymizing(self) -> PiiSpec:
        if any(c.action == "pseudonymize" for c in self.columns.values()) and self.key is None:
            raise ValueError("a column is pseudonymized: name where its key comes from in pii.key (env or conn_id)")
        return self
