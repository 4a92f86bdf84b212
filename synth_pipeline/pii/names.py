"""What a column's name says it holds, in English, German, French, Spanish and Dutch.

A name is normalized first (`normalized_name`): camelCase, acronyms and digit suffixes split, accents stripped,
case folded (`MothersMaiden` -> `mothers_maiden`, `CCNumber` -> `cc_number`, `CVV2` -> `cvv_2`, `Straße` ->
`strasse`, `contraseña` -> `contrasena`). A lexicon entry then matches in one of three ways:

- `anywhere`: its words appear as whole words anywhere in the name (`home_phone`, `telefon_privat`);
- `whole`: the words are the whole name, give or take a digit suffix (`user`, `pin`, `nom`): words too common to
  mean anything inside a longer name (`user_type`, `pin_length`);
- `head`: for secrets, the words end the name, or are followed only by a storage qualifier (`password`,
  `user_password`, `password_hash`; not `password_changed_at` or `pin_attempts`, which describe a secret without
  holding it). The spec refuses to keep a column whose name says secret this way, so the rule is kept narrow.

Patterns are written over normalized names: `_?` joins the parts of a compound (`user_?name` is `username` and
`user_name`; `benutzer_?name` is `Benutzername`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# What may follow a secret's words and still name the secret itself.
_SECRET_QUALIFIERS = r"hash|hashed|md5|sha\d*|bcrypt|plain|plaintext|clear|text|value|enc|encrypted|crypted|\d+"


def normalized_name(column: object) -> str:
    """`dateOfBirth`, `DATE_OF_BIRTH` and `date-of-birth` all give `date_of_birth`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"([a-z])(\d)", r"\1_\2", text)
    return "_".join(t for t in re.split(r"[^a-z0-9]+", text) if t)


@dataclass(frozen=True)
class NameRule:
    """One lexicon entry: the words (regular expressions over a normalized name) and how they must sit in it."""

    anywhere: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()
    head: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        pattern = _compiled(self)
        return pattern is not None and pattern.search(name) is not None


@lru_cache(maxsize=None)
def _compiled(rule: NameRule) -> re.Pattern | None:
    parts = []
    if rule.anywhere:
        parts.append(rf"(?:^|_)(?:{'|'.join(rule.anywhere)})(?:_|$)")
    if rule.whole:
        parts.append(rf"^(?:{'|'.join(rule.whole)})(?:_\d+)?$")
    if rule.head:
        parts.append(rf"(?:^|_)(?:{'|'.join(rule.head)})(?:_(?:{_SECRET_QUALIFIERS}))*$")
    return re.compile("|".join(parts)) if parts else None


# Secrets: never kept, never generalized (spec.pii refuses it; the scan's class `secret`).
PASSWORD = NameRule(head=(
    r"pass_?word", "passwd", "pwd", r"pass_?phrase", r"pass_?code", "passwort", "kennwort", r"mot_?de_?passe", "mdp",
    "contrasena", r"clave(_?de_?acceso)?", r"wacht_?woord", r"one_?time_?password", "otp"))
CARD_VERIFICATION = NameRule(head=(
    "cvv", "cvc", "cvn", "cvv_?2", "cvc_?2", r"card_?verification(_?(code|value|number))?",
    r"card_?security_?code", r"security_?code", "cryptogramme", r"code_?de_?securite",
    r"karten_?pruef_?(nummer|ziffer)",
    r"pruef_?(nummer|ziffer)", r"codigo_?de_?seguridad", r"beveiligings_?code", r"verificatie_?code"))
PIN = NameRule(head=(r"pin_?(number|nummer|numero|no|nr)", r"geheim_?zahl", r"code_?pin", r"code_?secret"),
               whole=("pin",))
SECURITY_ANSWER = NameRule(head=(
    r"security_?(question|answer)(_?\d)?", r"secret_?(question|answer)", r"mothers?_?maiden(_?name)?",
    r"maiden_?name_?of_?mother", r"sicherheits_?(frage|antwort)", r"geheim_?(frage|antwort)",
    r"geburts_?name_?(der_?)?mutter", r"mutter_?(geburts|madchen)_?name", r"question_?secrete",
    r"reponse_?secrete", r"nom_?de_?jeune_?fille_?de_?la_?mere", r"pregunta_?(de_?)?seguridad",
    r"respuesta_?(de_?)?seguridad", r"apellido_?de_?soltera_?de_?la_?madre",
    r"(beveiligings|veiligheids)_?(vraag|antwoord)",
    r"meisjesnaam_?(van_?)?(de_?)?moeder"))
CREDENTIAL = NameRule(head=(
    r"api_?key", r"api_?secret", r"access_?key", r"secret_?key", r"private_?key", r"client_?secret",
    r"(access|auth|bearer|refresh|session|api|security)_?token", "secret", "token", r"api_?schluessel",
    r"api_?sleutel", r"cle_?(api|secrete|privee)", r"jeton(_?d_?acces)?", r"clave_?(api|secreta|privada)",
    r"geheime_?sleutel", r"geheimer?_?schluessel"))

# Direct identifiers the scan knew nothing of before, beside the names in `shapes.NAME_HINTS`.
USERNAME = NameRule(
    anywhere=(r"user_?name", r"user_?id", "userid", r"login(_?name|_?id)?", r"screen_?name", r"nick_?name",
              r"account_?name", r"benutzer_?(name|kennung|id)", r"anmelde_?name", r"nom_?(d_?)?utilisateur",
              r"nombre_?(de_?)?usuario", r"gebruikers_?naam", r"inlog_?naam"),
    whole=("user", "login", "handle", "benutzer", "identifiant", "pseudo", "usuario", "gebruiker", "utilisateur"))
