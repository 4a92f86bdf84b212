"""A generated benchmark for the PII scan: tables of fake people made with Faker's providers, seeded, in five locales
(en_US, de_DE, fr_FR, nl_NL, en_GB; es_ES for Spanish column names), with column names in their languages.

Each column carries its truth: the class the scan should give it, the rule it exercises (a name in some language,
a secret, a near-unique key, a spreadsheet-mangled card number, a sparse identifier, a postcode of some country, an
event date, or plainly harmless: amounts, categories, quantities, codes from a short list) and, for postcodes, the
coarsening the suggested `pii:` block should carry. `synth_pipeline.bench.pii` reports recall and precision per
class from it, and `tests/pii/test_pii_generated.py` runs it small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

LOCALES = ("en_US", "de_DE", "fr_FR", "nl_NL", "en_GB")
SPARSE_SHARE = 0.05  # of the rows holding an identifier in an otherwise harmless column
CLASSES = ("secret", "direct_identifier", "quasi_identifier", "none")

Make = Callable[["object", int, np.random.Generator], str]  # (a Faker for the row's locale, row number, rng)


@dataclass(frozen=True)
class Column:
    name: str
    expected: str  # the class the scan should give it
    rule: str  # what it exercises
    make: Make
    postcode: str | None = None  # the suggested action for a postcode column: "zip_prefix: N" or "drop"


@dataclass(frozen=True)
class Table:
    name: str
    locales: tuple[str, ...]  # each row's locale is drawn from these
    columns: tuple[Column, ...]


def _pick(*choices: str) -> Make:
    return lambda fake, row, rng: choices[int(rng.integers(len(choices)))]


def _sparse(identifier: Make, *filler: str) -> Make:
    """An identifier in SPARSE_SHARE of the rows (every 20th), a short harmless code in the others."""
    every = round(1 / SPARSE_SHARE)
    pick = _pick(*filler)
    return lambda fake, row, rng: identifier(fake, row, rng) if row % every == 0 else pick(fake, row, rng)


def _mangled_card(fake, row, rng) -> str:
    """A card number as a spreadsheet shows it after reading it as a number: 5.54563E+15."""
    return f"{int(fake.credit_card_number(card_type='visa16')):.5E}"


def _us_ssn(fake, row, rng) -> str:
    """A US SSN in any row's locale (Faker's `ssn` is each country's own national number)."""
    area, group, serial = rng.integers(100, 666), rng.integers(10, 100), rng.integers(1000, 10_000)
    return f"{area:03d}-{group:02d}-{serial:04d}"


def _card(fake, row, rng) -> str:
    return fake.credit_card_number(card_type=("visa16", "mastercard")[row % 2])


def _amount(fake, row, rng) -> str:
    return f"{rng.uniform(1, 5000):.2f}"


def _day(fake, row, rng) -> str:
    return fake.date_between(start_date="-3y", end_date="today").isoformat()


# Plainly harmless columns, and one event date: a date tied to a person (an order's, a visit's) is a
# quasi-identifier, as HIPAA's Safe Harbor counts every such date, so the scan flags it (and the spec generalizes it
# to a year or month); it is labelled so here, never as a direct identifier.
_HARMLESS: tuple[Column, ...] = (
    Column("amount", "none", "harmless", _amount),
    Column("order_date", "quasi_identifier", "event_date", _day),
    Column("category", "none", "harmless", _pick("books", "garden", "toys", "food", "music", "tools")),
    Column("currency", "none", "harmless", _pick("EUR", "USD", "GBP")),
    Column("product_code", "none", "harmless", _pick(*(f"SKU-{n}" for n in range(1000, 1030)))),
    Column("quantity", "none", "harmless", lambda fake, row, rng: str(int(rng.integers(1, 20)))),
    Column("status", "none", "harmless", _pick("open", "shipped", "returned", "closed")),
)

# A held-out-style table of people from all five locales, named as a fake-identity generator names its columns.
PEOPLE = Table("people_mixed", LOCALES, (
    Column("Number", "direct_identifier", "near_unique", lambda fake, row, rng: str(row + 1)),
    Column("GivenName", "direct_identifier", "name:person", lambda fake, row, rng: fake.first_name()),
    Column("Surname", "direct_identifier", "name:person", lambda fake, row, rng: fake.last_name()),
    Column("StreetAddress", "direct_identifier", "name:address", lambda fake, row, rng: fake.street_address()),
    Column("City", "quasi_identifier", "name:location", lambda fake, row, rng: fake.city()),
    Column("ZipCode", "quasi_identifier", "postcode:mixed", lambda fake, row, rng: fake.postcode(), postcode="drop"),
    Column("EmailAddress", "direct_identifier", "name:email", lambda fake, row, rng: fake.email()),
    Column("Username", "direct_identifier", "name:username", lambda fake, row, rng: fake.user_name()),
    Column("Password", "secret", "secret:password", lambda fake, row, rng: fake.password()),
    Column("TelephoneNumber", "direct_identifier", "name:phone", lambda fake, row, rng: fake.phone_number()),
    Column("MothersMaiden", "secret", "secret:security_answer", lambda fake, row, rng: fake.last_name()),
    Column("Birthday", "quasi_identifier", "name:birth_date",
           lambda fake, row, rng: fake.date_of_birth().strftime("%m/%d/%Y")),
    Column("CCNumber", "direct_identifier", "mangled_number", _mangled_card),
    Column("CVV2", "secret", "secret:card_verification",
           lambda fake, row, rng: fake.credit_card_security_code(card_type="visa16")),
    Column("NationalID", "direct_identifier", "name:national_id", lambda fake, row, rng: fake.ssn()),
    Column("GUID", "direct_identifier", "name:identifier", lambda fake, row, rng: fake.uuid4()),
    Column("Reference", "direct_identifier", "sparse:ssn", _sparse(_us_ssn, "ok", "n/a", "see file", "pending")),
    Column("PaymentNote", "direct_identifier", "sparse:card", _sparse(_card, "cash", "transfer", "invoice")),
    Column("BloodType", "none", "harmless", _pick("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")),
    *_HARMLESS,
))

