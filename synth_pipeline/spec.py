"""Release specs: one YAML file per release, validated into frozen objects.

The spec is the only place public knowledge enters the pipeline: the schema's bounds and categories are the
public domain that encoders may use without spending privacy budget. Loading never touches data.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth_pipeline.errors import SpecError

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Scalar = Union[bool, int, float, str]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


# ---------------------------------------------------------------- sources


class CsvOptions(_Frozen):
    header: bool = True
    names: tuple[str, ...] | None = None
    sep: str = ","
    skipinitialspace: bool = False
    na_values: tuple[str, ...] = ()
    skiprows: int = Field(0, ge=0)
    encoding: str = "utf-8"


class CsvSource(_Frozen):
    format: Literal["csv"]
    path: str
    options: CsvOptions = CsvOptions()


class ParquetSource(_Frozen):
    format: Literal["parquet"]
    path: str
    columns: tuple[str, ...] | None = None


class SqlSource(_Frozen):
    """A query (or whole table) read through SQLAlchemy.

    `url` is a SQLAlchemy URL; `conn_id` names an Airflow Connection, resolved inside the task. The query may use
    the bind parameters :ds, :data_interval_start, :data_interval_end and :run_id.
    """

    format: Literal["sql"]
    url: str | None = None
    conn_id: str | None = None
    query: str | None = None
    table: str | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlSource:
        if (self.url is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'url' or 'conn_id'")
        if (self.query is None) == (self.table is None):
            raise ValueError("give exactly one of 'query' or 'table'")
        if self.table is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", self.table):
            raise ValueError(f"table must be a plain [schema.]name, got {self.table!r}")
        return self


SourceSpec = Annotated[Union[CsvSource, ParquetSource, SqlSource], Field(discriminator="format")]


# ---------------------------------------------------------------- harmonize


class UnitConversion(_Frozen):
    """target = value * scale + offset (e.g. pounds to kilograms: scale 0.45359237)."""

    scale: float = 1.0
    offset: float = 0.0


class SourceMapping(_Frozen):
    """How one source's columns become target columns. Keys of recode/units/missing name *target* columns."""

    rename: dict[str, str] = {}
    recode: dict[str, dict[Scalar, Scalar | None]] = {}
    units: dict[str, UnitConversion] = {}
    missing: dict[str, tuple[Scalar, ...]] = {}
    constants: dict[str, Scalar] = {}


class Dedupe(_Frozen):
    keys: tuple[str, ...] | None = None  # None: all target columns
    keep: Literal["first", "last"] = "first"


class HarmonizeSpec(_Frozen):
    sources: dict[str, SourceMapping] = {}
    missing_markers: tuple[str, ...] = ()
    recode: dict[str, dict[Scalar, Scalar | None]] = {}
    strip_whitespace: bool = True
    case_insensitive_categories: bool = True
    dedupe: Dedupe | None = None


# ---------------------------------------------------------------- schema (the public domain)

OutOfDomain = Literal["reject", "clip", "null"]


class MapTo(_Frozen):
    map_to: str


class _ColumnBase(_Frozen):
    nullable: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _null_needs_nullable(self) -> _ColumnBase:
        if getattr(self, "out_of_domain", None) == "null" and not self.nullable:
            raise ValueError("out_of_domain 'null' needs nullable: true")
        return self


class NumericColumn(_ColumnBase):
    type: Literal["integer", "float"]
    min: float
    max: float
    out_of_domain: OutOfDomain = "reject"

    @model_validator(mode="after")
    def _ordered(self) -> NumericColumn:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class CategoricalColumn(_ColumnBase):
    type: Literal["categorical"]
    categories: tuple[str, ...] = Field(min_length=1)
    out_of_domain: Literal["reject", "null"] | MapTo = "reject"

    @model_validator(mode="after")
    def _valid_categories(self) -> CategoricalColumn:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories contain duplicates")
        if isinstance(self.out_of_domain, MapTo) and self.out_of_domain.map_to not in self.categories:
            raise ValueError(f"out_of_domain.map_to {self.out_of_domain.map_to!r} is not one of the categories")
        return self


class BooleanColumn(_ColumnBase):
    type: Literal["boolean"]
    out_of_domain: Literal["reject", "null"] = "reject"


class DatetimeColumn(_ColumnBase):
    type: Literal["datetime"]
    min: str
    max: str
    out_of_domain: OutOfDomain = "reject"


class StringColumn(_ColumnBase):
    """Free text or identifiers: no public domain, so later stages must drop, pseudonymize or redact it."""

    type: Literal["string"]
    out_of_domain: Literal["reject"] = "reject"


ColumnSpec = Annotated[
    Union[NumericColumn, CategoricalColumn, BooleanColumn, DatetimeColumn, StringColumn],
    Field(discriminator="type"),
]
COLUMN_TYPES = ("integer", "float", "categorical", "boolean", "datetime", "string")


# ---------------------------------------------------------------- release


class PrivacySpec(_Frozen):
    epsilon: float = Field(gt=0)
    delta: float = Field(ge=0, lt=1)


class QualitySpec(_Frozen):
    suite: str  # path to a GX suite JSON, relative to the project root (the spec folder's parent)


