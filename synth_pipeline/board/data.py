"""What the release board shows of published versions, retention and pending approvals (budgets: `budgets.py`).

Only what each audience may see is gathered (README, "Privacy model"): manifests, data cards and retention records
are public; the approval request's body holds DP and spec figures, for Airflow users; the internal report is a
file path the plugin serves to a release's stewards only. Nothing here reads a synthetic or source table.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from synth_pipeline import catalog
from synth_pipeline.errors import PipelineError, ReleaseExpired, ReleaseNotFound, ReleaseTampered, SpecError
from synth_pipeline.publish import LATEST, MANIFEST, PENDING_PREFIX
from synth_pipeline.runs import run_folder, state_dir
from synth_pipeline.spec import load_spec
from synth_pipeline.spec.base import NAME_PATTERN
from synth_pipeline.storage import Store

RELEASES_ENV = "SYNTH_PIPELINE_RELEASES"
RETENTION_FOLDER = "_retention"  # where publish.remove_expired records each removal
CARD_FILES = {"html": "data_card.html", "json": "data_card.json"}
# A version name as publish.version_for makes it, or any plain name: never a path, never hidden or pending.
_VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# How long a verification stays good while the version's files look unchanged (same names, sizes and mtimes):
# hashing every file of every version on each page view costs seconds once releases are large, while a change
# that keeps size and mtime needs someone rewriting files on purpose, who could rewrite the manifest too.
VERIFY_TTL_S = 600.0
REVERIFY_BUDGET_S = 0.1


@dataclass(frozen=True)
class BoardPaths:
    """The project the board reads: specs, run folders (the state), the ledger and the publish location."""

    releases_dir: Path
    catalog: object

    @classmethod
    def from_environment(cls, default_root: Path) -> BoardPaths:
        """$SYNTH_PIPELINE_RELEASES (else `<root>/releases`), and $SYNTH_PIPELINE_CATALOG (else the project's
        `published/`). The project root is the spec folder's parent, as for the release DAGs."""
        releases = Path(os.environ.get(RELEASES_ENV) or Path(default_root) / "releases").expanduser().resolve()
        location = os.environ.get(catalog.CATALOG_ENV) or releases.parent / "published"
        return cls(releases_dir=releases, catalog=location)

    @property
    def project_root(self) -> Path:
        return self.releases_dir.parent

    @property
    def state(self) -> Path:
        return state_dir(self.project_root)

    def store(self) -> Store:
        return catalog.default_store(self.catalog)


def check_release_name(release: str) -> str:
    if not re.fullmatch(NAME_PATTERN, release):
        raise ReleaseNotFound(f"{release!r} is not a release name")
    return release


def check_version_name(version: str) -> str:
    if not _VERSION_PATTERN.fullmatch(version):
        raise ReleaseNotFound(f"{version!r} is not a version name")
    return version


# ---- Releases ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReleaseRow:
    release: str
    version: str
    is_latest: bool
    status: str  # verified | expired | tampered | unreadable
    problem: str
    rows: int | None
    epsilon: float | None
    delta: float | None
    dataset: str | None
    generator: str | None
    approved_by: str | None
    approved_at: str | None
    created_at: str | None
    expires_at: str | None
    purpose: str

    @property
    def card_available(self) -> bool:
        return self.status == "verified"

    def to_dict(self) -> dict:
        return {**vars(self), "card_available": self.card_available}  # flat values: no deep copy needed


@dataclass(frozen=True)
class _Checked:
    fingerprint: tuple
    checked_at: float
    status: str
    problem: str
    manifest: dict


def _fingerprint(store: Store, release: str, version: str) -> tuple:
    entries = store.fs.ls(store.path(release, version), detail=True)
    return tuple(sorted((os.path.basename(str(e["name"]).rstrip("/")), e.get("size"),
                         str(e.get("mtime") or e.get("LastModified") or e.get("ETag") or e.get("created")))
                        for e in entries))


def _read_manifest(store: Store, release: str, version: str) -> dict:
    try:
        manifest = json.loads(store.read_bytes(release, version, MANIFEST))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


