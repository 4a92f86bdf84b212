"""Signed manifests: publication signs each manifest with the operator's Ed25519 key; readers check it with the
operator's public key, so a manifest rewritten after publication (new checksums, a later expiry) is refused.

What is signed is the manifest's canonical JSON (sorted keys, no whitespace), so the pretty-printed file may be
re-indented without breaking the signature but no value may change. The signature lies beside the manifest
(`manifest.sig`, base64). Neither key is ever read from the catalog folder: whoever can write there could swap both.

| key     | where it comes from (first found)                                                                      |
|---------|--------------------------------------------------------------------------------------------------------|
| private | the value the caller hands in (the DAG: the Airflow Connection `synth_pipeline_signing`'s password),    |
|         | else $SYNTH_PIPELINE_SIGNING_KEY, else the password of $AIRFLOW_CONN_SYNTH_PIPELINE_SIGNING             |
| public  | $SYNTH_PIPELINE_RELEASE_PUBLIC_KEY, else the file named by $SYNTH_PIPELINE_RELEASE_PUBLIC_KEY_FILE      |

A key is PEM (PKCS#8 private, SubjectPublicKeyInfo public) or the base64 of its 32 raw bytes (one line: fits an
`.env` file and a connection's password). Errors name the variable or connection, never the key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synth_pipeline.errors import ConfigError, ReleaseTampered

SIGNING_CONN_ID = "synth_pipeline_signing"
SIGNING_KEY_ENV = "SYNTH_PIPELINE_SIGNING_KEY"
SIGNING_CONN_ENV = f"AIRFLOW_CONN_{SIGNING_CONN_ID.upper()}"
PUBLIC_KEY_ENV = "SYNTH_PIPELINE_RELEASE_PUBLIC_KEY"
PUBLIC_KEY_FILE_ENV = "SYNTH_PIPELINE_RELEASE_PUBLIC_KEY_FILE"
PRIVATE_FILE, PUBLIC_FILE = "release_signing_key.pem", "release_public_key.pem"
_RAW_KEY_BYTES = 32


def canonical_json(document: object) -> bytes:
    """The bytes that are signed: one JSON text per document, whatever its key order or indentation."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _decode(text: str, *, private: bool, where: str) -> Ed25519PrivateKey | Ed25519PublicKey:
    text = text.strip()
    kind = "private" if private else "public"
    try:
        if text.startswith("-----BEGIN"):
            loader = serialization.load_pem_private_key if private else serialization.load_pem_public_key
            key = loader(text.encode(), password=None) if private else loader(text.encode())
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) != _RAW_KEY_BYTES:
                raise ValueError("not a raw Ed25519 key")
            key = Ed25519PrivateKey.from_private_bytes(raw) if private else Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise ConfigError(f"{where} does not hold an Ed25519 {kind} key (PEM, or base64 of its 32 raw bytes)") from None
    expected = Ed25519PrivateKey if private else Ed25519PublicKey
    if not isinstance(key, expected):
        raise ConfigError(f"{where} holds a {kind} key of another algorithm; release signing uses Ed25519")
    return key


def _connection_password(variable: str) -> str:
    """The password of a connection written the way Airflow's environment backend reads it (URI or JSON)."""
    from urllib.parse import unquote, urlsplit

    value = os.environ.get(variable, "")
    if value.lstrip().startswith("{"):
        try:
            return str(json.loads(value).get("password") or "")
        except (ValueError, AttributeError):
            raise ConfigError(f"{variable} is neither a connection URI nor a JSON object") from None
    return unquote(urlsplit(value).password or "")


def private_key(value: str | None = None) -> Ed25519PrivateKey:
    """The operator's signing key; ConfigError (naming where it looked) when none is configured."""
    if value:
        return _decode(value, private=True, where=f"connection {SIGNING_CONN_ID!r}")
    if os.environ.get(SIGNING_KEY_ENV):
        return _decode(os.environ[SIGNING_KEY_ENV], private=True, where=SIGNING_KEY_ENV)
    if password := _connection_password(SIGNING_CONN_ENV):
        return _decode(password, private=True, where=SIGNING_CONN_ENV)
    raise ConfigError(
        f"no release signing key: set the Airflow Connection {SIGNING_CONN_ID!r} (the key in its password), "
        f"{SIGNING_KEY_ENV} or {SIGNING_CONN_ENV}; `synth-pipeline signing-key new --out DIR` makes a key pair. "
        "Nothing was published")


