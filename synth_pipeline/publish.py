"""Atomic, versioned publication of an approved release, and retention clean-up.

Layout under the destination:  <release>/<version>/{synthetic.parquet, ..., manifest.json, manifest.sig}
                               <release>/latest.json      -> {"version": ...}
                               _retention/<when>-<release>-<version>.json   (what the clean-up removed)
A version is visible when its manifest exists. Files are written under a pending prefix, the signature and the
manifest last, then the prefix is moved into place in one step; `latest.json` moves only after that. The manifest
is signed with the operator's Ed25519 key (`signing.py`); readers check it (`catalog.py`). The version is derived
from the run, so publishing the same run again finds the finished version and changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synth_pipeline import catalog, signing
from synth_pipeline.catalog import BrokenRelease
from synth_pipeline.errors import ConfigError, PipelineError, ReleaseTampered
from synth_pipeline.manifest import (
    LATEST,
    MANIFEST,
    PENDING_PREFIX,
    SIGNATURE,
    VERSION_PATTERN,
    check_release_name,
    check_version_name,
    parse_manifest,
    sha256_of,
)
from synth_pipeline.storage import Store

FAULT_ENV = "SYNTH_PIPELINE_FAULT"  # tests set it to a fault point name to kill the process there
# OWASP, "CSV Injection": a spreadsheet runs a cell that begins with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_ESCAPING = ("In synthetic.csv every text cell is quoted, and a text cell that begins with =, +, -, @, a tab or a "
                "carriage return starts with an added single quote (') so that a spreadsheet shows it as text "
                "instead of running it as a formula (OWASP, CSV injection). Numeric columns are plain numbers. "
                "synthetic.parquet holds the values unchanged.")


def _fault_point(name: str) -> None:
    """Kill this process here when asked: how the tests prove a crash at any point leaves no partial release."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def version_for(*, run_id: str, run_started: datetime) -> str:
    """Sortable by time, unique per run: '20261122T134830Z-3f9a1c2b'."""
    stamp = run_started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def _is_text(column: pd.Series) -> bool:
    """Numbers (booleans, and categories whose levels are numbers, included) cannot hold a formula and a genuine
    negative number must stay a number; every other column is text to a spreadsheet."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return not pd.api.types.is_numeric_dtype(dtype.categories)
    return not pd.api.types.is_numeric_dtype(dtype)


def write_formula_safe_csv(table: pd.DataFrame, path: Path) -> None:
    """The table as CSV that a spreadsheet opens without running anything (CSV_ESCAPING says how, on the card)."""
    escaped = table.copy()
    for name in table.columns:
        if _is_text(table[name]):
            text = table[name].astype("string")
            risky = text.str.startswith(FORMULA_TRIGGERS).fillna(False).astype(bool)
            escaped[name] = text.mask(risky, "'" + text)
    escaped.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


def _is_complete(store: Store, release: str, version: str) -> bool:
    return store.exists(release, version, MANIFEST)


def _current_latest(store: Store, release: str) -> str | None:
    """The version `latest.json` names, or None when it is missing or broken (then it is rewritten)."""
    if not store.exists(release, LATEST):
        return None
    try:
        return catalog.resolve_version(store, release)
    except (PipelineError, OSError):
        return None


def _point_latest(store: Store, release: str, version: str) -> None:
    current = _current_latest(store, release)
    if current is not None and current >= version and _is_complete(store, release, current):
        return  # a newer release is already current; re-publishing an older run must not move it back
    store.replace_bytes(json.dumps({"version": version}).encode(), release, LATEST)


def _remove_leftovers(store: Store, release: str, version: str) -> None:
    """What earlier attempts at this version left when they died: pending prefixes, or (on object stores) a
    half-moved version folder. Other versions' pending prefixes may belong to a publication under way."""
    for name in store.children(release):
        if name.startswith(f"{PENDING_PREFIX}{version}"):
            store.remove(release, name)
    store.remove(release, version)


