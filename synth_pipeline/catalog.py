"""The analysts' side: list, verify and load published releases.

Only versions with a manifest exist for a reader. Loading verifies every file against the manifest's SHA-256 and
refuses expired releases: a release past its retention date is no longer fit for its stated purpose.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from synth_pipeline.errors import ReleaseExpired, ReleaseNotFound, ReleaseTampered
from synth_pipeline.publish import LATEST, MANIFEST, PENDING_PREFIX, sha256_of
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


def default_store(location: object | None = None) -> Store:
    """The catalog's location: the argument, else $SYNTH_PIPELINE_CATALOG, else ./published."""
    return Store.from_location(location or os.environ.get(CATALOG_ENV) or "published")


def _manifest(store: Store, release: str, version: str) -> dict:
    if not store.exists(release, version, MANIFEST):
        raise ReleaseNotFound(f"no published version {version!r} of release {release!r} at {store.root}")
    return json.loads(store.read_bytes(release, version, MANIFEST))


def resolve_version(store: Store, release: str, version: str = "latest") -> str:
    if version != "latest":
        return version
    if not store.exists(release, LATEST):
        raise ReleaseNotFound(f"release {release!r} has no published version at {store.root}")
    return json.loads(store.read_bytes(release, LATEST))["version"]


def list_releases(location: object | None = None) -> list[ReleaseInfo]:
    store = default_store(location)
    found = []
    for release in store.children():
        if release.startswith(("_", ".")):
            continue
        latest = resolve_version(store, release) if store.exists(release, LATEST) else None
        for version in store.children(release):
            if version == LATEST or version.startswith(PENDING_PREFIX) or not store.exists(release, version, MANIFEST):
                continue
            manifest = _manifest(store, release, version)
            found.append(ReleaseInfo(
                release=release, version=version, created_at=manifest["created_at"], expires_at=manifest["expires_at"],
                purpose=manifest.get("purpose", ""), rows=manifest.get("rows"),
                epsilon=(manifest.get("privacy") or {}).get("epsilon"), is_latest=version == latest,
            ))
    return found


def verify(release: str, version: str = "latest", *, location: object | None = None, now: datetime | None = None) -> dict:
    """Check the version is complete, untampered and unexpired; return its manifest."""
    store = default_store(location)
    version = resolve_version(store, release, version)
    manifest = _manifest(store, release, version)
    expected = manifest["files"]
    present = set(store.children(release, version)) - {MANIFEST}
    if missing := sorted(set(expected) - present):
        raise ReleaseTampered(f"{release} {version}: missing file(s) {', '.join(missing)}")
    if extra := sorted(present - set(expected)):
        raise ReleaseTampered(f"{release} {version}: file(s) not in the manifest: {', '.join(extra)}")
    for name, entry in sorted(expected.items()):
        if sha256_of(store.read_bytes(release, version, name)) != entry["sha256"]:
            raise ReleaseTampered(f"{release} {version}: {name} does not match its SHA-256 in the manifest")
    expires_at = datetime.fromisoformat(manifest["expires_at"])
    if expires_at <= (now or datetime.now(timezone.utc)):
        raise ReleaseExpired(f"{release} {version} expired on {expires_at:%Y-%m-%d}; it may no longer be used")
    return manifest


def load(release: str, version: str = "latest", *, location: object | None = None) -> pd.DataFrame:
    """The synthetic table of a release, after verifying it."""
    store = default_store(location)
    manifest = verify(release, version, location=store)
    return pd.read_parquet(io.BytesIO(store.read_bytes(release, manifest["version"], "synthetic.parquet")))


def data_card(release: str, version: str = "latest", *, location: object | None = None) -> dict:
    store = default_store(location)
    manifest = verify(release, version, location=store)
    return json.loads(store.read_bytes(release, manifest["version"], "data_card.json"))
