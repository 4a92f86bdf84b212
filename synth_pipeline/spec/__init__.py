"""Release specs: one YAML file per release, validated into frozen objects.

The spec is the only place public knowledge enters the pipeline: the schema's bounds and categories are the
public domain that encoders may use without spending privacy budget. Loading never touches data. Each section has
its module; this package re-exports them so callers import from `synth_pipeline.spec`.
"""

from synth_pipeline.spec.base import NAME_PATTERN, Frozen, Scalar
from synth_pipeline.spec.evaluation import EvaluationSpec, GatesSpec, Query, RiskGates, UtilityGates
from synth_pipeline.spec.harmonize import Dedupe, HarmonizeSpec, SourceMapping, UnitConversion
from synth_pipeline.spec.loading import discover_specs, load_spec, parse_spec, spec_hash
from synth_pipeline.spec.pii import Generalization, KeySource, PiiColumn, PiiSpec, RecognizerSpec
from synth_pipeline.spec.privacy import EstimationBudget, GeneratorSpec, PrivacySpec, PrivacyUnit, UnitKey
from synth_pipeline.spec.release import ApprovalSpec, LoadedSpec, PublishSpec, QualitySpec, ReleaseSpec
from synth_pipeline.spec.schema import (
    COLUMN_TYPES,
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    MapTo,
    NumericColumn,
    OutOfDomain,
    StringColumn,
)
from synth_pipeline.spec.sources import CsvOptions, CsvSource, ParquetSource, SourceSpec, SqlSource

__all__ = [
    "COLUMN_TYPES", "NAME_PATTERN", "ApprovalSpec", "BooleanColumn", "CategoricalColumn", "ColumnSpec", "CsvOptions",
    "CsvSource", "DatetimeColumn", "Dedupe", "EstimationBudget", "EvaluationSpec", "Frozen", "GatesSpec",
    "Generalization", "GeneratorSpec", "HarmonizeSpec", "KeySource", "LoadedSpec", "MapTo", "NumericColumn",
    "OutOfDomain", "ParquetSource", "PiiColumn", "PiiSpec", "PrivacySpec", "PrivacyUnit", "PublishSpec",
    "QualitySpec", "Query", "RecognizerSpec", "ReleaseSpec", "RiskGates", "Scalar", "SourceMapping", "SourceSpec",
    "SqlSource", "StringColumn", "UnitConversion", "UnitKey", "UtilityGates", "discover_specs", "load_spec",
    "parse_spec", "spec_hash",
]