class ApprovalSpec(_Frozen):
    """Who may approve (Airflow user ids; never the person who triggered the run) and how long they have."""

    stewards: tuple[str, ...] = Field(min_length=1)
    timeout_hours: float = Field(72, gt=0)


class PublishSpec(_Frozen):
    uri: str = "published"  # a folder under the project root, or an object-store URI (s3://bucket/releases)
    conn_id: str | None = None  # Airflow Connection holding the object store's credentials
    formats: tuple[Literal["parquet", "csv"], ...] = ("parquet",)
    rows: int | None = Field(None, gt=0)  # rows to release; default: as many as the training table had

    @model_validator(mode="after")
    def _parquet_always(self) -> PublishSpec:
        if "parquet" not in self.formats:
            raise ValueError("formats must include 'parquet' (the catalog loads and verifies it)")
        return self


class ReleaseSpec(_Frozen):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str
    owner: str
    purpose: str
    schedule: str | None = None
    retention_days: int = Field(365, gt=0)
    tags: tuple[str, ...] = ()
    sources: dict[str, SourceSpec] = Field(min_length=1)
    harmonize: HarmonizeSpec = HarmonizeSpec()
    schema_: dict[str, ColumnSpec] = Field(alias="schema", min_length=1)
    privacy_unit: str = "row"
    privacy: PrivacySpec
    quality: QualitySpec
    approval: ApprovalSpec | None = None  # without it the DAG stops before approval: nothing can be published
    publish: PublishSpec = PublishSpec()

    @model_validator(mode="after")
    def _cross_references(self) -> ReleaseSpec:
        problems = []
        columns = set(self.schema_)
        for source in self.harmonize.sources:
            if source not in self.sources:
                problems.append(f"harmonize.sources.{source}: no source named {source!r} in sources")
        for source, mapping in self.harmonize.sources.items():
            for section in ("recode", "units", "missing", "constants"):
                for column in getattr(mapping, section):
                    if column not in columns:
                        problems.append(f"harmonize.sources.{source}.{section}.{column}: not a schema column")
            for target in mapping.rename.values():
                if target not in columns:
                    problems.append(f"harmonize.sources.{source}.rename: target {target!r} is not a schema column")
        for column in self.harmonize.recode:
            if column not in columns:
                problems.append(f"harmonize.recode.{column}: not a schema column")
        if self.harmonize.dedupe and self.harmonize.dedupe.keys:
            for key in self.harmonize.dedupe.keys:
                if key not in columns:
                    problems.append(f"harmonize.dedupe.keys: {key!r} is not a schema column")
        if self.privacy_unit != "row" and self.privacy_unit not in columns:
            problems.append(f"privacy_unit: expected 'row' or a schema column, got {self.privacy_unit!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def schema(self) -> dict[str, ColumnSpec]:  # type: ignore[override]
        return self.schema_

    def mapping_for(self, source: str) -> SourceMapping:
        return self.harmonize.sources.get(source, SourceMapping())


class LoadedSpec(BaseModel):
    """A validated spec with where it came from and its content hash."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    spec: ReleaseSpec
    path: Path
    spec_hash: str

    @property
    def project_root(self) -> Path:
        return self.path.resolve().parent.parent

    def resolve(self, relative: str) -> Path:
        """Paths in a spec are relative to the project root (the folder holding releases/)."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.project_root / candidate


# ---------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML silently keeps the last, which hides typos."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
}


def _format_error(error: dict[str, Any]) -> str:
    # Tagged unions add the tag to the location (schema.age.integer.max); readers think in keys, so drop it.
    loc = [str(part) for part in error["loc"] if not (isinstance(part, str) and part in COLUMN_TYPES + ("csv", "parquet", "sql"))]
    loc = ["schema" if part == "schema_" else part for part in loc]
    where = ".".join(loc) or "(top level)"
    kind = error["type"]
    if kind in ("missing", "extra_forbidden"):
        return f"{where}: {_EXPECTED[kind]}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = error["ctx"]["discriminator"].strip("'")
        if kind == "union_tag_not_found":
            return f"{where}.{tag}: required key is missing"
        return f"{where}.{tag}: expected one of {error['ctx']['expected_tags']}, got {error['ctx']['tag']!r}"
    if kind == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    expected = _EXPECTED.get(kind)
    if expected is None:
        message = error["msg"]
        expected = message[0].lower() + message[1:]
    return f"{where}: {expected}, got {error['input']!r}"


def parse_spec(raw: Any, path: str | Path) -> ReleaseSpec:
    try:
        return ReleaseSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(str(path), [_format_error(e) for e in exc.errors(include_url=False)]) from None


def spec_hash(spec: ReleaseSpec) -> str:
    """SHA-256 of the canonical JSON form: stable under reformatting, comments and key order."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_spec(path: str | Path) -> LoadedSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), ["expected a mapping at the top level"])
    spec = parse_spec(raw, path)
    if spec.name != path.stem:
        raise SpecError(str(path), [f"name: expected the file name {path.stem!r}, got {spec.name!r}"])
    return LoadedSpec(spec=spec, path=path, spec_hash=spec_hash(spec))


def discover_specs(releases_dir: str | Path) -> list[Path]:
    """Spec files in a stable order: one DAG each."""
    return sorted(Path(releases_dir).glob("*.yaml"))
