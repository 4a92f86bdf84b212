"""The analysts' side: list, verify and load published releases.

Only versions with a manifest exist for a reader. Nothing in the catalog folder is trusted: release and version
names must look like ours (no `..`, no `/`), `latest.json` must name a version of the same release, a version
folder may hold no symbolic link, and the manifest must be valid (`manifest.py`) and signed by the operator's key
(`signing.py`). Loading then verifies every file against the manifest's SHA-256 and refuses expired releases (the
expiry read from the signed manifest): a release past its retention date is no longer fit for its stated purpose.
One broken release never hides the others: `scan` lists it as broken, with the reason, beside the good ones.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from synth_pipeline import signing
from synth_pipeline.errors import PipelineError, ReleaseExpired, ReleaseNotFound, ReleaseTampered
from synth_pipeline.manifest import (
    LATEST,
    MANIFEST,
    PENDING_PREFIX,
    SIGNATURE,
    VERSION_PATTERN,
    Manifest,
    check_release_name,
    check_version_name,
    parse_document,
    parse_manifest,
    sha256_of,
)
from synth_pipeline.spec.base import NAME_PATTERN
from synth_pipeline.storage import Store

CATALOG_ENV = "SYNTH_PIPELINE_CATALOG"


@dataclass(frozen=True)
class ReleaseInfo:
    release: str
    version: str
    created_at: str
    expires_at: str
    purpose: str
    rows: int | None
    epsilon: float | None
    is_latest: bool
    dataset: str | None = None
    # The dataset's spent and lifetime epsilon (the ledger's) when this version was published.
    dataset_spent_epsilon: float | None = None
    dataset_lifetime_epsilon: float | None = None


@dataclass(frozen=True)
class BrokenRelease:
    """A release (or one version of it) the catalog cannot vouch for; `version` is `latest.json` when the pointer
    itself is broken, None when the folder's name is not a release name."""

    release: str
    version: str | None
    error: str  # the typed error's class name: ReleaseTampered, ReleaseNotFound, ...
    reason: str


@dataclass(frozen=True)
class Listing:
    releases: tuple[ReleaseInfo, ...]
    broken: tuple[BrokenRelease, ...]


def default_store(location: object | None = None) -> Store:
    """The catalog's location: the argument, else $SYNTH_PIPELINE_CATALOG, else ./published."""
    return Store.from_location(location or os.environ.get(CATALOG_ENV) or "published")


def resolve_version(store: Store, release: str, version: str = "latest") -> str:
    """The version asked for, or the one `latest.json` names; refused unless it is a version name."""
    check_release_name(release)
    if version != "latest":
        return check_version_name(version)
    if not store.exists(release, LATEST):
        raise ReleaseNotFound(f"release {release!r} has no published version at {store.root}")
    pointer = parse_document(store.read_bytes(release, LATEST), where=f"{release} {LATEST}")
    named = pointer.get("version")
    if not isinstance(named, str) or not re.fullmatch(VERSION_PATTERN, named):
        raise ReleaseTampered(f"{release} {LATEST}: does not name a version of this release")
    return named


def signed_manifest(store: Store, release: str, version: str,
                    key: Ed25519PublicKey | None = None) -> tuple[Manifest, dict]:
    """The version's manifest (validated, and as published), once its folder holds no link and its signature
    checks out with the operator's public key."""
    where = f"{release} {version}"
    if not store.exists(release, version, MANIFEST):
        raise ReleaseNotFound(f"no published version {version!r} of release {release!r} at {store.root}")
    if links := store.symlinks(release, version):
        raise ReleaseTampered(f"{where}: symbolic link(s) {', '.join(links)}; a published version holds plain files")
    document = parse_document(store.read_bytes(release, version, MANIFEST), where=f"{where} {MANIFEST}")
    manifest = parse_manifest(document, release=release, version=version, where=where)
    if not store.exists(release, version, SIGNATURE):
        raise ReleaseTampered(f"{where}: the manifest is not signed ({SIGNATURE} is missing)")
    signing.check_signature(document, store.read_bytes(release, version, SIGNATURE), key or signing.public_key(),
                            where=where)
    return manifest, document


