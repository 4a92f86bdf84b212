"""What `init` may learn from a table: each column's name, its type and its PII class. Never a value.

A type is read off the values (every present value parses as a whole number, a number, a flag, an ISO date), but the
only thing that leaves this module is the type's name. Suggestions for `atoms`, `values` and cut points come from the
column's NAME and type alone (`suggestions_for`), so they say nothing about the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]*)")  # a leading zero makes a code (a ZIP, an id), not a number
_NUMBER = re.compile(r"[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?")
# What harmonize reads as a flag (synth_pipeline.harmonize), less 0/1: those are also numbers, and stay integers.
_FLAGS = frozenset({"true", "false", "t", "f", "yes", "no", "y", "n"})
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

InferredType = str  # "integer" | "float" | "boolean" | "datetime" | "text"


def target_name(source: str) -> str:
    """A schema column name from a source column name: lower case, [a-z0-9_], starting with a letter."""
    name = re.sub(r"[^a-z0-9]+", "_", source.strip().lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"col_{name}" if name else "column"
    return name[:63]


def unique_target_names(sources: list[str]) -> list[str]:
    names: list[str] = []
    for source in sources:
        name, suffix = target_name(source), 2
        while name in names:
            name, suffix = f"{target_name(source)[:60]}_{suffix}", suffix + 1
        names.append(name)
    return names


def _text_type(series: pd.Series) -> InferredType:
    texts = [str(value).strip() for value in series.dropna().tolist()]
    texts = [text for text in texts if text.lower() not in _MISSING]
    if not texts:
        return "text"
    if all(text.lower() in _FLAGS for text in texts):
        return "boolean"
    if all(_INTEGER.fullmatch(text) for text in texts):
        return "integer"
    if all(_NUMBER.fullmatch(text) for text in texts):
        return "float"
    if all(_ISO_DATE.fullmatch(text) for text in texts):
        return "datetime"
    return "text"


def infer_type(series: pd.Series) -> InferredType:
    """The column's type from its values: used to choose the schema's `type`, and nothing else."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        present = series.dropna()
        return "integer" if len(present) and bool((present == present.round()).all()) else "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return _text_type(series)


@dataclass(frozen=True)
class Suggestion:
    key: str  # the NumericColumn key it proposes
    line: str  # the commented YAML line, without the leading "# "
    why: str


_ZERO_INFLATED = re.compile(r"(^|_)(capital|gain|loss|amount|amt|balance|pdays|debt|arrears|claims?|overtime|"
                            r"bonus|donations?|spend|spent|purchases?)(_|$)")
_DISCRETE = re.compile(r"(^|_)(rating|score|stars?|grade|rank|likert|satisfaction|level|stage|class|category)(_|$)")
_SKEWED = re.compile(r"(^|_)(income|salary|wage|amount|amt|price|cost|balance|duration|expenses?|revenue|value|"
                     r"gain|loss|fnlwgt|weight)(_|$)")


def suggestions_for(name: str, kind: InferredType) -> list[Suggestion]:
    """Commented choices for a numeric column, from its name and type only (issue 13): to confirm or delete."""
    out: list[Suggestion] = []
    if kind not in ("integer", "float"):
        return out
    if _ZERO_INFLATED.search(name):
        out.append(Suggestion("atoms", "atoms: [0]",
                              "its name reads like an amount that is 0 for most rows: 0 gets a code of its own and "
                              "comes back exactly (confirm it is a public fact about the column)"))
    if kind == "integer" and _DISCRETE.search(name):
        out.append(Suggestion("values", "values: [1, 2, 3, 4, 5]",
                              "its name reads like a rating or level: list every value it can take, from the "
                              "questionnaire or code book (not from the data); replaces bins, and cannot go with "
                              "atoms or estimate_bounds"))
    if _SKEWED.search(name) and not any(s.key == "values" for s in out):
        out.append(Suggestion("estimate_bin_edges", "estimate_bin_edges: 16",
                              "its name reads like a skewed quantity: 16 bins cut at DP quantiles instead of equal "
                              "widths, paid from privacy.estimation (or declare public bin_edges)"))
    return out