def public_key() -> Ed25519PublicKey:
    """The operator's verification key, from the environment (never from the catalog)."""
    if os.environ.get(PUBLIC_KEY_ENV):
        return _decode(os.environ[PUBLIC_KEY_ENV], private=False, where=PUBLIC_KEY_ENV)
    if path := os.environ.get(PUBLIC_KEY_FILE_ENV):
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"{PUBLIC_KEY_FILE_ENV}: cannot read the public key file it names") from None
        return _decode(text, private=False, where=PUBLIC_KEY_FILE_ENV)
    raise ConfigError(f"no release public key to verify signatures with: set {PUBLIC_KEY_ENV} (or "
                      f"{PUBLIC_KEY_FILE_ENV}) to the publisher's Ed25519 public key")


def sign(document: object, key: Ed25519PrivateKey) -> bytes:
    """The base64 signature of the document's canonical JSON (the content of `manifest.sig`)."""
    return base64.b64encode(key.sign(canonical_json(document)))


def check_signature(document: object, signature: bytes, key: Ed25519PublicKey, *, where: str) -> None:
    """ReleaseTampered unless `signature` (base64) is the publisher's signature of exactly this document."""
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), canonical_json(document))
    except (InvalidSignature, binascii.Error, ValueError):
        raise ReleaseTampered(f"{where}: the manifest's signature does not match the publisher's public key "
                              "(the manifest was changed, or signed by another key)") from None


def encoded_pair(key: Ed25519PrivateKey) -> tuple[str, str]:
    """(private, public) as one-line base64 of the raw bytes: the values of the two environment variables."""
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def new_key_pair(folder: Path) -> tuple[Path, Path]:
    """Write a fresh key pair as PEM into `folder` (the private key mode 0600); refuse to overwrite one."""
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    if private_path.exists() or public_path.exists():
        raise ConfigError(f"{folder} already holds a release key pair; remove it first or choose another folder")
    key = Ed25519PrivateKey.generate()
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def key_pair_environment(folder: Path) -> dict[str, str]:
    """The two variables for the key pair in `folder`, made there on first use (demo and local stack only)."""
    private_path = folder / PRIVATE_FILE
    if not private_path.exists():
        new_key_pair(folder)
    private, public = encoded_pair(_decode(private_path.read_text(), private=True, where=str(private_path)))
    return {SIGNING_KEY_ENV: private, PUBLIC_KEY_ENV: public}


ENV_FILE = "release_keys.env"


def _new_key(args) -> int:
    folder = Path(args.out)
    private_path, public_path = new_key_pair(folder)
    lines = "".join(f"{name}={value}\n" for name, value in key_pair_environment(folder).items())
    descriptor = os.open(folder / ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(lines)
    print(f"private key (keep secret; the Airflow Connection {SIGNING_CONN_ID!r} password, or {SIGNING_KEY_ENV}): "
          f"{private_path}")
    print(f"public key (for every reader: {PUBLIC_KEY_ENV}, or {PUBLIC_KEY_FILE_ENV}={public_path}): {public_path}")
    print(f"both as one-line values for .env: {folder / ENV_FILE} (mode 0600)")
    return 0


def register(commands) -> None:
    signing = commands.add_parser("signing-key", help="make the Ed25519 key pair that signs release manifests")
    actions = signing.add_subparsers(dest="signing_action", required=True)
    new = actions.add_parser("new", help="write a fresh key pair (PEM) into a folder; the private key mode 0600")
    new.add_argument("--out", required=True, help="the folder (outside the catalog and the repository)")
    new.set_defaults(handler=_new_key)
