"""Atomic, versioned publication of an approved release, and retention clean-up.

Layout under the destination:  <release>/<version>/{synthetic.parquet, ..., manifest.json}
                               <release>/latest.json      -> {"version": ...}
                               _retention/<when>-<release>-<version>.json   (what the clean-up removed)
A version is visible when its manifest exists. Files are written under a pending prefix, the manifest last, then the
prefix is moved into place in one step; `latest.json` moves only after that. The version is derived from the run,
so publishing the same run again finds the finished version and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from synth_pipeline.storage import Store

MANIFEST = "manifest.json"
LATEST = "latest.json"
PENDING_PREFIX = ".pending-"
FAULT_ENV = "SYNTH_PIPELINE_FAULT"  # tests set it to a fault point name to kill the process there


def _fault_point(name: str) -> None:
    """Kill this process here when asked: how the tests prove a crash at any point leaves no partial release."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def version_for(*, run_id: str, run_started: datetime) -> str:
    """Sortable by time, unique per run: '20261122T134830Z-3f9a1c2b'."""
    stamp = run_started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_complete(store: Store, release: str, version: str) -> bool:
    return store.exists(release, version, MANIFEST)


def _point_latest(store: Store, release: str, version: str) -> None:
    if store.exists(release, LATEST):
        current = json.loads(store.read_bytes(release, LATEST))["version"]
        if current >= version and _is_complete(store, release, current):
            return  # a newer release is already current; re-publishing an older run must not move it back
    store.replace_bytes(json.dumps({"version": version}).encode(), release, LATEST)


def publish_release(*, store: Store, release: str, version: str, files: Mapping[str, Path], manifest: Mapping) -> dict:
    """Publish `files` (local paths, by their published names) with a manifest; idempotent per version."""
    if _is_complete(store, release, version):
        _point_latest(store, release, version)  # the earlier attempt may have died before moving the pointer
        return {"release": release, "version": version, "uri": store.path(release, version), "already_published": True}

    # Leftovers of attempts that died: a pending prefix, or (on object stores) a half-moved version folder.
    for name in store.children(release):
        if name.startswith(f"{PENDING_PREFIX}{version}"):
            store.remove(release, name)
    store.remove(release, version)

    pending = f"{PENDING_PREFIX}{version}-{os.urandom(4).hex()}"
    checksums = {}
    for published_name, local_path in sorted(files.items()):
        data = Path(local_path).read_bytes()
        store.write_bytes(data, release, pending, published_name)
        checksums[published_name] = {"sha256": sha256_of(data), "bytes": len(data)}
        _fault_point("publish:after_first_file")
    document = {**manifest, "release": release, "version": version, "files": checksums}
    store.write_bytes(json.dumps(document, indent=2, sort_keys=True, default=str).encode(), release, pending, MANIFEST)
    _fault_point("publish:before_move")
    store.move((release, pending), (release, version))
    _fault_point("publish:before_latest")
    _point_latest(store, release, version)
    return {"release": release, "version": version, "uri": store.path(release, version), "already_published": False}


def expiry(created_at: datetime, retention_days: int) -> datetime:
    return created_at + timedelta(days=retention_days)


def remove_expired(store: Store, *, now: datetime) -> list[dict]:
    """Delete every published version whose expiry has passed, record each removal, repair `latest.json`."""
    removed = []
    for release in store.children():
        if release.startswith(("_", ".")):
            continue
        for version in store.children(release):
            if version == LATEST or version.startswith(PENDING_PREFIX) or not _is_complete(store, release, version):
                continue
            manifest = json.loads(store.read_bytes(release, version, MANIFEST))
            expires_at = datetime.fromisoformat(manifest["expires_at"])
            if expires_at > now:
                continue
            # The manifest goes first: from that moment the version is invisible, whatever happens next.
            store.remove(release, version, MANIFEST)
            store.remove(release, version)
            record = {"release": release, "version": version, "expired_at": expires_at.isoformat(),
                      "removed_at": now.isoformat(), "purpose": manifest.get("purpose")}
            store.write_bytes(json.dumps(record, indent=2).encode(), "_retention",
                              f"{now:%Y%m%dT%H%M%SZ}-{release}-{version}.json")
            removed.append(record)
        _repair_latest(store, release)
    return removed


def _repair_latest(store: Store, release: str) -> None:
    if not store.exists(release, LATEST):
        return
    current = json.loads(store.read_bytes(release, LATEST))["version"]
    if _is_complete(store, release, current):
        return
    remaining = [v for v in store.children(release) if v != LATEST and _is_complete(store, release, v)]
    if remaining:
        store.replace_bytes(json.dumps({"version": max(remaining)}).encode(), release, LATEST)
    else:
        store.remove(release, LATEST)
