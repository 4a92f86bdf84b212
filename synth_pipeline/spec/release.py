"""The release spec as a whole, its cross-references, and a loaded spec with its origin and hash."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synth_pipeline.spec.base import NAME_PATTERN, Frozen
from synth_pipeline.spec.engine import EngineSpec
from synth_pipeline.spec.evaluation import EvaluationSpec, GatesSpec
from synth_pipeline.spec.feasibility import feasibility_problems
from synth_pipeline.spec.harmonize import HarmonizeSpec, SourceMapping
from synth_pipeline.spec.limits import (
    MAX_APPROVAL_HOURS,
    MAX_COLUMNS,
    MAX_LABEL_CHARS,
    MAX_RELEASE_ROWS,
    MAX_RETENTION_DAYS,
    MAX_SOURCES,
    MAX_STEWARDS,
    MAX_TAGS,
    MAX_TEXT_CHARS,
)
from synth_pipeline.spec.schedule import check_schedule
from synth_pipeline.spec.pii import PiiSpec
from synth_pipeline.spec.privacy import GeneratorSpec, PrivacySpec, PrivacyUnit, UnitKey
from synth_pipeline.spec.schema import ColumnSpec, StringColumn
from synth_pipeline.spec.sources import SourceSpec


class QualitySpec(Frozen):
    suite: str  # path to a GX suite JSON, relative to the project root (the spec folder's parent)


class ApprovalSpec(Frozen):
    """Who may approve (Airflow user ids; never the person who triggered the run) and how long they have."""

    stewards: tuple[Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)], ...] = Field(
        min_length=1, max_length=MAX_STEWARDS)
    timeout_hours: float = Field(72, gt=0, le=MAX_APPROVAL_HOURS)


class PublishSpec(Frozen):
    uri: str = "published"  # a folder under the project root, or an object-store URI (s3://bucket/releases)
    conn_id: str | None = None  # Airflow Connection holding the object store's credentials
    formats: tuple[Literal["parquet", "csv"], ...] = ("parquet",)
    # Rows to release; default: a DP estimate of the training table's size (bounded by the table the worker read).
    rows: int | None = Field(None, gt=0, le=MAX_RELEASE_ROWS)

    @model_validator(mode="after")
    def _parquet_always(self) -> PublishSpec:
        if "parquet" not in self.formats:
            raise ValueError("formats must include 'parquet' (the catalog loads and verifies it)")
        return self


class ReleaseSpec(Frozen):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = Field(max_length=MAX_TEXT_CHARS)
    owner: str = Field(max_length=MAX_LABEL_CHARS)
    purpose: str = Field(max_length=MAX_TEXT_CHARS)
    schedule: str | None = Field(None, max_length=MAX_LABEL_CHARS)  # Airflow's: a preset or a five-field cron line
    retention_days: int = Field(365, gt=0, le=MAX_RETENTION_DAYS)
    tags: tuple[Annotated[str, Field(max_length=MAX_LABEL_CHARS)], ...] = Field((), max_length=MAX_TAGS)
    sources: dict[str, SourceSpec] = Field(min_length=1, max_length=MAX_SOURCES)
    harmonize: HarmonizeSpec = HarmonizeSpec()
    schema_: dict[str, ColumnSpec] = Field(alias="schema", min_length=1, max_length=MAX_COLUMNS)
    pii: PiiSpec = PiiSpec()
    privacy_unit: PrivacyUnit = "row"
    privacy: PrivacySpec
    generator: GeneratorSpec | None = None  # without it the DAG stops after the PII scan: nothing is trained
    engine: EngineSpec = EngineSpec()  # where the fit's row-level work runs: the worker, or Spark
    quality: QualitySpec
    evaluation: EvaluationSpec = EvaluationSpec()
    gates: GatesSpec = GatesSpec()
    approval: ApprovalSpec | None = None  # without it the DAG stops before approval: nothing can be published
    publish: PublishSpec = PublishSpec()

    @field_validator("privacy_unit", mode="before")
    @classmethod
    def _row_or_key(cls, value: object) -> object:
        if isinstance(value, str) and value != "row":
            raise ValueError(f"expected 'row' or {{key: COLUMN, max_rows: N}}, got {value!r}")
        return value

    @field_validator("schedule")
    @classmethod
    def _airflow_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            check_schedule(value)
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> ReleaseSpec:
        columns = set(self.schema_)
        problems = self.harmonize.references(columns, set(self.sources))
        if isinstance(self.privacy_unit, UnitKey) and self.privacy_unit.key not in columns:
            problems.append(f"privacy_unit.key: {self.privacy_unit.key!r} is not a schema column")
        problems += self._dedupe_problems(columns)
        from synth_pipeline.pii.output import generalized_column  # here: the pii package imports this module

        for column, rule in self.pii.columns.items():
            if column not in columns:
                problems.append(f"pii.columns.{column}: not a schema column")
            elif rule.action == "redact" and not isinstance(self.schema_[column], StringColumn):
                problems.append(f"pii.columns.{column}: redact rewrites free text, but the schema column is "
                                f"{self.schema_[column].type} (declare it type: string)")
            elif rule.action == "generalize":
                try:
                    released = generalized_column(self.schema_[column], rule.generalize)
                except ValueError as exc:
                    problems.append(f"pii.columns.{column}.generalize: {exc}")
                    continue
                if released.needs_estimation and self.privacy.estimation is None:
                    problems.append(f"pii.columns.{column}: the generalized column's levels must be estimated under "
                                    "DP, but privacy.estimation gives no budget for that (list the prefixes in "
                                    "generalize.categories, or add privacy.estimation)")
        if self.generator is not None:
            problems += self._generator_problems()
            if self.engine.name != "local" and self.generator.name != "aim":
                # DP-SGD's passes over the rows are not counts: they stay on the worker (issue 15's next slice).
                problems.append(f"engine: the {self.engine.name} engine runs the aim generator only, not "
                                f"{self.generator.name!r}")
        problems += feasibility_problems(self)
        for column in sorted(self.evaluation.columns() - columns):
            problems.append(f"evaluation: {column!r} is not a schema column")
        if self.privacy.estimation is None:
            for column, spec in self.schema_.items():
                if spec.needs_estimation:
                    problems.append(f"schema.{column}: its domain must be estimated under DP, but privacy.estimation "
                                    "gives no budget for that (declare the domain, or add privacy.estimation)")
        if problems:
            raise ValueError("\n".join(problems))  # one problem a line: the loader lists each
        return self

    def _dedupe_problems(self, columns: set[str]) -> list[str]:
        """De-duplication runs in harmonize, on the whole table and before contribution bounding, so it must be
        1-stable for the privacy unit: adding or removing one unit may change its output by that unit's rows only.

        - Whole rows (`keys: null`, or keys naming every column) are always allowed. As a table transformation,
          keeping one copy of each distinct row is 1-stable: one row (or, with a key unit, whose key column is part
          of every row, one individual's rows) added or removed changes the distinct rows by at most those rows, and
          copies are equal, so `keep` does not matter. What it is not is a person-level guarantee under
          `privacy_unit: row`: the guarantee then holds per distinct record, and nothing merges one person's records
          that differ. (The count of duplicates removed is an exact statistic of its own, outside this check.)
        - A key unit: the keys must hold `privacy_unit.key`, so rows only ever collide within one individual.
          Without it, one individual's row kept `first` suppresses other people's rows, and removing them
          brings those back: far more than `max_rows` rows change.
        - `privacy_unit: row` with a subset of the columns: refused. Rows that agree on the keys but differ
          elsewhere are different records, and removing the one kept brings another back: a substitution, two
          changes where the accountant allows one. Rows that belong to one individual call for a key unit.
        """
        keys = set(self.harmonize.dedupe.keys or ()) if self.harmonize.dedupe else set()
        if not keys or keys >= columns:
            return []
        if isinstance(self.privacy_unit, UnitKey):
            if self.privacy_unit.key in keys:
                return []
            return [f"harmonize.dedupe.keys: must include privacy_unit.key ({self.privacy_unit.key!r}), so that one "
                    "individual's rows can only remove that individual's own; or use keys: null (whole rows)"]
        return ["harmonize.dedupe.keys: with privacy_unit: row only whole rows may be de-duplicated (keys: null): "
                "keeping one of several rows that agree on some columns lets removing one row bring back another; "
                "if those rows are one individual's, declare privacy_unit: {key: COLUMN, max_rows: N} and keep "
                "the key in dedupe.keys"]

    def _generator_problems(self) -> list[str]:
        # The registry validates each generator's hyper-parameters; it imports pydantic only, never torch.
        from synth_pipeline.errors import GeneratorError
        from synth_pipeline.generators import REGISTRY, parse_params

        if self.generator.name not in REGISTRY:
            return [f"generator.name: expected one of {sorted(REGISTRY)}, got {self.generator.name!r}"]
        try:
            parse_params(self.generator.name, self.generator.params)
        except GeneratorError as exc:
            return str(exc).split("; ")
        return []

    @property
    def schema(self) -> dict[str, ColumnSpec]:  # type: ignore[override]
        return self.schema_

    @property
    def dataset(self) -> str:
        """The ledger's dataset this release spends from."""
        return self.privacy.dataset or self.name

    def mapping_for(self, source: str) -> SourceMapping:
        return self.harmonize.sources.get(source, SourceMapping())


class LoadedSpec(BaseModel):
    """A validated spec with where it came from and its content hash."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    spec: ReleaseSpec
    path: Path
    spec_hash: str
    # What the author may not have meant, though valid (a bare NO read as false): validate-spec prints these.
    warnings: tuple[str, ...] = ()

    @property
    def project_root(self) -> Path:
        return self.path.resolve().parent.parent

    def resolve(self, relative: str) -> Path:
        """Paths in a spec are relative to the project root (the folder holding releases/)."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.project_root / candidate
