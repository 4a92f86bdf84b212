"""Column classification: which entity types a column holds, and so its PII class, from a sample of its values.

For each column: a random sample of its non-blank values (`sample_size`, drawn with the RNG passed in) is read as
text; each distinct text goes once through Presidio's BatchAnalyzerEngine, with the column name's words as context
(Presidio raises a recognizer's score when its context words appear: `ssn`, `phone`, `license`). Short values get a
second, NER-only look in the spelling spaCy reads best (`shapes.for_ner`). The column's name adds its own evidence
(`shapes.NAME_HINTS`). Then, per entity type:

- a result counts from a confidence of SCORE_THRESHOLD (0.4). Presidio's weak patterns (a bare 9-digit number as an
  SSN: 0.05; a US driver's licence without context: 0.3) stay below it unless context lifts them, while a phone
  number (0.4), an SSN (0.5), e-mail (1.0), spaCy's entities (0.85) and a name hint (HINT_SCORE, 0.6) reach it.
- an entity is *found* in a structured column when it holds in at least MIN_SHARE (10%) of the sampled values, and
  in at least two: one odd cell among 300 (0.3%) does not stop a run, a real identifier column (typically over 90%)
  always does, and so does one where an identifier fills a tenth of the cells. spaCy's PERSON, LOCATION and NRP on
  isolated short values are noisy (it calls Adult's "Husband", 40% of rows, a place), so without a name hint they
  need a majority: NER_MIN_SHARE (50%) of the sampled values and of the distinct values, and NER_MIN_LEVELS (3)
  distinct values at least (the English model reads two of four Spanish category labels as names).
- sparse identifiers: an SSN or a card number that Presidio validated (SSN's group rules, the card's Luhn checksum)
  is found from SPARSE_MIN_SHARE (2%) of the sampled values (and two of them), so a column with 5% of them in it is
  found despite the sample's noise; their validation keeps this precise.
- mangled numbers: a 13- to 19-digit number in a spreadsheet's scientific notation (`5.54563E+15`) is a card or
  account number that lost its last digits: MANGLED_NUMBER, a direct identifier, by the same share rule.
- near-unique keys: a column where nothing else is found, not numeric (by its type, or declared numeric by the spec),
  is a likely record key or row number (`near_unique` in the finding's rules: a direct identifier) when at least
  NEAR_UNIQUE_SHARE (95%) of its NEAR_UNIQUE_MIN_SAMPLE (50) or more sampled values are distinct single tokens that
  are neither decimals nor dates; whole numbers count only when they look like row numbers or codes (none above
  twice the column's rows, or zero-padded, or all of one width), not when they spread like a measure (Adult's census
  weight, read as text). Names of things (several words) are left to Presidio. The finding names the rule, never
  the share.
- in free text (FREE_TEXT_SHARE, a quarter, of the values read as prose) every entity found at least once is
  reported: one SSN in one note is a finding. The column's class is then `free_text` whatever it holds.

The class is the most severe among the found entities' classes (secret, direct identifier, quasi-identifier,
sensitive), `none` when nothing is found. A ZIP_CODE finding records the postcode regions its values' shapes point
at (`postcode_regions`), which decide the suggested coarsening. A column the scan cannot read (binary values, text
that is not valid UTF-8, nested values) is `unscannable`, with the reason; the gate treats that as undeclared PII
unless the spec declares it.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from synth_pipeline.pii.engine import LANGUAGE, NER_ENTITIES, scanned_entities
from synth_pipeline.pii.shapes import (
    CLASS_SEVERITY,
    ENTITY_CLASS,
    URL_WORDS,
    for_ner,
    hint_for,
    is_decimal,
    is_mangled_number,
    is_prose,
    looks_like_date,
    looks_like_url,
    name_tokens,
    postcode_region,
)

SCORE_THRESHOLD = 0.4
MIN_SHARE = 0.10
SPARSE_MIN_SHARE = 0.02
SPARSE_ENTITIES = frozenset({"US_SSN", "CREDIT_CARD"})  # validated by Presidio (SSN rules, Luhn)
NEAR_UNIQUE_SHARE = 0.95
NEAR_UNIQUE_MIN_SAMPLE = 50
MIN_COUNT = 2
NER_MIN_SHARE = 0.50
NER_MIN_LEVELS = 3
HINT_SCORE = 0.6
FREE_TEXT_SHARE = 0.25
MAX_SCAN_CHARS = 2_000  # of one cell; a longer cell is scanned on its first 2,000 characters (and counted)
BATCH_SIZE = 64

Progress = Callable[[int, int, float], None]  # (columns done, columns in all, seconds elapsed)


@dataclass(frozen=True)
class EntityStats:
    count: int  # sampled values holding the entity
    mean_score: float
    max_score: float
    source: str  # "values" (Presidio), "name" (the column name and the value's shape), "shape", or a "+" of them

    def to_dict(self) -> dict:
        return {"count": self.count, "mean_score": self.mean_score, "max_score": self.max_score, "source": self.source}


@dataclass(frozen=True)
class ColumnFinding:
    """What the scan found in one column: counts and entity types, never values."""

    name: str
    dtype: str
    rows: int
    blank: int  # null or whitespace-only cells
    sampled: int
    pii_class: str | None  # None when unscannable
    entities: dict[str, EntityStats] = field(default_factory=dict)
    unscannable: str | None = None
    notes: tuple[str, ...] = ()
    distinct: int = 0  # distinct sampled texts, each analysed once
    rules: tuple[str, ...] = ()  # column-level rules that set the class beside the entities: "near_unique"
    postcode_regions: tuple[str, ...] = ()  # with ZIP_CODE: the countries its values' shapes point at

    def entity_counts(self) -> dict[str, int]:
        return {entity: stats.count for entity, stats in self.entities.items()}

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "rows": self.rows, "blank": self.blank,
                "sampled": self.sampled, "distinct": self.distinct, "class": self.pii_class,
                "entities": {entity: stats.to_dict() for entity, stats in sorted(self.entities.items())},
                "unscannable": self.unscannable, "notes": list(self.notes), "rules": list(self.rules),
                "postcode_regions": list(self.postcode_regions)}


class Unreadable(Exception):
    """A value the scan cannot read as text."""


def cell_text(value: object) -> str:
    """A cell as the text Presidio reads. Raises Unreadable for binary data and other non-text values."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise Unreadable("binary values (not UTF-8 text)") from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: bytes that were not valid UTF-8, read with surrogateescape
            raise Unreadable("text that is not valid UTF-8") from None
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        raise Unreadable(f"nested values ({type(value).__name__})")
    raise Unreadable(f"values of type {type(value).__name__}")