class VerificationCache:
    """`catalog.verify` of each version, kept while the version's files are unchanged and for at most `ttl_s`.

    A new or changed version is always verified before it is shown. Re-verifying unchanged versions whose result
    is older than `ttl_s` may be deferred (`may_defer`): `releases` spends at most REVERIFY_BUDGET_S of a request
    on those, so that the periodic re-check of every checksum never lands on one page view."""

    def __init__(self, ttl_s: float = VERIFY_TTL_S):
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str, str, str], _Checked] = {}
        self._lock = threading.Lock()

    def check(self, store: Store, release: str, version: str, *, may_defer: bool = False) -> _Checked:
        key = (store.root, release, version)
        fingerprint = _fingerprint(store, release, version)
        with self._lock:
            cached = self._entries.get(key)
        if cached and cached.fingerprint == fingerprint and (
                may_defer or time.monotonic() - cached.checked_at < self.ttl_s):
            return cached
        try:
            manifest, status, problem = catalog.verify(release, version, location=store), "verified", ""
        except ReleaseExpired as exc:
            manifest, status, problem = _read_manifest(store, release, version), "expired", str(exc)
        except (PipelineError, OSError, ValueError) as exc:
            # Tampered: a manifest is there to show (its facts unvouched for); unreadable: not even that (not JSON,
            # not an object, or the catalog's key is not configured).
            manifest = _read_manifest(store, release, version)
            status = "tampered" if manifest and isinstance(exc, ReleaseTampered) else "unreadable"
            problem = str(exc) if isinstance(exc, PipelineError) else \
                f"{release} {version}: the manifest cannot be checked ({type(exc).__name__})"
        checked = _Checked(fingerprint, time.monotonic(), status, problem, manifest)
        with self._lock:
            self._entries[key] = checked
        return checked

    def keep_only(self, keys: set[tuple[str, str, str]]) -> None:
        """Forget versions that are gone (removed by retention), so the cache never outgrows the catalog."""
        with self._lock:
            for key in set(self._entries) - keys:
                del self._entries[key]


def _versions(store: Store) -> list[tuple[str, str, bool]]:
    """(release, version, is_latest) for every version a reader sees: `catalog.list_releases`' rule (a version
    exists once its manifest does), walked here without parsing the manifests, so that one unreadable manifest
    is shown as such instead of failing the whole listing."""
    found = []
    for release in store.children():
        if release.startswith(("_", ".")):
            continue
        try:
            latest = catalog.resolve_version(store, release) if store.exists(release, LATEST) else None
        except (PipelineError, OSError, ValueError, KeyError, TypeError):
            latest = None
        for version in store.children(release):
            if version == LATEST or version.startswith(PENDING_PREFIX) or not store.exists(release, version, MANIFEST):
                continue
            found.append((release, version, version == latest))
    return found


def _expired(expires_at: str | None, now: datetime) -> bool:
    try:
        return isinstance(expires_at, str) and datetime.fromisoformat(expires_at) <= now
    except (ValueError, TypeError):  # not a date, or one without a time zone: a tampered row says so already
        return False


def _text(value: object) -> str | None:
    """A fact of a manifest the catalog may not vouch for (tampered, expired): shown only when it is plain text."""
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def releases(paths: BoardPaths, cache: VerificationCache, *, now: datetime | None = None) -> list[ReleaseRow]:
    """Every published version, newest first within each release, with its verification status."""
    now = now or datetime.now(timezone.utc)
    store = paths.store()
    rows, seen = [], set()
    deadline = time.monotonic() + REVERIFY_BUDGET_S
    for release, version, is_latest in _versions(store):
        checked = cache.check(store, release, version, may_defer=time.monotonic() > deadline)
        seen.add((store.root, release, version))
        manifest = checked.manifest
        status, problem = checked.status, checked.problem
        if status == "verified" and _expired(manifest.get("expires_at"), now):
            # Verified earlier, expired since: the catalog would refuse it now, and so does the board.
            status, problem = "expired", f"{release} {version} expired on {manifest['expires_at'][:10]}"
        privacy = manifest.get("privacy") if isinstance(manifest.get("privacy"), dict) else {}
        approval = manifest.get("approval") if isinstance(manifest.get("approval"), dict) else {}
        rows.append(ReleaseRow(
            release=release, version=version, is_latest=is_latest, status=status, problem=problem,
            rows=manifest.get("rows") if isinstance(manifest.get("rows"), int) else None,
            epsilon=_number(privacy.get("epsilon")), delta=_number(privacy.get("delta")),
            dataset=_text(privacy.get("dataset")), generator=_text(manifest.get("generator")),
            approved_by=_text(approval.get("by")), approved_at=_text(approval.get("at")),
            created_at=_text(manifest.get("created_at")), expires_at=_text(manifest.get("expires_at")),
            purpose=_text(manifest.get("purpose")) or "",
        ))
    cache.keep_only(seen)
    rows.sort(key=lambda row: row.version, reverse=True)
    rows.sort(key=lambda row: row.release)
    return rows


