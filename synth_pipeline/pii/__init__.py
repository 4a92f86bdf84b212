"""The PII stage: find personal data in every column (Presidio, offline), act on it as the spec declares, and stop
the run on personal data the spec did not declare.

Importing this package is cheap: Presidio and spaCy load inside `engine.analyzer_for`, on first use.
"""

from synth_pipeline.pii.output import output_schema

__all__ = ["output_schema"]