GERMAN = Table("people_de", ("de_DE",), (
    Column("Vorname", "direct_identifier", "name:person", lambda fake, row, rng: fake.first_name()),
    Column("Nachname", "direct_identifier", "name:person", lambda fake, row, rng: fake.last_name()),
    Column("Benutzername", "direct_identifier", "name:username", lambda fake, row, rng: fake.user_name()),
    Column("Passwort", "secret", "secret:password", lambda fake, row, rng: fake.password()),
    Column("Geheimzahl", "secret", "secret:pin", lambda fake, row, rng: f"{int(rng.integers(0, 10_000)):04d}"),
    Column("Sicherheitsfrage", "secret", "secret:security_answer", lambda fake, row, rng: fake.city()),
    Column("Strasse", "direct_identifier", "name:address", lambda fake, row, rng: fake.street_address()),
    Column("PLZ", "quasi_identifier", "postcode:DE", lambda fake, row, rng: fake.postcode(), postcode="zip_prefix: 2"),
    Column("IBAN", "direct_identifier", "name:iban", lambda fake, row, rng: fake.iban()),
    Column("Kontonummer", "direct_identifier", "name:account", lambda fake, row, rng: fake.bban()),
    Column("Telefonnummer", "direct_identifier", "name:phone", lambda fake, row, rng: fake.phone_number()),
    Column("Geburtsdatum", "quasi_identifier", "name:birth_date",
           lambda fake, row, rng: fake.date_of_birth().strftime("%d.%m.%Y")),
    Column("Betrag", "none", "harmless", _amount),
    Column("Kategorie", "none", "harmless", _pick("Bücher", "Garten", "Spielzeug", "Lebensmittel")),
))

FRENCH = Table("people_fr", ("fr_FR",), (
    Column("prenom", "direct_identifier", "name:person", lambda fake, row, rng: fake.first_name()),
    Column("nom", "direct_identifier", "name:person", lambda fake, row, rng: fake.last_name()),
    Column("nom_utilisateur", "direct_identifier", "name:username", lambda fake, row, rng: fake.user_name()),
    Column("mot_de_passe", "secret", "secret:password", lambda fake, row, rng: fake.password()),
    Column("cryptogramme", "secret", "secret:card_verification",
           lambda fake, row, rng: fake.credit_card_security_code(card_type="visa16")),
    Column("numero_de_carte", "direct_identifier", "name:card", _card),
    Column("code_postal", "quasi_identifier", "postcode:FR", lambda fake, row, rng: fake.postcode(),
           postcode="zip_prefix: 2"),
    Column("telephone", "direct_identifier", "name:phone", lambda fake, row, rng: fake.phone_number()),
    Column("date_de_naissance", "quasi_identifier", "name:birth_date",
           lambda fake, row, rng: fake.date_of_birth().strftime("%d/%m/%Y")),
    Column("montant", "none", "harmless", _amount),
    Column("categorie", "none", "harmless", _pick("livres", "jardin", "jouets", "alimentation")),
))

DUTCH = Table("people_nl", ("nl_NL",), (
    Column("voornaam", "direct_identifier", "name:person", lambda fake, row, rng: fake.first_name()),
    Column("achternaam", "direct_identifier", "name:person", lambda fake, row, rng: fake.last_name()),
    Column("gebruikersnaam", "direct_identifier", "name:username", lambda fake, row, rng: fake.user_name()),
    Column("wachtwoord", "secret", "secret:password", lambda fake, row, rng: fake.password()),
    Column("beveiligingsvraag", "secret", "secret:security_answer", lambda fake, row, rng: fake.city()),
    Column("postcode", "quasi_identifier", "postcode:NL", lambda fake, row, rng: fake.postcode(),
           postcode="zip_prefix: 2"),
    Column("rekeningnummer", "direct_identifier", "name:account", lambda fake, row, rng: fake.iban()),
    Column("telefoonnummer", "direct_identifier", "name:phone", lambda fake, row, rng: fake.phone_number()),
    Column("bedrag", "none", "harmless", _amount),
    Column("categorie", "none", "harmless", _pick("boeken", "tuin", "speelgoed", "voeding")),
))

