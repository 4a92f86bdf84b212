"""Where a spec may point: every local path a spec names resolves, symlinks included, inside an allowed root.

A spec is written by whoever authors releases, who is not trusted with the worker's file system: a source path of
`../../etc/passwd`, a symlink to `/etc/shadow` or `/proc/self/environ` must never be read into a run folder. The
roots are the operator's choice, not the spec's: by default one folder of the project per kind of file, and more
through an environment variable holding a list of folders separated by `os.pathsep` (`:` on Linux).

| kind        | default root (under the project) | more roots from                   |
|-------------|----------------------------------|-----------------------------------|
| sources     | data/                            | SYNTH_PIPELINE_SOURCE_ROOTS       |
| suites      | expectations/                    | SYNTH_PIPELINE_SUITE_ROOTS        |
| recognizers | config/                          | SYNTH_PIPELINE_RECOGNIZER_ROOTS   |
| publish     | published/                       | SYNTH_PIPELINE_PUBLISH_ROOTS      |

The check resolves the final path (`Path.resolve` follows every symlink on the way) and then asks whether it lies
inside a resolved root, so `..`, absolute paths and links that leave the root are refused alike. A file that does
not exist yet (a publication folder) is resolved as far as it exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from synth_pipeline.errors import PathNotAllowed

PathKind = Literal["sources", "suites", "recognizers", "publish"]
DEFAULT_FOLDERS: dict[str, str] = {"sources": "data", "suites": "expectations", "recognizers": "config",
                                   "publish": "published"}
ROOTS_ENV: dict[str, str] = {"sources": "SYNTH_PIPELINE_SOURCE_ROOTS", "suites": "SYNTH_PIPELINE_SUITE_ROOTS",
                             "recognizers": "SYNTH_PIPELINE_RECOGNIZER_ROOTS",
                             "publish": "SYNTH_PIPELINE_PUBLISH_ROOTS"}


def allowed_roots(kind: PathKind, project_root: Path) -> tuple[Path, ...]:
    """The project's default folder for this kind, then the operator's extra roots, all resolved."""
    configured = [entry for entry in os.environ.get(ROOTS_ENV[kind], "").split(os.pathsep) if entry.strip()]
    extra = [Path(entry).expanduser() for entry in configured]
    if any(not root.is_absolute() for root in extra):
        raise PathNotAllowed(f"{ROOTS_ENV[kind]} must list absolute folders")
    return tuple(root.resolve() for root in [project_root / DEFAULT_FOLDERS[kind], *extra])


def confined(path: str | Path, *, kind: PathKind, project_root: Path, where: str) -> Path:
    """`path` (relative to the project root, or absolute) resolved; refused unless inside an allowed root.

    `where` names the spec key (`sources.cleveland.path`) for the error, which never shows what the file holds.
    """
    text = str(path)
    if "\x00" in text:
        raise PathNotAllowed(f"{where}: a path may not contain a NUL character")
    candidate = Path(text).expanduser()
    resolved = (candidate if candidate.is_absolute() else project_root / candidate).resolve()
    roots = allowed_roots(kind, project_root)
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        listed = ", ".join(str(root) for root in roots)
        raise PathNotAllowed(
            f"{where}: {text!r} resolves outside the folders allowed for {kind} ({listed}); the operator adds "
            f"folders with {ROOTS_ENV[kind]}, a spec cannot")
    return resolved