def _present(series: pd.Series) -> pd.Series:
    """The non-blank values: not null, and not empty or whitespace-only text (Febrl writes missing as blank)."""
    values = series[series.notna()]
    if pd.api.types.is_string_dtype(values.dtype):
        values = values[~values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)]
    return values


def _analyse(batch, texts: list[str], *, entities: list[str], context: list[str]) -> list[dict[str, float]]:
    """Presidio's results per text as {entity: best score}, after the shape checks Presidio lacks."""
    found = []
    results = batch.analyze_iterator(texts, language=LANGUAGE, batch_size=BATCH_SIZE, entities=entities,
                                     score_threshold=SCORE_THRESHOLD, context=context or None)
    url_column = bool(URL_WORDS & set(context))
    for text, hits in zip(texts, results):
        hits = [h for h in hits if (h.entity_type != "DATE_TIME" or looks_like_date(text[h.start:h.end]))
                and (h.entity_type != "URL" or url_column or looks_like_url(text[h.start:h.end]))]
        # A match inside a longer match of another type that scores as high is that match misread (the URL
        # Presidio also sees inside an e-mail address).
        kept = [h for h in hits if not any(
            o.entity_type != h.entity_type and o.start <= h.start and h.end <= o.end
            and o.end - o.start > h.end - h.start and o.score >= h.score for o in hits)]
        scores: dict[str, float] = {}
        for hit in kept:
            scores[hit.entity_type] = max(scores.get(hit.entity_type, 0.0), float(hit.score))
        found.append(scores)
    return found


