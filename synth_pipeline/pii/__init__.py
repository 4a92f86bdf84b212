"""The PII stage: find personal data in every column (Presidio, offline), act on it as the spec declares, and stop
the run on personal data the spec did not declare.

Importing this package is cheap: Presidio and spaCy load inside `engine.analyzer_for`, on first use, and
`output_schema` (which needs the spec package) on first access, so that the spec package may read the name lexicon
(`pii.names`) while it is itself being imported.
"""

__all__ = ["output_schema"]


def __getattr__(name: str):
    if name == "output_schema":
        from synth_pipeline.pii.output import output_schema

        return output_schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
