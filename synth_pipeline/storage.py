"""Where releases are published: a folder on any fsspec filesystem (local disk, S3, GCS, ...).

The DAG hands in Airflow's ObjectStoragePath (credentials come from its Connection); the CLI and analysts pass a
URI or a local path. Both expose `.fs` and `.path`, so the library needs nothing of Airflow.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem


@dataclass(frozen=True)
class Store:
    fs: fsspec.AbstractFileSystem
    root: str

    @classmethod
    def from_location(cls, location: object) -> Store:
        """A URI ('s3://bucket/releases'), a local path, or a path object with .fs and .path (ObjectStoragePath)."""
        if isinstance(location, Store):
            return location
        if hasattr(location, "fs") and hasattr(location, "path"):
            return cls(location.fs, str(location.path).rstrip("/"))
        if isinstance(location, Path) or "://" not in str(location):
            return cls(LocalFileSystem(), str(Path(location).expanduser().resolve()))
        fs, root = fsspec.core.url_to_fs(str(location))
        return cls(fs, root.rstrip("/"))

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def read_bytes(self, *parts: str) -> bytes:
        return self.fs.cat_file(self.path(*parts))

    def write_bytes(self, data: bytes, *parts: str) -> None:
        self.fs.makedirs(posixpath.dirname(self.path(*parts)), exist_ok=True)
        self.fs.pipe_file(self.path(*parts), data)

    def replace_bytes(self, data: bytes, *parts: str) -> None:
        """Write beside the target, then move it over: readers see the old content or the new, never half."""
        target = self.path(*parts)
        pending = f"{target}.pending-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        self.fs.pipe_file(pending, data)
        self.fs.mv(pending, target)

    def children(self, *parts: str) -> list[str]:
        """Names of the entries directly below a folder (empty if it does not exist)."""
        folder = self.path(*parts)
        if not self.fs.exists(folder):
            return []
        return sorted(posixpath.basename(entry.rstrip("/")) for entry in self.fs.ls(folder, detail=False))

    def symlinks(self, *parts: str) -> list[str]:
        """Symbolic links at or below `parts` (relative to the root), the folders on the way down included.

        A link in a published version could point anywhere on the reader's machine (`/etc/shadow`) and its bytes
        would be served as the release's; object stores have no links, so only a local disk is walked."""
        if not self.is_local:
            return []
        found = [posixpath.join(*parts[:depth]) for depth in range(1, len(parts) + 1)
                 if os.path.islink(self.path(*parts[:depth]))]
        if found:
            return found  # never walk into a linked folder
        for folder, folders, files in os.walk(self.path(*parts), followlinks=False):
            found += [os.path.relpath(os.path.join(folder, name), self.root) for name in folders + files
                      if os.path.islink(os.path.join(folder, name))]
        return sorted(found)

    def move(self, source: tuple[str, ...], target: tuple[str, ...]) -> None:
        # One rename on a local disk (atomic); per-object copies on object stores, where visibility is decided
        # by the manifest, which is the last object written.
        self.fs.mv(self.path(*source), self.path(*target), recursive=True)

    def remove(self, *parts: str) -> None:
        if self.exists(*parts):
            self.fs.rm(self.path(*parts), recursive=True)