def _presidio_scores(analyzer, distinct: list[str], *, column: str, free_text: bool) -> dict[str, dict[str, float]]:
    """{text: {entity: score}} for every distinct text worth analysing (not decimals, not booleans)."""
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer)
    context = list(name_tokens(column))
    readable = [t for t in distinct if not is_decimal(t) and t.lower() not in ("true", "false")]
    scores = dict(zip(readable, _analyse(batch, readable, entities=scanned_entities(analyzer), context=context)))
    # The NER-only second look, where Presidio saw nothing more specific ("john.doe@example.com" title-cased
    # reads as a person).
    retry = {t: for_ner(t) for t in readable if not free_text and len(t.split()) <= 6 and for_ner(t) != t
             and set(scores[t]) <= set(NER_ENTITIES)}
    for text, found in zip(retry, _analyse(batch, list(retry.values()), entities=list(NER_ENTITIES), context=context)):
        for entity, score in found.items():
            scores[text][entity] = max(scores[text].get(entity, 0.0), score)
    return scores


@dataclass
class _Tally:
    count: int = 0  # sampled values
    distinct: int = 0
    score_sum: float = 0.0
    best: float = 0.0
    sources: set = field(default_factory=set)


def _tally(weights: Counter, scores: dict[str, dict[str, float]], column: str) -> dict[str, _Tally]:
    """Per entity, the sampled values holding it: Presidio's evidence, the column name's and the value's shape,
    merged per value."""
    hint = hint_for(column)
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for text, weight in weights.items():
        evidence = {entity: (score, {"values"}) for entity, score in scores.get(text, {}).items()}
        added = [(hint.entity_for(text) if hint is not None else None, "name"),
                 ("MANGLED_NUMBER" if is_mangled_number(text) else None, "shape")]
        for entity, source in added:
            if entity is not None:
                score, sources = evidence.get(entity, (0.0, set()))
                evidence[entity] = (max(score, HINT_SCORE), sources | {source})
        for entity, (score, sources) in evidence.items():
            tally = tallies[entity]
            tally.count += weight
            tally.distinct += 1
            tally.score_sum += score * weight
            tally.best = max(tally.best, score)
            tally.sources |= sources
    return tallies


def _is_found(entity: str, tally: _Tally, *, sampled: int, levels: int, free_text: bool) -> bool:
    if free_text:
        return tally.count >= 1
    share = SPARSE_MIN_SHARE if entity in SPARSE_ENTITIES and "values" in tally.sources else MIN_SHARE
    if tally.count < min(MIN_COUNT, sampled) or tally.count < share * sampled:
        return False
    if entity in NER_ENTITIES and "name" not in tally.sources:
        return (tally.count >= max(MIN_COUNT, NER_MIN_SHARE * sampled)
                and tally.distinct >= max(min(NER_MIN_LEVELS, levels), NER_MIN_SHARE * levels))
    return True


def _integers_are_keys(integers: list[str], rows: int) -> bool:
    """Whole numbers written as text are keys when they look like row numbers (none above twice the column's rows),
    or like codes (zero-padded, or all of one width); not when they spread like a measure (a census weight)."""
    if not integers:
        return True
    padded = any(len(t) > 1 and t.startswith("0") for t in integers)
    return padded or len({len(t) for t in integers}) == 1 or max(int(t) for t in integers) <= 2 * rows


def _near_unique(series: pd.Series, weights: Counter, *, sampled: int, numeric: bool) -> bool:
    """Almost every sampled value distinct, and each a single token (a key, a code, a row number), not a decimal, a
    date or a whole number that spreads like a measure; never for a numeric, boolean or datetime column."""
    dtype = series.dtype
    if numeric or pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return False
    if sampled < NEAR_UNIQUE_MIN_SAMPLE or len(weights) < NEAR_UNIQUE_SHARE * sampled:
        return False
    tokens = [t for t in weights if t and not any(c.isspace() for c in t) and not is_decimal(t)
              and not looks_like_date(t)]
    integers = [t for t in tokens if t.isascii() and t.isdigit()]
    keys = [t for t in tokens if t not in integers or _integers_are_keys(integers, len(series))]
    return sum(weights[t] for t in keys) >= NEAR_UNIQUE_SHARE * sampled