CARD_NUMBER = NameRule(
    anywhere=(r"(credit_?|debit_?|bank_?)?card_?(number|no|nr|num)", "creditcard", r"credit_?card",
              r"cc_?(number|num|no|nr)",
              r"kredit_?karten?(_?nummer)?", r"karten_?nummer", r"numero_?(de_?)?carte", r"carte_?bancaire",
              r"numero_?(de_?)?tarjeta", r"tarjeta_?(de_?)?credito", r"kaart_?nummer", r"creditcard_?nummer",
              r"card_?pan"),
    whole=("cc", "pan", "ccn"))
IBAN = NameRule(anywhere=("iban",))
BANK_ACCOUNT = NameRule(anywhere=(
    r"(bank_?)?account_?(number|no|nr|num)", r"acct_?(number|no|nr|num)?", r"bank_?account", r"konto_?(nummer|nr)",
    r"numero_?(de_?)?compte", r"compte_?bancaire", r"numero_?(de_?)?cuenta", r"cuenta_?bancaria",
    r"rekening_?(nummer|nr)", r"bank_?rekening"), whole=("konto", "compte", "cuenta", "rekening"))
NATIONAL_ID = NameRule(anywhere=(
    r"national_?(id|insurance|identity)(_?(number|no|nr))?", "nino", r"tax_?id",
    r"steuer_?(id|nummer|identifikationsnummer)",
    r"sozial_?versicherungs_?nummer", r"personal_?ausweis(_?nummer)?", r"ausweis_?nummer",
    r"numero_?(de_?)?securite_?sociale", "insee", r"burger_?service_?nummer", "bsn", r"sofi_?nummer",
    r"numero_?(de_?)?seguridad_?social", "dni", "nie", "nif"))

# Other languages' words for what `shapes.NAME_HINTS` already reads in English.
FOREIGN_WORDS: dict[str, NameRule] = {
    "EMAIL_ADDRESS": NameRule(anywhere=("courriel", r"correo(_?electronico)?", r"e_?mail_?adres(se)?")),
    "PHONE_NUMBER": NameRule(anywhere=(r"telefon(_?nummer)?", r"handy(_?nummer)?", r"mobil(_?nummer)?", "telefono",
                                       "movil", "celular", r"telefoon(_?nummer)?", "mobiel", "gsm",
                                       r"numero_?de_?telephone"),
                             whole=("portable", "tel")),
    "PERSON": NameRule(anywhere=("vorname", "nachname", "familienname", "geburtsname", "madchenname", "prenom",
                                 r"nom_?de_?famille", r"nom_?de_?jeune_?fille", r"nom_?complet", "apellidos?",
                                 r"primer_?apellido", r"segundo_?apellido", r"nombre_?completo", "voornaam",
                                 "achternaam", "familienaam", "meisjesnaam", "tussenvoegsel"),
                       whole=("nom", "nombre", "naam")),
    "STREET_ADDRESS": NameRule(anywhere=("strasse", "anschrift", "adresse", "hausnummer", "direccion", "calle",
                                         "domicilio", "adres", "straat", r"straat_?naam", "huisnummer", "rue")),
    "DATE_TIME": NameRule(anywhere=(r"geburts_?datum", "geburtstag", r"date_?de_?naissance", "naissance",
                                    r"fecha_?de_?nacimiento", "nacimiento", r"geboorte_?datum", "geboren")),
    "ZIP_CODE": NameRule(anywhere=("plz", "postleitzahl", r"code_?postal", r"codigo_?postal", "postnummer"),
                         whole=("cp",)),
    "LOCATION": NameRule(anywhere=("stadt", "wohnort", "ville", "commune", "ciudad", "municipio", "provincia",
                                   "woonplaats", "plaats", "pays", "pais", "bundesland", "gemeente"),
                         whole=("ort", "stad", "land")),
    "AGE": NameRule(whole=("alter", "edad", "leeftijd")),
    "GENDER": NameRule(anywhere=("geschlecht", "sexe", "sexo", "genero", "geslacht")),
}

# Postcode words per country: 5-digit codes are a US ZIP, a German PLZ, a French code postal or a Spanish codigo
# postal; only the column's language tells them apart.
POSTCODE_COUNTRY: tuple[tuple[str, NameRule], ...] = (
    ("DE", NameRule(anywhere=("plz", "postleitzahl"))),
    ("FR", NameRule(anywhere=(r"code_?postal",), whole=("cp",))),
    ("ES", NameRule(anywhere=(r"codigo_?postal",))),
)


def postcode_country(name: str) -> str | None:
    """The country a postcode column's (normalized) name points at, if its language does."""
    return next((country for country, rule in POSTCODE_COUNTRY if rule.matches(name)), None)


SECRET_RULES: dict[str, NameRule] = {"password": PASSWORD, "card verification code": CARD_VERIFICATION, "PIN": PIN,
                                     "security question or answer": SECURITY_ANSWER, "key or token": CREDENTIAL}


def secret_named(column: object) -> str | None:
    """What secret the column's name says it holds ('password', 'PIN', ...), or None."""
    name = normalized_name(column)
    return next((kind for kind, rule in SECRET_RULES.items() if rule.matches(name)), None)
