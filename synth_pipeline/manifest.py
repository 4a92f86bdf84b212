"""The published manifest's schema, and the names a catalog accepts for releases, versions and files.

Everything under the catalog folder is input from whoever can write there, so a reader validates a manifest before
using any of it: a manifest without `files`, not JSON, a list, `expires_at: "soon"` or a file name with a slash is
ReleaseTampered, named by release, version and key, never a crash that takes the whole catalog down.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from synth_pipeline.errors import ReleaseNotFound, ReleaseTampered
from synth_pipeline.signing import canonical_json
from synth_pipeline.spec.base import NAME_PATTERN

# The layout of a release folder: <release>/<version>/{files..., manifest.json, manifest.sig}, <release>/latest.json.
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
LATEST = "latest.json"
PENDING_PREFIX = ".pending-"  # a version being written; never shown
# publish.version_for: the run's start (UTC, to the second) and 8 hex digits of its id.
VERSION_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$"
# A published file's name: plain, never a path, never hidden.
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Annotated[int, Field(ge=0)]


class Manifest(BaseModel):
    """The keys a reader relies on; the lineage and figures beside them are kept as published (extra="allow")."""

    model_config = ConfigDict(frozen=True, extra="allow")

    release: Annotated[str, Field(pattern=NAME_PATTERN)]
    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    created_at: AwareDatetime
    expires_at: AwareDatetime
    files: Annotated[dict[Annotated[str, Field(pattern=FILE_NAME_PATTERN)], FileEntry], Field(min_length=1)]
    purpose: str = ""
    rows: Annotated[int, Field(ge=0)] | None = None
    privacy: dict[str, Any] | None = None

    @property
    def epsilon(self) -> float | None:
        return _number((self.privacy or {}).get("epsilon"))

    @property
    def dataset(self) -> str | None:
        dataset = (self.privacy or {}).get("dataset")
        return dataset if isinstance(dataset, str) else None

    @property
    def dataset_spent(self) -> tuple[float | None, float | None]:
        """(spent, lifetime) epsilon of the release's dataset when this version was published."""
        budget = (self.privacy or {}).get("dataset_budget")
        budget = budget if isinstance(budget, dict) else {}
        return _number(budget.get("spent_epsilon")), _number(budget.get("lifetime_epsilon"))


def _number(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_release_name(release: object) -> str:
    if not isinstance(release, str) or not re.fullmatch(NAME_PATTERN, release):
        raise ReleaseNotFound(f"{release!r} is not a release name (lower-case letters, digits and _)")
    return release


def check_version_name(version: object) -> str:
    if not isinstance(version, str) or not re.fullmatch(VERSION_PATTERN, version):
        raise ReleaseNotFound(f"{version!r} is not a version name (like 20261201T123312Z-5d7a16c5)")
    return version


def _problems(error: ValidationError) -> str:
    """Which keys are wrong and why, without echoing the values (pydantic's own text quotes the input)."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc']) or 'the manifest'}: {e['msg']}"
                     for e in error.errors(include_url=False, include_input=False)[:5])


def parse_document(data: bytes, *, where: str) -> dict:
    """A JSON object from the catalog, or ReleaseTampered naming the file."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ReleaseTampered(f"{where}: not a JSON document") from None
    if not isinstance(document, dict):
        raise ReleaseTampered(f"{where}: not a JSON object")
    return document


def parse_manifest(document: dict, *, release: str, version: str, where: str) -> Manifest:
    """The validated manifest of `release` `version`: it must name that release and version (a signed manifest
    copied into another version's folder is refused)."""
    try:
        manifest = Manifest.model_validate_json(canonical_json(document), strict=True)
    except ValueError as exc:  # ValidationError, or a NaN that JSON cannot carry
        detail = _problems(exc) if isinstance(exc, ValidationError) else "a number JSON cannot carry"
        raise ReleaseTampered(f"{where}: the manifest is not valid: {detail}") from None
    if (manifest.release, manifest.version) != (release, version):
        raise ReleaseTampered(f"{where}: the manifest describes another release or version")
    return manifest
