"""Value shapes and column-name hints: the evidence the classifier adds to Presidio's."""

from __future__ import annotations

import pytest

from synth_pipeline.pii.shapes import (
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


@pytest.mark.parametrize(("text", "expected"), [
    ("2022-07-20", True), ("2022-07-20 13:45:00", True), ("2023-10-18T08:00:00Z", True), ("07/20/2022", True),
    ("20/07/2022", True), ("19081209", True), ("March 3, 2021", True), ("3 Nov 1999", True),
    ("68504", False), ("693391143", False), ("3763 39TH", False), ("1331", False), ("999-80-5692", False),
    ("2022-13-40", False), ("yesterday", False), ("2 days", False), ("May", False), ("19081309", False),
])
def test_a_date_must_look_like_one(text, expected):
    assert looks_like_date(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("https://example.org", True), ("www.example.com", True), ("example.com/about", True), ("shop.example.co.uk", True),
    ("example.com:8080", True), ("example.com?q=1", True),
    ("high.school", False), ("university.degree", False), ("professional.course", False), ("basic.4y", False),
    ("admin.", False), ("example.com", False),
])
def test_a_url_must_look_like_one(text, expected):
    """Bank marketing's education levels are not web addresses, though `.school` and `.degree` are real TLDs."""
    assert looks_like_url(text) is expected


@pytest.mark.parametrize(("column", "entity"), [
    ("SSN", "US_SSN"), ("soc_sec_id", "US_SSN"), ("email", "EMAIL_ADDRESS"), ("PHONE", "PHONE_NUMBER"),
    ("FIRST", "PERSON"), ("given_name", "PERSON"), ("lastName", "PERSON"), ("surname", "PERSON"),
    ("MAIDEN", "PERSON"), ("ADDRESS", "STREET_ADDRESS"), ("address_1", "STREET_ADDRESS"),
    ("street_number", "STREET_ADDRESS"), ("date_of_birth", "DATE_TIME"), ("BIRTHDATE", "DATE_TIME"),
    ("ZIP", "ZIP_CODE"), ("postcode", "ZIP_CODE"), ("LAT", "GEO_COORDINATE"), ("native_country", "LOCATION"),
    ("BIRTHPLACE", "LOCATION"), ("age", "AGE"), ("sex", "GENDER"), ("race", "NRP"), ("income", "INCOME"),
    ("Id", "IDENTIFIER"), ("rec_id", "IDENTIFIER"), ("DRIVERS", "US_DRIVER_LICENSE"), ("PASSPORT", "US_PASSPORT"),
    # names that say nothing, or too little: the values decide
    ("NAME", None), ("last_visit", None), ("relationship", None), ("fnlwgt", None), ("ip_address", None),
    ("non_pii", None), ("stage", None), ("HEALTHCARE_EXPENSES", None),
])
def test_column_names_that_name_an_entity(column, entity):
    hint = hint_for(column)
    assert (hint.entity if hint else None) == entity


@pytest.mark.parametrize(("column", "value", "entity"), [
    ("SSN", "999-49-3983", "US_SSN"), ("soc_sec_id", "6988048", "NATIONAL_ID"), ("SSN", "unknown", None),
    ("email", "no address given", None), ("LAT", "41.0268", "GEO_COORDINATE"), ("LAT", "north", None),
    ("age", "39", "AGE"), ("age", "390", None), ("BIRTHDATE", "2001-02-03", "DATE_TIME"), ("BIRTHDATE", "n/a", None),
    ("ZIP", "68504", "ZIP_CODE"), ("ZIP", "unknown", None), ("FIRST", "Alice368", "PERSON"), ("Id", "a b", None),
])
def test_a_hint_counts_only_values_of_the_entitys_shape(column, value, entity):
    assert hint_for(column).entity_for(value) == entity


@pytest.mark.parametrize(("text", "expected"), [
    ("My phone number is 212-555-1111 and my SSN is 123-45-6789.", True),
    ("accepted the offer license number AC432223", False),  # one function word
    ("called him yesterday to confirm he requested to call back", True),
    ("CHADRON COMMUNITY HOSPITAL CORP", False), ("HARMONY HEALTH AND WELLNESS LLC", False), ("x" * 250, True),
])
def test_prose(text, expected):
    assert is_prose(text) is expected


def test_small_helpers():
    assert name_tokens("dateOfBirth") == name_tokens("DATE_OF_BIRTH") == name_tokens("date-of-birth") == (
        "date", "of", "birth")
    assert for_ner("Johna806 Klein929") == "Johna Klein" and for_ner("CRAWFORD") == "Crawford"
    assert for_ner("X44046122X") == "X44046122X"  # identifiers keep their digits
    assert is_decimal("41.0268") and is_decimal("-96.6") and is_decimal("1e5")
    assert not is_decimal("68504") and not is_decimal("999-49-3983")


@pytest.mark.parametrize(("text", "expected"), [
    ("5.54563E+15", True), ("4.35224e+15", True), ("5,54563E+15", True), ("1.2E+12", True), ("9.99E+18", True),
    ("1E+15", True),
    ("1.2E+11", False),  # 12 digits: not a card or account number
    ("1.2E+19", False),  # 20 digits
    ("5.5E-15", False), ("41.0268", False), ("5545630000000000", False), ("E+15", False),
])
def test_a_spreadsheet_mangled_number_has_13_to_19_digits(text, expected):
    assert is_mangled_number(text) is expected


@pytest.mark.parametrize(("text", "column", "region"), [
    ("68504", "zip", "US"), ("68504-1234", "zip", "US"), ("SW1A 1AA", "postcode", "GB"), ("M1 2TT", "ZipCode", "GB"),
    ("1317 YB", "postcode", "NL"), ("K1A 0B1", "postal_code", "CA"), ("56231", "PLZ", "DE"),
    ("32353", "code_postal", "FR"), ("38274", "codigo_postal", "ES"), ("2600", "postcode", "4-digit"),
    ("56231", "postcode", "US"),  # a bare 5-digit code under an English name: a ZIP, the only reading left
    ("unknown", "zip", None), ("123", "zip", None),
])
def test_the_country_of_a_postcode_from_its_shape_and_the_columns_language(text, column, region):
    assert postcode_region(text, column=column) == region


@pytest.mark.parametrize(("column", "value", "entity"), [
    ("Password", "@%kFyTkV(3", "PASSWORD"), ("CVV2", "883", "CARD_VERIFICATION_CODE"), ("CVV2", "n/a", None),
    ("PIN", "8506", "PIN"), ("PIN", "abcd", None), ("api_key", "b05af1a9b4c3", "CREDENTIAL"), ("api_key", "x", None),
    ("Username", "catherine84", "USERNAME"), ("Username", "two words", None),
    ("CCNumber", "4981 5871 2445 1288", "CREDIT_CARD"), ("CCNumber", "5.54563E+15", None),  # the shape rule's
    ("IBAN", "DE84 9262 1944 9973 1916 14", "IBAN_CODE"), ("Kontonummer", "001831222876623411", "BANK_ACCOUNT"),
    ("rekeningnummer", "NL91XIKU7100546936", "IBAN_CODE"), ("Kontonummer", "n/a", None),
    ("NationalID", "ZZ 17 83 66 T", "NATIONAL_ID"), ("PLZ", "56231", "ZIP_CODE"), ("postcode", "SW1A 1AA", "ZIP_CODE"),
])
def test_a_new_hint_counts_only_values_of_its_shape(column, value, entity):
    assert hint_for(column).entity_for(value) == entity
