"""`pii:` how each column holding personal data is handled, and how the Presidio scan is configured.

A column the block does not mention is declared free of PII: the scan stops the run if it finds any there, and
likewise in a column listed with class `none`. Which actions a class allows is checked here; whether a rule fits
its column's type (dates to years, numbers to bands) is checked against the schema in `ReleaseSpec`.

Secrets (passwords, PINs, card verification codes, security questions and answers, keys and tokens) are dropped,
always: class `secret` allows nothing else, and a column whose name says it holds a secret (`password`, `CVV2`,
`Passwort`, `mot_de_passe`, ...: `synth_pipeline.pii.names`) may not be declared with any other action, whatever
class the spec gives it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from synth_pipeline.spec.base import Frozen

PiiClass = Literal["secret", "direct_identifier", "quasi_identifier", "sensitive", "free_text", "none"]
PiiAction = Literal["drop", "pseudonymize", "generalize", "redact", "keep"]

# What each class may do. A direct identifier never reaches a generator (drop it, or keep a keyed pseudonym that
# no generator models); free text is dropped or redacted; `none` asserts there is nothing to protect.
ALLOWED_ACTIONS: dict[str, tuple[str, ...]] = {
    "secret": ("drop",),
    "direct_identifier": ("drop", "pseudonymize"),
    "free_text": ("drop", "redact"),
    "quasi_identifier": ("drop", "pseudonymize", "generalize", "keep"),
    "sensitive": ("drop", "pseudonymize", "generalize", "keep"),
    "none": ("keep", "drop"),
}


class KeySource(Frozen):
    """Where the pseudonymization key is read from (an environment variable, or an Airflow Connection's password):
    never the key itself."""

    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    conn_id: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> KeySource:
        if (self.env is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'env' or 'conn_id'")
        return self


class Generalization(Frozen):
    """One coarsening rule: `to` (dates to their year or month), `zip_prefix` (ZIP codes to their first digits,
    optionally with the public list of prefixes; others become null), or `bands` (numbers to [b0, b1), ...,
    [b(n-1), bn], labelled by the edges)."""

    to: Literal["year", "month"] | None = None
    zip_prefix: int | None = Field(None, ge=1, le=5)
    categories: tuple[str, ...] | None = Field(None, min_length=1)  # the prefixes, only with zip_prefix
    bands: tuple[float, ...] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _exactly_one(self) -> Generalization:
        if sum(x is not None for x in (self.to, self.zip_prefix, self.bands)) != 1:
            raise ValueError("give exactly one of 'to', 'zip_prefix' or 'bands'")
        if self.bands is not None and list(self.bands) != sorted(set(self.bands)):
            raise ValueError("bands must be strictly increasing")
        if self.categories is not None:
            if self.zip_prefix is None:
                raise ValueError("'categories' lists ZIP prefixes: it goes with zip_prefix only")
            wrong = [c for c in self.categories if not (c.isdigit() and len(c) == self.zip_prefix)]
            if wrong:
                raise ValueError(f"categories must be {self.zip_prefix}-digit prefixes; not: {', '.join(wrong)}")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories contain duplicates")
        return self


class PiiColumn(Frozen):
    class_: PiiClass = Field(alias="class")
    action: PiiAction
    generalize: Generalization | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PiiColumn:
        if (self.action == "generalize") != (self.generalize is not None):
            raise ValueError("action 'generalize' needs a 'generalize' rule, and only it takes one")
        allowed = ALLOWED_ACTIONS[self.class_]
        if self.action not in allowed:
            raise ValueError(f"class {self.class_!r} allows actions {', '.join(allowed)}; not {self.action!r}")
        return self


class PatternSpec(Frozen):
    name: str
    regex: str
    score: float = Field(0.6, gt=0, le=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value


class RecognizerSpec(Frozen):
    """A custom Presidio pattern recognizer (e.g. a hospital's medical record number), and the class of what it
    finds."""

    name: str
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    patterns: tuple[PatternSpec, ...] = Field(min_length=1)
    context: tuple[str, ...] = ()
    class_: Literal["secret", "direct_identifier", "quasi_identifier", "sensitive"] = Field("direct_identifier",
                                                                                            alias="class")


class PiiSpec(Frozen):
    columns: dict[str, PiiColumn] = {}
    phone_regions: tuple[str, ...] = Field(("US",), min_length=1)  # ISO 3166 codes the phone recognizer tries
    sample_size: int = Field(300, gt=0)  # values scanned per column
    sample_seed: int = 0  # seeds the sample's RNG: a rerun scans the same rows
    recognizers: tuple[RecognizerSpec, ...] = ()
    recognizers_file: str | None = None  # YAML list of recognizers, relative to the project root
    key: KeySource | None = None

    @field_validator("phone_regions")
    @classmethod
    def _region_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [r for r in value if not re.fullmatch(r"[A-Z]{2}", r)]
        if wrong:
            raise ValueError(f"expected two-letter ISO 3166 region codes (US, GB, ...); not: {', '.join(wrong)}")
        return value

    @model_validator(mode="after")
    def _secrets_dropped(self) -> PiiSpec:
        # Imported here: the lexicon's package imports this one's (its released schema is built from specs).
        from synth_pipeline.pii.names import secret_named

        kept = [f"{name} (its name says {secret_named(name)}; declared {rule.action})"
                for name, rule in self.columns.items() if rule.action != "drop" and secret_named(name)]
        if kept:
            raise ValueError(f"secrets are always dropped, never kept, generalized or pseudonymized: {'; '.join(kept)}")
        return self

    @model_validator(mode="after")
    def _key_when_pseudonymizing(self) -> PiiSpec:
        if any(c.action == "pseudonymize" for c in self.columns.values()) and self.key is None:
            raise ValueError("a column is pseudonymized: name where its key comes from in pii.key (env or conn_id)")
        return self