BRITISH = Table("people_gb", ("en_GB",), (
    Column("first_name", "direct_identifier", "name:person", lambda fake, row, rng: fake.first_name()),
    Column("last_name", "direct_identifier", "name:person", lambda fake, row, rng: fake.last_name()),
    Column("login", "direct_identifier", "name:username", lambda fake, row, rng: fake.user_name()),
    Column("api_key", "secret", "secret:credential", lambda fake, row, rng: fake.sha256()),
    Column("security_answer", "secret", "secret:security_answer", lambda fake, row, rng: fake.city()),
    Column("postcode", "quasi_identifier", "postcode:GB", lambda fake, row, rng: fake.postcode(), postcode="drop"),
    Column("account_number", "direct_identifier", "name:account",
           lambda fake, row, rng: f"{int(rng.integers(0, 100_000_000)):08d}"),
    Column("national_insurance_number", "direct_identifier", "name:national_id", lambda fake, row, rng: fake.ssn()),
    *_HARMLESS,
))

AMERICAN = Table("people_us", ("en_US",), (
    Column("ssn", "direct_identifier", "name:ssn", lambda fake, row, rng: fake.ssn()),
    Column("zip", "quasi_identifier", "postcode:US", lambda fake, row, rng: fake.zipcode(), postcode="zip_prefix: 3"),
    Column("pin", "secret", "secret:pin", lambda fake, row, rng: f"{int(rng.integers(0, 10_000)):04d}"),
    Column("access_token", "secret", "secret:credential", lambda fake, row, rng: fake.sha1()),
    Column("record", "direct_identifier", "near_unique", lambda fake, row, rng: f"R{700_000 + 7 * row}"),
    *_HARMLESS,
))

SPANISH = Table("people_es", ("es_ES",), (
    Column("nombre", "direct_identifier", "name:person", lambda fake, row, rng: fake.first_name()),
    Column("apellido", "direct_identifier", "name:person", lambda fake, row, rng: fake.last_name()),
    Column("usuario", "direct_identifier", "name:username", lambda fake, row, rng: fake.user_name()),
    Column("contraseña", "secret", "secret:password", lambda fake, row, rng: fake.password()),
    Column("codigo_postal", "quasi_identifier", "postcode:ES", lambda fake, row, rng: fake.postcode(),
           postcode="zip_prefix: 2"),
    Column("numero_de_cuenta", "direct_identifier", "name:account", lambda fake, row, rng: fake.iban()),
    Column("numero_de_tarjeta", "direct_identifier", "name:card", _card),
    Column("importe", "none", "harmless", _amount),
    Column("categoria", "none", "harmless", _pick("libros", "jardín", "juguetes", "alimentación")),
))

TABLES = (PEOPLE, GERMAN, FRENCH, DUTCH, BRITISH, AMERICAN, SPANISH)


def generate(table: Table, *, rows: int, seed: int) -> pd.DataFrame:
    """The table's rows as text (as a CSV read with dtype=str gives them), the same for the same seed."""
    from faker import Faker

    fakers = {}
    for offset, locale in enumerate(table.locales):
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(seed + offset)
    rng = np.random.default_rng(seed)
    row_locales = [table.locales[i] for i in rng.integers(len(table.locales), size=rows)]
    data = {column.name: [column.make(fakers[row_locales[row]], row, rng) for row in range(rows)]
            for column in table.columns}
    return pd.DataFrame(data, dtype=object)


@dataclass(frozen=True)
class Scored:
    table: str
    column: Column
    found_class: str | None
    suggestion: str | None  # the suggested pii: entry, for postcode columns


def score_generated(*, analyzer, rows: int, sample_size: int, seed: int = 0) -> list[Scored]:
    """Scan every generated table and set each column's class (and a postcode's suggestion) beside its truth."""
    from synth_pipeline.pii.classify import scan_table
    from synth_pipeline.pii.report import suggestion_for

    scored = []
    for table in TABLES:
        frame = generate(table, rows=rows, seed=seed)
        findings = scan_table(frame, analyzer=analyzer, sample_size=sample_size, rng=np.random.default_rng(seed),
                              custom_classes={})
        scored += [Scored(table.name, column, finding.pii_class, suggestion_for(finding) if column.postcode else None)
                   for column, finding in zip(table.columns, findings)]
    return scored


def per_class(scored: list[Scored]) -> dict[str, dict]:
    """Recall and precision of each class over the generated columns, and the postcode suggestions that fit."""
    report = {}
    for pii_class in CLASSES:
        expected = [s for s in scored if s.column.expected == pii_class]
        found = [s for s in scored if s.found_class == pii_class]
        hits = sum(s.column.expected == pii_class for s in found)
        report[pii_class] = {"columns": len(expected), "recall": round(hits / len(expected), 3) if expected else None,
                             "precision": round(hits / len(found), 3) if found else None}
    postcodes = [s for s in scored if s.column.postcode]
    fitting = sum(s.column.postcode in (s.suggestion or "") for s in postcodes)
    report["postcode_suggestions"] = f"{fitting}/{len(postcodes)}"
    return report
