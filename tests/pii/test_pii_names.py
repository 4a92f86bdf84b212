"""Column-name semantics in five languages: which entity a name hints at, which names say secret, and the names
that must hint at nothing (their values decide)."""

from __future__ import annotations

import pytest

from synth_pipeline.pii.names import normalized_name, secret_named
from synth_pipeline.pii.shapes import hint_for


@pytest.mark.parametrize(("column", "normalized"), [
    ("MothersMaiden", "mothers_maiden"), ("CCNumber", "cc_number"), ("CVV2", "cvv_2"), ("Straße", "strasse"),
    ("contraseña", "contrasena"), ("dateOfBirth", "date_of_birth"), ("NationalID", "national_id"),
    ("HEALTHCARE_EXPENSES", "healthcare_expenses"), ("  ", ""),
])
def test_names_are_normalized_before_matching(column, normalized):
    assert normalized_name(column) == normalized


@pytest.mark.parametrize(("column", "entity"), [
    # secrets
    ("Password", "PASSWORD"), ("user_password", "PASSWORD"), ("password_hash", "PASSWORD"), ("Passwort", "PASSWORD"),
    ("Kennwort", "PASSWORD"), ("mot_de_passe", "PASSWORD"), ("contraseña", "PASSWORD"), ("wachtwoord", "PASSWORD"),
    ("CVV2", "CARD_VERIFICATION_CODE"), ("cvc", "CARD_VERIFICATION_CODE"), ("cryptogramme", "CARD_VERIFICATION_CODE"),
    ("card_security_code", "CARD_VERIFICATION_CODE"), ("PIN", "PIN"), ("Geheimzahl", "PIN"), ("code_pin", "PIN"),
    ("MothersMaiden", "SECURITY_ANSWER"), ("mothers_maiden_name", "SECURITY_ANSWER"),
    ("security_question", "SECURITY_ANSWER"), ("Sicherheitsfrage", "SECURITY_ANSWER"),
    ("reponse_secrete", "SECURITY_ANSWER"), ("pregunta_de_seguridad", "SECURITY_ANSWER"),
    ("beveiligingsvraag", "SECURITY_ANSWER"), ("api_key", "CREDENTIAL"), ("access_token", "CREDENTIAL"),
    ("client_secret", "CREDENTIAL"), ("token", "CREDENTIAL"),
    # direct identifiers
    ("Username", "USERNAME"), ("user_id", "USERNAME"), ("login", "USERNAME"), ("Benutzername", "USERNAME"),
    ("nom_utilisateur", "USERNAME"), ("usuario", "USERNAME"), ("gebruikersnaam", "USERNAME"),
    ("CCNumber", "CREDIT_CARD"), ("card_number", "CREDIT_CARD"), ("Kreditkartennummer", "CREDIT_CARD"),
    ("numero_de_carte", "CREDIT_CARD"), ("numero_de_tarjeta", "CREDIT_CARD"), ("kaartnummer", "CREDIT_CARD"),
    ("IBAN", "IBAN_CODE"), ("account_number", "BANK_ACCOUNT"), ("Kontonummer", "BANK_ACCOUNT"),
    ("numero_de_compte", "BANK_ACCOUNT"), ("numero_de_cuenta", "BANK_ACCOUNT"), ("rekeningnummer", "BANK_ACCOUNT"),
    ("NationalID", "NATIONAL_ID"), ("national_insurance_number", "NATIONAL_ID"), ("BSN", "NATIONAL_ID"),
    ("Vorname", "PERSON"), ("nachname", "PERSON"), ("prenom", "PERSON"), ("nom", "PERSON"), ("apellido", "PERSON"),
    ("voornaam", "PERSON"), ("Telefonnummer", "PHONE_NUMBER"), ("telefoonnummer", "PHONE_NUMBER"),
    ("courriel", "EMAIL_ADDRESS"), ("Straße", "STREET_ADDRESS"), ("Geburtsdatum", "DATE_TIME"),
    ("date_de_naissance", "DATE_TIME"), ("PLZ", "ZIP_CODE"), ("code_postal", "ZIP_CODE"),
    ("codigo_postal", "ZIP_CODE"), ("ZipCode", "ZIP_CODE"), ("Wohnort", "LOCATION"), ("Geschlecht", "GENDER"),
    # names that describe a secret or a person without holding one, and harmless names: the values decide
    ("password_changed_at", None), ("pin_attempts", None), ("user_type", None), ("token_count", None),
    ("amount", None), ("Betrag", None), ("montant", None), ("importe", None), ("bedrag", None),
    ("category", None), ("Kategorie", None), ("order_date", None), ("quantity", None), ("status", None),
    ("currency", None), ("product_code", None), ("BloodType", None), ("CCType", None), ("Number", None),
])
def test_column_names_in_five_languages(column, entity):
    hint = hint_for(column)
    assert (hint.entity if hint else None) == entity


@pytest.mark.parametrize(("column", "kind"), [
    ("Password", "password"), ("pwd", "password"), ("CVV2", "card verification code"), ("pin", "PIN"),
    ("MothersMaiden", "security question or answer"), ("api_key", "key or token"),
    ("password_changed_at", None), ("pin_attempts", None), ("Username", None), ("maiden_name", None),
])
def test_secret_names(column, kind):
    assert secret_named(column) == kind