def awaiting_removal(rows: list[ReleaseRow], *, now: datetime | None = None) -> list[ReleaseRow]:
    """Versions past their expiry that retention has not removed yet (whatever their checksums say)."""
    now = now or datetime.now(timezone.utc)
    return [row for row in rows if _expired(row.expires_at, now)]


def data_card(paths: BoardPaths, release: str, version: str, kind: str = "html") -> bytes:
    """The public data card of a version, only once `catalog.verify` vouches for the version (checked now, not
    from the cache): a tampered or expired version's card is not served."""
    store = paths.store()
    name = CARD_FILES[kind]
    catalog.verify(check_release_name(release), check_version_name(version), location=store)
    return store.read_bytes(release, version, name)


# ---- Retention ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Removal:
    release: str
    version: str
    expired_at: str
    removed_at: str
    purpose: str

    def to_dict(self) -> dict:
        return asdict(self)


def removals(paths: BoardPaths) -> list[Removal]:
    """What retention removed, newest first: `publish.remove_expired` writes one record per removed version."""
    store = paths.store()
    found = []
    for name in store.children(RETENTION_FOLDER):
        if not name.endswith(".json"):
            continue
        try:
            record = json.loads(store.read_bytes(RETENTION_FOLDER, name))
            found.append(Removal(release=str(record["release"]), version=str(record["version"]),
                                 expired_at=str(record.get("expired_at") or ""),
                                 removed_at=str(record.get("removed_at") or ""),
                                 purpose=str(record.get("purpose") or "")))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a record being written, or not one of ours
    found.sort(key=lambda removal: (removal.removed_at, removal.release, removal.version), reverse=True)
    return found


# ---- Pending approvals --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PendingApproval:
    """A release run waiting for a steward: Airflow's HITL detail of its `approve` task, and what the board adds."""

    dag_id: str
    run_id: str
    subject: str
    body: str
    created_at: str
    assigned_users: tuple[str, ...]
    triggered_by: str | None
    stewards: tuple[str, ...]
    report_available: bool

    def to_dict(self) -> dict:
        return asdict(self)


_stewards_cache: dict[tuple[str, int], tuple[str, ...]] = {}


def release_stewards(paths: BoardPaths, release: str) -> tuple[str, ...]:
    """The spec's `approval.stewards` as the spec reads now; none (nobody may) for an unknown or broken spec."""
    try:
        spec_path = paths.releases_dir / f"{check_release_name(release)}.yaml"
        key = (str(spec_path), spec_path.stat().st_mtime_ns)
    except (ReleaseNotFound, OSError):
        return ()
    if key not in _stewards_cache:
        try:
            approval = load_spec(spec_path).spec.approval
        except SpecError:
            return ()
        _stewards_cache[key] = tuple(approval.stewards) if approval else ()
    return _stewards_cache[key]


def report_path(paths: BoardPaths, release: str, run_id: str) -> Path:
    """The run's internal report, `<state>/runs/<release>/<run_id>/report/report.html` (for stewards only)."""
    return run_folder(paths.state, check_release_name(release), run_id) / "report" / "report.html"


def describe_pending(paths: BoardPaths, *, dag_id: str, run_id: str, subject: str, body: str | None,
                     created_at: str, assigned_users: tuple[str, ...], triggered_by: str | None) -> PendingApproval:
    try:
        has_report = report_path(paths, dag_id, run_id).is_file()
    except PipelineError:
        has_report = False
    return PendingApproval(dag_id=dag_id, run_id=run_id, subject=subject, body=body or "", created_at=created_at,
                           assigned_users=tuple(assigned_users), triggered_by=triggered_by,
                           stewards=release_stewards(paths, dag_id), report_available=has_report)