def is_version_entry(name: str) -> bool:
    """Whether an entry of a release folder may be a version: not the pointer, its pending replacement, or a version
    still being written."""
    return not (name == LATEST or name.startswith((f"{LATEST}.", PENDING_PREFIX)))


def scan(location: object | None = None, *, public_key: Ed25519PublicKey | None = None) -> Listing:
    """Every version a reader sees (its manifest exists), and every release or version that cannot be vouched for."""
    store = default_store(location)
    key = public_key or signing.public_key()
    found: list[ReleaseInfo] = []
    broken: list[BrokenRelease] = []
    for release in store.children():
        if release.startswith(("_", ".")):
            continue
        if not re.fullmatch(NAME_PATTERN, release):
            broken.append(BrokenRelease(release, None, ReleaseTampered.__name__,
                                        f"{release!r} is not a release name; nothing below it is read"))
            continue
        try:
            latest = resolve_version(store, release) if store.exists(release, LATEST) else None
        except (PipelineError, OSError) as exc:
            broken.append(BrokenRelease(release, LATEST, type(exc).__name__, str(exc)))
            latest = None
        for version in store.children(release):
            if not is_version_entry(version) or not store.exists(release, version, MANIFEST):
                continue
            try:
                if not re.fullmatch(VERSION_PATTERN, version):
                    raise ReleaseTampered(f"{release} {version!r}: not a version name")
                manifest, _ = signed_manifest(store, release, version, key)
            except (PipelineError, OSError) as exc:
                broken.append(BrokenRelease(release, version, type(exc).__name__, str(exc)))
                continue
            found.append(ReleaseInfo(
                release=release, version=version, created_at=manifest.created_at.isoformat(),
                expires_at=manifest.expires_at.isoformat(), purpose=manifest.purpose, rows=manifest.rows,
                epsilon=manifest.epsilon, is_latest=version == latest, dataset=manifest.dataset,
                dataset_spent_epsilon=manifest.dataset_spent[0], dataset_lifetime_epsilon=manifest.dataset_spent[1],
            ))
    return Listing(tuple(found), tuple(broken))


def list_releases(location: object | None = None) -> list[ReleaseInfo]:
    """The versions the catalog vouches for (`scan` also says which ones it cannot)."""
    return list(scan(location).releases)


def verify(release: str, version: str = "latest", *, location: object | None = None, now: datetime | None = None) -> dict:
    """Check the version is signed, complete, untampered and unexpired; return its manifest."""
    store = default_store(location)
    version = resolve_version(store, release, version)
    manifest, document = signed_manifest(store, release, version)
    expected = set(manifest.files)
    present = set(store.children(release, version)) - {MANIFEST, SIGNATURE}
    if missing := sorted(expected - present):
        raise ReleaseTampered(f"{release} {version}: missing file(s) {', '.join(missing)}")
    if extra := sorted(present - expected):
        raise ReleaseTampered(f"{release} {version}: file(s) not in the manifest: {', '.join(extra)}")
    for name, entry in sorted(manifest.files.items()):
        if sha256_of(store.read_bytes(release, version, name)) != entry.sha256:
            raise ReleaseTampered(f"{release} {version}: {name} does not match its SHA-256 in the manifest")
    if manifest.expires_at <= (now or datetime.now(timezone.utc)):
        raise ReleaseExpired(f"{release} {version} expired on {manifest.expires_at:%Y-%m-%d}; it may no longer be used")
    return document


def load(release: str, version: str = "latest", *, location: object | None = None) -> pd.DataFrame:
    """The synthetic table of a release, after verifying it."""
    store = default_store(location)
    manifest = verify(release, version, location=store)
    return pd.read_parquet(io.BytesIO(store.read_bytes(release, manifest["version"], "synthetic.parquet")))


def data_card(release: str, version: str = "latest", *, location: object | None = None) -> dict:
    store = default_store(location)
    manifest = verify(release, version, location=store)
    return json.loads(store.read_bytes(release, manifest["version"], "data_card.json"))