def publish_release(*, store: Store, release: str, version: str, files: Mapping[str, Path], manifest: Mapping,
                    signing_key: Ed25519PrivateKey | None = None) -> dict:
    """Publish `files` (local paths, by their published names) with a signed manifest; idempotent per version.

    Without `signing_key` the operator's key is read from the environment (`signing.private_key`); no key, no
    publication: ConfigError before anything is written."""
    key = signing_key or signing.private_key()
    check_release_name(release)
    check_version_name(version)
    if _is_complete(store, release, version):
        _point_latest(store, release, version)  # the earlier attempt may have died before moving the pointer
        return {"release": release, "version": version, "uri": store.path(release, version), "already_published": True}

    checksums = {}
    for published_name, local_path in sorted(files.items()):
        data = Path(local_path).read_bytes()
        checksums[published_name] = {"sha256": sha256_of(data), "bytes": len(data)}
    # Signed as readers will parse it back (dates as text): the signature covers exactly what they check. A
    # manifest readers would refuse is never published: refused here, before anything is written.
    document = json.loads(json.dumps({**manifest, "release": release, "version": version, "files": checksums},
                                     default=str))
    try:
        parse_manifest(document, release=release, version=version, where=f"{release} {version}")
    except ReleaseTampered as exc:
        raise ConfigError(f"not published, readers would refuse it: {exc}") from None

    _remove_leftovers(store, release, version)
    pending = f"{PENDING_PREFIX}{version}-{os.urandom(4).hex()}"
    for published_name, local_path in sorted(files.items()):
        data = Path(local_path).read_bytes()
        if sha256_of(data) != checksums[published_name]["sha256"]:
            raise ConfigError(f"{published_name} changed while it was being published; publish the run again")
        store.write_bytes(data, release, pending, published_name)
        _fault_point("publish:after_first_file")
    store.write_bytes(signing.sign(document, key), release, pending, SIGNATURE)
    store.write_bytes(json.dumps(document, indent=2, sort_keys=True).encode(), release, pending, MANIFEST)
    _fault_point("publish:before_move")
    store.move((release, pending), (release, version))
    _fault_point("publish:before_latest")
    _point_latest(store, release, version)
    return {"release": release, "version": version, "uri": store.path(release, version), "already_published": False}


def expiry(created_at: datetime, retention_days: int) -> datetime:
    return created_at + timedelta(days=retention_days)


@dataclass(frozen=True)
class Retention:
    removed: tuple[dict, ...]  # one record per removed version, as written under _retention/
    broken: tuple[BrokenRelease, ...]  # versions left alone: their manifest cannot be vouched for


def remove_expired(store: Store, *, now: datetime, public_key: Ed25519PublicKey | None = None) -> Retention:
    """Delete every published version whose signed expiry has passed, record each removal, repair `latest.json`.

    A version whose manifest is not valid or not signed by the operator is skipped and reported, not deleted on
    the word of an unsigned file; the other versions are handled all the same."""
    listing = catalog.scan(store, public_key=public_key)
    removed = []
    for info in listing.releases:
        expires_at = datetime.fromisoformat(info.expires_at)  # from the signed manifest: scan checked it
        if expires_at > now:
            continue
        # The manifest goes first: from that moment the version is invisible, whatever happens next.
        store.remove(info.release, info.version, MANIFEST)
        store.remove(info.release, info.version)
        record = {"release": info.release, "version": info.version, "expired_at": expires_at.isoformat(),
                  "removed_at": now.isoformat(), "purpose": info.purpose}
        store.write_bytes(json.dumps(record, indent=2).encode(), "_retention",
                          f"{now:%Y%m%dT%H%M%SZ}-{info.release}-{info.version}.json")
        removed.append(record)
    for release in sorted({info.release for info in listing.releases}):
        _repair_latest(store, release)
    return Retention(tuple(removed), listing.broken)


def _repair_latest(store: Store, release: str) -> None:
    current = _current_latest(store, release)
    if current is not None and _is_complete(store, release, current):
        return
    remaining = [version for version in store.children(release)
                 if re.fullmatch(VERSION_PATTERN, version) and _is_complete(store, release, version)]
    if remaining:
        store.replace_bytes(json.dumps({"version": max(remaining)}).encode(), release, LATEST)
    else:
        store.remove(release, LATEST)
