"""What a release contains, from the spec alone: the columns a generator models, and those it leaves out and why.

The PII policy decides the released schema (`pii.output_schema`); of that, text columns (pseudonyms, redacted or free
text) have no public domain, and the privacy unit's key identifies people, so no generator models either. Nothing
here looks at data.
"""

from __future__ import annotations

from synth_pipeline.pii import output_schema
from synth_pipeline.spec import ColumnSpec, ReleaseSpec, StringColumn, UnitKey


def modelled_columns(spec: ReleaseSpec) -> tuple[dict[str, ColumnSpec], dict[str, str]]:
    """(schema of the synthetic table, {column left out: why})."""
    released = output_schema(spec.schema, spec.pii)
    left_out = {name: f"removed by the PII policy ({spec.pii.columns[name].action})"
                for name in spec.schema if name not in released}
    key = spec.privacy_unit.key if isinstance(spec.privacy_unit, UnitKey) else None
    modelled = {}
    for name, column in released.items():
        if name == key:
            left_out[name] = "the privacy unit's key: it identifies people"
        elif isinstance(column, StringColumn):
            left_out[name] = "text (a pseudonym, redacted or free text): no public domain, never synthesized"
        else:
            modelled[name] = column
    return modelled, left_out
