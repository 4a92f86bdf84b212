"""What a column's name and its values' shape say, beside Presidio.

spaCy's small model, fed one short cell at a time, is unreliable both ways: it calls "Husband" a place and misses
"Alice368 Gleason633" (Synthea's names carry numeric suffixes). So the classifier also reads the column's name (a
lexicon of unambiguous names in English, German, French, Spanish and Dutch: `ssn`, `first_name`, `zip`, `Passwort`,
`mot_de_passe`, `gebruikersnaam`, ...; see `names`), counting the values whose shape fits the named entity, and it
checks shapes Presidio gets wrong: a DATE_TIME must look like a date (a house number or a ZIP code does not), and a
decimal number is a measurement, not an identifier.

The rule for a name and its values: a name counts once per value whose shape fits what it names (a password
column's values are single lines, a CVV's three or four digits, a card number's 13 to 19 digits), each as one
result at `classify.HINT_SCORE`, and the entity is then found by the same share rule as Presidio's results. A name
over values that do not fit adds nothing (a `card_number` column of "n/a" is not a card column): the values, and the
shape rules (near-unique keys, mangled numbers), decide. Secrets' shapes are broad on purpose, so a secret's name
almost always counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from synth_pipeline.pii import names

# The entity types the scan reports: Presidio's, plus those the name lexicon and the shape rules add
# (STREET_ADDRESS, ZIP_CODE, GEO_COORDINATE, GENDER, INCOME, NATIONAL_ID, IDENTIFIER, USERNAME, BANK_ACCOUNT,
# MANGLED_NUMBER and the secrets). An entity not listed here (a new Presidio recognizer) counts as a direct
# identifier: the safe side.
SECRET_ENTITIES = ("PASSWORD", "CARD_VERIFICATION_CODE", "PIN", "SECURITY_ANSWER", "CREDENTIAL")
ENTITY_CLASS: dict[str, str] = {
    **dict.fromkeys(SECRET_ENTITIES, "secret"),
    **dict.fromkeys(
        ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "US_ITIN", "US_PASSPORT", "US_DRIVER_LICENSE",
         "US_BANK_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "MAC_ADDRESS", "URL", "CRYPTO", "UK_NHS",
         "MEDICAL_LICENSE", "UUID", "STREET_ADDRESS", "NATIONAL_ID", "IDENTIFIER", "USERNAME", "BANK_ACCOUNT",
         "MANGLED_NUMBER"], "direct_identifier"),
    **dict.fromkeys(["LOCATION", "DATE_TIME", "ZIP_CODE", "GEO_COORDINATE", "AGE", "GENDER"], "quasi_identifier"),
    **dict.fromkeys(["NRP", "INCOME"], "sensitive"),
}
CLASS_SEVERITY = ("secret", "direct_identifier", "quasi_identifier", "sensitive")

_DECIMAL = re.compile(r"[+-]?(\d+\.\d+|\.\d+)([eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})")
_COMPACT = re.compile(r"(1[89]|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")
_MONTH_NAME = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?![a-z])", re.IGNORECASE)
# A 13- to 19-digit number as a spreadsheet shows it (5.54563E+15; 5,54563E+15 in a comma-decimal locale): a card
# or account number whose trailing digits are lost.
_MANGLED = re.compile(r"[+-]?\d(?:[.,]\d+)?[eE]\+?0*(1[2-8])")
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


def is_mangled_number(text: str) -> bool:
    return _MANGLED.fullmatch(text.strip()) is not None


_URL_SHAPE = re.compile(r"[a-z][a-z0-9+.-]*://|www\.|[^\s/]+\.[^\s/]+[/:?#]|([^\s.]+\.){2,}[^\s.]+", re.IGNORECASE)
URL_WORDS = frozenset({"url", "uri", "website", "homepage", "web", "site", "domain", "link", "href"})


def looks_like_url(text: str) -> bool:
    """A web address: a scheme, `www.`, a path, port or query after the host, or a host of three labels or more.
    Not a bare `word.word`: since the new generic top-level domains, Presidio reads `high.school` and
    `university.degree` (category labels) as URLs. A column named for web addresses keeps bare hosts."""
    return _URL_SHAPE.search(text.strip()) is not None


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
    return tuple(names.normalized_name(column).split("_")) if names.normalized_name(column) else ()


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
    matches: Callable[[str], bool]  # on the normalized name (`names.normalized_name`)
    fits: Callable[[str], bool] | None = None
    classify: Callable[[str], str | None] | None = None

    def entity_for(self, text: str) -> str | None:
        if self.classify is not None:
            return self.classify(text)
        return self.entity if self.fits(text) else None


def _any(*words: str, foreign: str | None = None) -> Callable[[str], bool]:
    """Any of the English words as a token of the name, or the other languages' words for `foreign`."""
    wanted = set(words)
    other = names.FOREIGN_WORDS.get(foreign) if foreign else None
    return lambda name: bool(wanted & set(name.split("_"))) or (other is not None and other.matches(name))