def _postcode_regions(weights: Counter, column: str) -> tuple[str, ...]:
    """The regions whose postcode shape at least two sampled values have."""
    regions = Counter()
    for text, n in weights.items():
        region = postcode_region(text, column=column)
        if region is not None:
            regions[region] += n
    return tuple(sorted(r for r, n in regions.items() if n >= MIN_COUNT))


def classify_column(
    name: str, series: pd.Series, *, analyzer, sample_size: int, rng: np.random.Generator,
    custom_classes: Mapping[str, str], numeric: bool = False,
) -> ColumnFinding:
    """`numeric`: the spec declares the column a number (a CSV read as text does not say so by its type)."""
    values = _present(series)
    base = {"name": str(name), "dtype": str(series.dtype), "rows": len(series), "blank": len(series) - len(values)}
    if values.empty:
        return ColumnFinding(**base, sampled=0, pii_class="none", notes=("no values to scan (empty or all blank)",))
    picked = values.iloc[rng.choice(len(values), size=min(sample_size, len(values)), replace=False)]
    notes = []
    kinds = sorted({type(v).__name__ for v in picked})
    if len(kinds) > 1:
        notes.append(f"mixed value types: {', '.join(kinds)}")
    try:
        texts = [cell_text(value) for value in picked]
    except Unreadable as problem:
        return ColumnFinding(**base, sampled=len(picked), pii_class=None, notes=tuple(notes),
                             unscannable=f"{problem} among the sampled values")
    long_cells = sum(len(t) > MAX_SCAN_CHARS for t in texts)
    if long_cells:
        notes.append(f"{long_cells} sampled cell(s) over {MAX_SCAN_CHARS:,} characters scanned on their start")
    weights = Counter(t[:MAX_SCAN_CHARS] for t in texts)
    free_text = sum(n for t, n in weights.items() if is_prose(t)) >= FREE_TEXT_SHARE * len(texts)

    scores = _presidio_scores(analyzer, list(weights), column=str(name), free_text=free_text)
    entities = {
        entity: EntityStats(t.count, round(t.score_sum / t.count, 3), round(t.best, 3),
                            "+".join(s for s in ("values", "name", "shape") if s in t.sources))
        for entity, t in _tally(weights, scores, str(name)).items()
        if _is_found(entity, t, sampled=len(texts), levels=len(weights), free_text=free_text)
    }
    rules = ()
    if free_text:
        pii_class = "free_text"
    else:
        classes = {custom_classes.get(e) or ENTITY_CLASS.get(e, "direct_identifier") for e in entities}
        pii_class = next((c for c in CLASS_SEVERITY if c in classes), "none")
        if pii_class == "none" and _near_unique(series, weights, sampled=len(texts), numeric=numeric):
            pii_class, rules = "direct_identifier", ("near_unique",)
    regions = _postcode_regions(weights, str(name)) if "ZIP_CODE" in entities else ()
    return ColumnFinding(**base, sampled=len(texts), distinct=len(weights), pii_class=pii_class, entities=entities,
                         notes=tuple(notes), rules=rules, postcode_regions=regions)


def scan_table(
    table: pd.DataFrame, *, analyzer, sample_size: int, rng: np.random.Generator,
    custom_classes: Mapping[str, str], progress: Progress | None = None, numeric: frozenset[str] = frozenset(),
) -> list[ColumnFinding]:
    """Classify every column of the table, in order; `numeric` names the columns the spec declares numbers."""
    started = time.perf_counter()
    findings = []
    for done, (column, series) in enumerate(table.items(), start=1):  # by position: names may repeat in a file
        findings.append(classify_column(column, series, analyzer=analyzer, sample_size=sample_size, rng=rng,
                                        custom_classes=custom_classes, numeric=str(column) in numeric))
        if progress is not None:
            progress(done, len(table.columns), time.perf_counter() - started)
    return findings
