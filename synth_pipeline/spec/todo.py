"""Placeholders for what a spec's author still has to decide, and the files a spec names that must exist.

`synth-pipeline init` writes every field only a person can fill in (a public bound, a category list, the budget,
the stewards) as a string `TODO(what to put here)`. The loader finds every placeholder before validating anything
else and refuses the spec with one line per placeholder, its key path and the explanation, so `validate-spec` says
exactly what is left, all at once. A placeholder is any string value (or mapping key) that starts with `TODO(`:
no real bound, label or budget does.
"""

from __future__ import annotations

import re
from typing import Any

TODO_PREFIX = "TODO("
_TODO = re.compile(r"TODO\((?P<why>.*)\)\s*$", re.DOTALL)
MAX_EXPLANATION_CHARS = 300


def todo(explanation: str) -> str:
    """The placeholder for one undecided field."""
    return f"{TODO_PREFIX}{explanation})"


def _explanation(text: str) -> str:
    match = _TODO.match(text)
    why = " ".join((match.group("why") if match else text.removeprefix(TODO_PREFIX)).split())
    return why if len(why) <= MAX_EXPLANATION_CHARS else why[:MAX_EXPLANATION_CHARS] + "..."


def todo_problems(raw: Any) -> list[str]:
    """One line per placeholder in the parsed document, in document order: `key.path: left to fill in: why`.

    Iterative (the document is already bounded in size and depth by the safe loader, aliases included, but an
    alias-shared subtree is only walked once per reference path it has: at most the loader's node bound)."""
    problems: list[str] = []
    stack: list[tuple[str, Any]] = [("", raw)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            if node.startswith(TODO_PREFIX):
                problems.append(f"{where or '(top level)'}: left to fill in: {_explanation(node)}")
        elif isinstance(node, dict):
            children = []
            for key, value in node.items():
                name = str(key)
                path = f"{where}.{name}" if where else name
                if isinstance(key, str) and key.startswith(TODO_PREFIX):
                    problems.append(f"{where or '(top level)'}: left to fill in: {_explanation(key)}")
                children.append((path, value))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(f"{where}.{index}", value) for index, value in enumerate(node)]))
    return problems


def missing_file_problems(loaded) -> list[str]:
    """The files a valid spec names and reads later (its quality suite, a recognizers file) that do not exist or lie
    outside the folders allowed for them: found by `validate-spec` rather than three steps into a run."""
    from synth_pipeline.errors import PathNotAllowed
    from synth_pipeline.paths import confined

    named = [("quality.suite", loaded.spec.quality.suite, "suites", "a Great Expectations suite JSON "
              "(`synth-pipeline init` writes an empty one to start from)")]
    if loaded.spec.pii.recognizers_file:
        named.append(("pii.recognizers_file", loaded.spec.pii.recognizers_file, "recognizers",
                      "a YAML list of recognizers"))
    problems = []
    for key, relative, kind, what in named:
        try:
            path = confined(relative, kind=kind, project_root=loaded.project_root, where=key)
        except PathNotAllowed as exc:
            problems.append(str(exc))
            continue
        if not path.is_file():
            problems.append(f"{key}: no file at {path} (expected {what}, relative to the project root "
                            f"{loaded.project_root})")
    return problems
