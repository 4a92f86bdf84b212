"""The pseudonymization key: read from an environment variable or an Airflow Connection's password, never from the
spec, and never written anywhere (errors name the variable or connection, not the key).

Resolving a Connection must not import Airflow here: the DAG passes a resolver (`conn_id -> password`); outside
Airflow the default reads `AIRFLOW_CONN_<ID>` the way Airflow's environment backend does (a URI, or JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from synth_pipeline.errors import ConfigError, PipelineError
from synth_pipeline.spec import KeySource

SecretResolver = Callable[[str], str]
MIN_KEY_BYTES = 16  # 128 bits: HMAC-SHA256's security is capped by its key's entropy (NIST SP 800-107, 5.3.4)


def env_secret_resolver(conn_id: str) -> str:
    """Outside Airflow: the password of the connection in `AIRFLOW_CONN_<ID>` (URI or JSON form)."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"pii.key: connection {conn_id!r} is not defined (set {variable})")
    if value.lstrip().startswith("{"):
        try:
            password = json.loads(value).get("password")
        except (ValueError, AttributeError):
            raise ConfigError(f"pii.key: {variable} is neither a connection URI nor a JSON object") from None
    else:
        password = urlsplit(value).password
    if not password:
        raise ConfigError(f"pii.key: connection {conn_id!r} has no password (the key goes there)")
    return unquote(password)


def pseudonym_key(source: KeySource, *, resolve_secret: SecretResolver) -> bytes:
    """The HMAC key, checked for presence and length. Raises ConfigError naming where it looked."""
    if source.env is not None:
        where = f"environment variable {source.env}"
        secret = os.environ.get(source.env, "")
    else:
        where = f"connection {source.conn_id!r}"
        try:
            secret = resolve_secret(source.conn_id)
        except PipelineError:
            raise
        except Exception as exc:  # Airflow's own error types cannot be named here without importing Airflow
            raise ConfigError(f"pii.key: cannot read {where} ({type(exc).__name__})") from None
    key = (secret or "").encode("utf-8")
    if not key:
        raise ConfigError(f"pii.key: the pseudonymization key is missing: set {where}")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"pii.key: the key in {where} is shorter than {MIN_KEY_BYTES} bytes; use a random one "
                          "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return key