_PERSON_NAME = re.compile(r"(first|last|given|family|maiden|middle|full|sur|fore|patient|person|contact|customer"
                          r"|member|f|l)_?names?|first|last|given|maiden|surname|forename")


def _person_shaped(text: str) -> bool:
    return bool(re.search(r"[^\W\d_]", text)) and "@" not in text and len(text.split()) <= 6


def _token_shaped(text: str) -> bool:
    return 0 < len(text) <= 64 and not any(c.isspace() for c in text)


def _has_digit_token(text: str) -> bool:
    return _token_shaped(text) and len(text) >= 5 and any(c.isdigit() for c in text)


def _id_number(text: str) -> bool:
    """A national id as written in any of the countries: digits (at least 6), letters and separators."""
    return len(_digits(text)) >= 6 and re.fullmatch(r"[A-Za-z0-9 ./-]{6,30}", text.strip()) is not None


def _is_iban(text: str) -> bool:
    return re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", re.sub(r"[ -]", "", text).upper()) is not None


def _bank_account(text: str) -> str | None:
    if _is_iban(text):
        return "IBAN_CODE"
    return "BANK_ACCOUNT" if 6 <= len(_digits(text)) <= 34 and re.fullmatch(r"[A-Za-z0-9 -]{6,40}", text) else None


def _card_digits(text: str) -> bool:
    return 13 <= len(_digits(text)) <= 19 and re.fullmatch(r"[\d -]+", text.strip()) is not None


