"""What a column's name and its values' shape say, beside Presidio.

spaCy's small model, fed one short cell at a time, is unreliable both ways: it calls "Husband" a place and misses
"Alice368 Gleason633" (Synthea's names carry numeric suffixes). So the classifier also reads the column's name (a
short lexicon of unambiguous names: `ssn`, `first_name`, `zip`, ...), counting the values whose shape fits the
named entity, and it checks shapes Presidio gets wrong: a DATE_TIME must look like a date (a house number or a ZIP
code does not), and a decimal number is a measurement, not an identifier.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# The entity types the scan reports: Presidio's, plus those the name lexicon adds (STREET_ADDRESS, ZIP_CODE,
# GEO_COORDINATE, GENDER, INCOME, NATIONAL_ID, IDENTIFIER). An entity not listed here (a new Presidio recognizer)
# counts as a direct identifier: the safe side.
ENTITY_CLASS: dict[str, str] = {
    **dict.fromkeys(
        ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "US_ITIN", "US_PASSPORT", "US_DRIVER_LICENSE",
         "US_BANK_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "MAC_ADDRESS", "URL", "CRYPTO", "UK_NHS",
         "MEDICAL_LICENSE", "UUID", "STREET_ADDRESS", "NATIONAL_ID", "IDENTIFIER"], "direct_identifier"),
    **dict.fromkeys(["LOCATION", "DATE_TIME", "ZIP_CODE", "GEO_COORDINATE", "AGE", "GENDER"], "quasi_identifier"),
    **dict.fromkeys(["NRP", "INCOME"], "sensitive"),
}
CLASS_SEVERITY = ("direct_identifier", "quasi_identifier", "sensitive")

_DECIMAL = re.compile(r"[+-]?(\d+\.\d+|\.\d+)([eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")
_COMPACT = re.compile(r"(1[89]|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")
_MONTH_NAME = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?![a-z])", re.IGNORECASE)
_DIGIT_SUFFIX = re.compile(r"\b([A-Za-z]{2,})\d+\b")
# Function words mark prose: a hospital's name has at most one, a sentence several.
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from about as is are was were be been am do does did have has "
    "had i me my we our you your he him his she her it its they them their this that these those there here not no "
    "please can could will would should may might must call called need".split())


def is_decimal(text: str) -> bool:
    """A number with a fractional part or an exponent: a measurement, never an identifier."""
    return _DECIMAL.fullmatch(text.strip()) is not None


def is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text.strip()) is not None


def looks_like_date(text: str) -> bool:
    """An absolute calendar date: ISO (with an optional time), d/m/y or m/d/y, YYYYMMDD, or a month's name next to
    a number. Not a bare number (a ZIP code, a house number, a count), which spaCy often tags DATE."""
    text = text.strip()
    iso = _ISO.fullmatch(text)
    if iso:
        return 1 <= int(iso.group(2)) <= 12 and 1 <= int(iso.group(3)) <= 31
    dmy = _DAY_MONTH_YEAR.fullmatch(text)
    if dmy:
        first, second = int(dmy.group(1)), int(dmy.group(2))
        return (1 <= first <= 12 and 1 <= second <= 31) or (1 <= first <= 31 and 1 <= second <= 12)
    if _COMPACT.fullmatch(text):
        return True
    return _MONTH_NAME.search(text) is not None and any(c.isdigit() for c in text)


def is_prose(text: str) -> bool:
    """A cell that reads as free text: several words, at least two of them function words, or simply long."""
    words = text.split()
    return len(text) >= 200 or (len(words) >= 5 and sum(w.lower().strip(".,;:!?") in _STOPWORDS for w in words) >= 2)


def for_ner(text: str) -> str:
    """The spelling spaCy reads names best in: digit suffixes off ("Alice368" -> "Alice"), ALL CAPS and all-lower
    text in title case. Used for a second, NER-only look at short values; pattern recognizers see the raw text."""
    cleaned = _DIGIT_SUFFIX.sub(r"\1", text)
    return cleaned.title() if cleaned.isupper() or cleaned.islower() else cleaned


def name_tokens(column: str) -> tuple[str, ...]:
    """`dateOfBirth`, `DATE_OF_BIRTH` and `date-of-birth` all give ('date', 'of', 'birth')."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column))
    return tuple(t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _number_within(low: float, high: float) -> Callable[[str], bool]:
    return lambda text: is_number(text) and low <= float(text) <= high


def _national_id(text: str) -> str | None:
    digits = _digits(text)
    if not (6 <= len(digits) <= 12) or re.search(r"[A-Za-z]", text):
        return None
    return "US_SSN" if len(digits) == 9 else "NATIONAL_ID"


@dataclass(frozen=True)
class NameHint:
    """A column name that says what its values are; `entity_for` says which values have that entity's shape."""

    entity: str
    matches: Callable[[tuple[str, ...]], bool]
    fits: Callable[[str], bool] | None = None
    classify: Callable[[str], str | None] | None = None

    def entity_for(self, text: str) -> str | None:
        if self.classify is not None:
            return self.classify(text)
        return self.entity if self.fits(text) else None


def _any(*words: str) -> Callable[[tuple[str, ...]], bool]:
    wanted = set(words)
    return lambda tokens: bool(wanted & set(tokens))


_PERSON_NAME = re.compile(r"(first|last|given|family|maiden|middle|full|sur|fore|patient|person|contact|customer"
                          r"|member|f|l)_?names?|first|last|given|maiden|surname|forename")


def _person_shaped(text: str) -> bool:
    return bool(re.search(r"[^\W\d_]", text)) and "@" not in text and len(text.split()) <= 6


def _token_shaped(text: str) -> bool:
    return 0 < len(text) <= 64 and not any(c.isspace() for c in text)


def _has_digit_token(text: str) -> bool:
    return _token_shaped(text) and len(text) >= 5 and any(c.isdigit() for c in text)


# In order: the first hint whose name matches applies (`soc_sec_id` is an SSN, not a record key).
NAME_HINTS: tuple[NameHint, ...] = (
    NameHint("EMAIL_ADDRESS", _any("email", "mail", "emailaddress"), fits=lambda t: "@" in t),
    NameHint("PHONE_NUMBER", _any("phone", "telephone", "tel", "mobile", "cellphone", "fax"),
             fits=lambda t: 7 <= len(_digits(t)) <= 15),
    NameHint("US_SSN", lambda tk: "ssn" in tk or {"soc", "sec"} <= set(tk) or {"social", "security"} <= set(tk),
             classify=_national_id),
    NameHint("US_PASSPORT", _any("passport"), fits=_has_digit_token),
    NameHint("US_DRIVER_LICENSE", _any("drivers", "driver", "licence", "license"), fits=_has_digit_token),
    NameHint("PERSON", lambda tk: _PERSON_NAME.fullmatch("_".join(tk)) is not None, fits=_person_shaped),
    NameHint("STREET_ADDRESS", lambda tk: bool({"address", "addr", "street"} & set(tk)) and not {"ip", "mac"} & set(tk),
             fits=lambda t: 0 < len(t.split()) <= 12),
    NameHint("DATE_TIME", _any("birthdate", "birthday", "dob", "birth", "deathdate", "death"), fits=looks_like_date),
    NameHint("ZIP_CODE", _any("zip", "zipcode", "postcode", "postal", "postalcode"),
             fits=lambda t: len(_digits(t)) >= 3 and re.fullmatch(r"[A-Za-z0-9 -]{3,10}", t) is not None),
    NameHint("GEO_COORDINATE", _any("lat", "latitude", "lon", "lng", "longitude"), fits=_number_within(-180, 180)),
    NameHint("LOCATION", _any("city", "town", "suburb", "county", "state", "country", "birthplace", "province",
                              "region", "fips", "municipality", "locality"),
             fits=lambda t: bool(re.search(r"\w", t)) and len(t.split()) <= 8),
    NameHint("AGE", _any("age"), fits=_number_within(0, 130)),
    NameHint("GENDER", _any("sex", "gender"), fits=lambda t: 0 < len(t) <= 20),
    NameHint("NRP", _any("race", "ethnicity", "ethnic", "religion"), fits=lambda t: 0 < len(t) <= 40),
    NameHint("INCOME", _any("income", "salary", "wage", "wages", "earnings"), fits=lambda t: bool(t)),
    NameHint("IDENTIFIER", _any("id", "uuid", "guid", "mrn", "identifier"), fits=_token_shaped),
)


def hint_for(column: str) -> NameHint | None:
    tokens = name_tokens(column)
    return next((hint for hint in NAME_HINTS if hint.matches(tokens)), None)
