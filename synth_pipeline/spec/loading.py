"""Reading a spec file: bounded UTF-8 YAML, validation errors that name the key path, the hash.

`load_spec` raises SpecError and nothing else, whatever the file holds: the DAG file builds one DAG per spec and
skips a broken one, and `validate-spec` exits 1 for it. Error messages show at most a short excerpt of an offending
value (a value may be an alias standing for a billion elements).
"""

from __future__ import annotations

import hashlib
import json
import reprlib
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synth_pipeline.errors import SpecError
from synth_pipeline.spec.limits import MAX_SPEC_BYTES
from synth_pipeline.spec.release import LoadedSpec, ReleaseSpec
from synth_pipeline.spec.safe_yaml import load_bounded_noting
from synth_pipeline.spec.schema import COLUMN_TYPES
from synth_pipeline.spec.sources import SOURCE_FORMATS
from synth_pipeline.spec.todo import todo_problems

# A file with a problem in every value lists the first ones only: enough to fix, bounded for a log line.
MAX_PROBLEMS_SHOWN = 50
MAX_PROBLEM_CHARS = 1_000


def _excerpt_repr() -> reprlib.Repr:
    # reprlib elides long strings and containers (with "..."), at any depth, in time bounded by its limits.
    excerpt = reprlib.Repr()
    excerpt.maxstring = excerpt.maxother = 60
    excerpt.maxlist = excerpt.maxtuple = excerpt.maxdict = excerpt.maxset = 4
    excerpt.maxlevel = 2
    return excerpt


_EXCERPT = _excerpt_repr()

_EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
}


def _format_error(error: dict[str, Any]) -> str:
    # Tagged unions add the tag to the location (schema.age.integer.max); readers think in keys, so drop it.
    loc = [str(part) for part in error["loc"] if not (isinstance(part, str) and part in COLUMN_TYPES + SOURCE_FORMATS)]
    loc = ["schema" if part == "schema_" else part for part in loc]
    where = ".".join(loc) or "(top level)"
    kind = error["type"]
    if kind in ("missing", "extra_forbidden"):
        return f"{where}: {_EXPECTED[kind]}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = error["ctx"]["discriminator"].strip("'")
        if kind == "union_tag_not_found":
            return f"{where}.{tag}: required key is missing"
        return f"{where}.{tag}: expected one of {error['ctx']['expected_tags']}, got {error['ctx']['tag']!r}"
    if kind == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    expected = _EXPECTED.get(kind)
    if kind == "string_type" and isinstance(error["input"], bool):
        # YAML 1.1 reads bare yes/no/on/off (any case) as booleans: a country code NO, a label Yes.
        return (f"{where}: expected a string, got the boolean {str(error['input']).lower()}: YAML reads a bare "
                "yes/no/on/off/true/false as a boolean; quote the value if you meant the text (\"NO\", \"Yes\")")
    if expected is None:
        message = error["msg"]
        expected = message[0].lower() + message[1:]
    return f"{where}: {expected}, got {_EXCERPT.repr(error['input'])}"


def bare_boolean_notes(bare: list[tuple[str, int]]) -> list[str]:
    """One line per bare yes/no/on/off that YAML read as a boolean: right for a flag, a surprise for a label."""
    return [f"line {line}: the bare word {word} is read as the boolean {str(word.lower() in ('yes', 'on')).lower()}; "
            f"if you meant the text, quote it: \"{word}\"" for word, line in bare[:MAX_PROBLEMS_SHOWN]]


def parse_spec(raw: Any, path: str | Path, *, bare_booleans: list[tuple[str, int]] = ()) -> ReleaseSpec:
    try:
        return ReleaseSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            problem = _format_error(error)
            # Cross-section checks run on the whole spec; each of their problems already names its key path.
            problems += problem.removeprefix("(top level): ").split("\n") if not error["loc"] else [problem]
        shown = [problem if len(problem) <= MAX_PROBLEM_CHARS else problem[:MAX_PROBLEM_CHARS] + "..."
                 for problem in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more problems")
        raise SpecError(str(path), shown + [f"note: {note}" for note in bare_boolean_notes(list(bare_booleans))]) \
            from None


def spec_hash(spec: ReleaseSpec) -> str:
    """SHA-256 of the canonical JSON form: stable under reformatting, comments and key order."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _read_text(path: Path) -> str:
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the reader, a device never end
            raise SpecError(str(path), ["not a regular file"])
        with path.open("rb") as file:
            data = file.read(MAX_SPEC_BYTES + 1)  # never more, whatever the file's size
    except OSError as exc:
        raise SpecError(str(path), [f"cannot read the file ({exc.strerror or type(exc).__name__})"]) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(str(path), [f"larger than {MAX_SPEC_BYTES:,} bytes: a spec declares a release, it does not "
                                    "carry data (move long lists into the harmonize step or the source)"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), [f"not valid UTF-8 text (byte offset {exc.start}); spec files are UTF-8"]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (PyYAML's own text spans lines and quotes the document)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc)
    what = "; ".join(part for part in (exc.context, exc.problem) if part)
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return (what if len(what) <= MAX_PROBLEM_CHARS else what[:MAX_PROBLEM_CHARS] + "...") + where


def _parse_yaml(text: str, path: Path) -> tuple[Any, list[tuple[str, int]]]:
    try:
        return load_bounded_noting(text)
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [f"not valid YAML: {_yaml_problem(exc)}"]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # the SafeConstructor on a malformed date or number
        raise SpecError(str(path), [f"not valid YAML: a value cannot be read ({type(exc).__name__}: "
                                    f"{_EXCERPT.repr(str(exc))})"]) from None


def load_spec(path: str | Path) -> LoadedSpec:
    """The validated spec in `path`; SpecError, and no other exception, for any file that is not one."""
    path = Path(path)
    text = _read_text(path)
    try:
        raw, bare = _parse_yaml(text, path)
        if not isinstance(raw, dict):
            raise SpecError(str(path), ["expected a mapping at the top level"])
        left = todo_problems(raw)
        if left:
            # Every placeholder at once, before anything else: each one would otherwise fail as a wrong type.
            shown = [problem if len(problem) <= MAX_PROBLEM_CHARS else problem[:MAX_PROBLEM_CHARS] + "..."
                     for problem in left[:MAX_PROBLEMS_SHOWN]]
            if len(left) > MAX_PROBLEMS_SHOWN:
                shown.append(f"... and {len(left) - MAX_PROBLEMS_SHOWN} more")
            raise SpecError(str(path), [*shown, f"{len(left)} field(s) left to fill in: replace each TODO(...) "
                                        "with your decision, then run validate-spec again"])
        spec = parse_spec(raw, path, bare_booleans=bare)
        if spec.name != path.stem:
            raise SpecError(str(path), [f"name: expected the file name {path.stem!r}, got {spec.name!r}"])
        return LoadedSpec(spec=spec, path=path, spec_hash=spec_hash(spec),
                          warnings=tuple(bare_boolean_notes(bare)))
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - a check that fails unexpectedly still means this spec is unusable
        raise SpecError(str(path), [f"cannot be validated: a check failed with {type(exc).__name__} (a bug in "
                                    "synth_pipeline; report it with the spec)"]) from exc


def discover_specs(releases_dir: str | Path) -> list[Path]:
    """Spec files in a stable order: one DAG each."""
    return sorted(Path(releases_dir).glob("*.yaml"))