# Postcode shapes that name their country; a bare 5-digit code is a US ZIP unless the column's language says
# otherwise (`names.postcode_country`), and a bare 4-digit one belongs to one of many countries (AU, AT, BE, CH,
# DK, NL without its letters, ...).
_POSTCODE_SHAPES = (
    ("US", re.compile(r"\d{5}(-\d{4})?")),
    ("GB", re.compile(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", re.IGNORECASE)),
    ("NL", re.compile(r"\d{4} ?[A-Z]{2}", re.IGNORECASE)),
    ("CA", re.compile(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", re.IGNORECASE)),
    ("4-digit", re.compile(r"\d{4}")),
)


def postcode_region(text: str, *, column: str) -> str | None:
    """The country whose postcode shape the value has (US, GB, NL, CA, DE, FR, ES, or '4-digit'), if any."""
    text = text.strip()
    region = next((region for region, shape in _POSTCODE_SHAPES if shape.fullmatch(text)), None)
    if region == "US" and len(text) == 5:
        return names.postcode_country(names.normalized_name(column)) or "US"
    return region


def _postcode_shaped(text: str) -> bool:
    if any(shape.fullmatch(text.strip()) for _, shape in _POSTCODE_SHAPES):
        return True
    return len(_digits(text)) >= 3 and re.fullmatch(r"[A-Za-z0-9 -]{3,10}", text) is not None


# In order: the first hint whose name matches applies (`soc_sec_id` is an SSN, not a record key; `email_password`
# a password; `mothers_maiden_name` a security answer, not a person's name).
NAME_HINTS: tuple[NameHint, ...] = (
    NameHint("PASSWORD", names.PASSWORD.matches, fits=lambda t: 0 < len(t) <= 128 and "\n" not in t),
    NameHint("CARD_VERIFICATION_CODE", names.CARD_VERIFICATION.matches,
             fits=lambda t: re.fullmatch(r"\d{3,4}", t.strip()) is not None),
    NameHint("PIN", names.PIN.matches, fits=lambda t: re.fullmatch(r"\d{4,12}", t.strip()) is not None),
    NameHint("SECURITY_ANSWER", names.SECURITY_ANSWER.matches, fits=lambda t: 0 < len(t.split()) <= 8),
    NameHint("CREDENTIAL", names.CREDENTIAL.matches, fits=lambda t: _token_shaped(t) and len(t) >= 8),
    NameHint("EMAIL_ADDRESS", _any("email", "mail", "emailaddress", foreign="EMAIL_ADDRESS"), fits=lambda t: "@" in t),
    NameHint("PHONE_NUMBER", _any("phone", "telephone", "tel", "mobile", "cellphone", "fax", foreign="PHONE_NUMBER"),
             fits=lambda t: 7 <= len(_digits(t)) <= 15),
    NameHint("US_SSN", lambda n: "ssn" in n.split("_") or {"soc", "sec"} <= set(n.split("_"))
             or {"social", "security"} <= set(n.split("_")), classify=_national_id),
    NameHint("USERNAME", names.USERNAME.matches, fits=lambda t: _token_shaped(t) and len(t) >= 2),
    NameHint("CREDIT_CARD", names.CARD_NUMBER.matches, fits=_card_digits),
    NameHint("IBAN_CODE", names.IBAN.matches, fits=_is_iban),
    NameHint("BANK_ACCOUNT", names.BANK_ACCOUNT.matches, classify=_bank_account),
    NameHint("NATIONAL_ID", names.NATIONAL_ID.matches, fits=_id_number),
    NameHint("US_PASSPORT", _any("passport", "reisepass", "passeport", "pasaporte", "paspoort"), fits=_has_digit_token),
    NameHint("US_DRIVER_LICENSE", _any("drivers", "driver", "licence", "license", "fuhrerschein"),
             fits=_has_digit_token),
    NameHint("PERSON", lambda n: _PERSON_NAME.fullmatch(n) is not None or names.FOREIGN_WORDS["PERSON"].matches(n),
             fits=_person_shaped),
    NameHint("STREET_ADDRESS", lambda n: (bool({"address", "addr", "street"} & set(n.split("_")))
                                          or names.FOREIGN_WORDS["STREET_ADDRESS"].matches(n))
             and not {"ip", "mac"} & set(n.split("_")),
             fits=lambda t: 0 < len(t.split()) <= 12),
    NameHint("DATE_TIME", _any("birthdate", "birthday", "dob", "birth", "deathdate", "death", foreign="DATE_TIME"),
             fits=looks_like_date),
    NameHint("ZIP_CODE", _any("zip", "zipcode", "postcode", "postal", "postalcode", foreign="ZIP_CODE"),
             fits=_postcode_shaped),
    NameHint("GEO_COORDINATE", _any("lat", "latitude", "lon", "lng", "longitude"), fits=_number_within(-180, 180)),
    NameHint("LOCATION", _any("city", "town", "suburb", "county", "state", "country", "birthplace", "province",
                              "region", "fips", "municipality", "locality", foreign="LOCATION"),
             fits=lambda t: bool(re.search(r"\w", t)) and len(t.split()) <= 8),
    NameHint("AGE", _any("age", foreign="AGE"), fits=_number_within(0, 130)),
    NameHint("GENDER", _any("sex", "gender", foreign="GENDER"), fits=lambda t: 0 < len(t) <= 20),
    NameHint("NRP", _any("race", "ethnicity", "ethnic", "religion"), fits=lambda t: 0 < len(t) <= 40),
    NameHint("INCOME", _any("income", "salary", "wage", "wages", "earnings"), fits=lambda t: bool(t)),
    NameHint("IDENTIFIER", _any("id", "uuid", "guid", "mrn", "identifier"), fits=_token_shaped),
)


def hint_for(column: str) -> NameHint | None:
    name = names.normalized_name(column)
    return next((hint for hint in NAME_HINTS if hint.matches(name)), None)
