"""Reading a spec file: YAML that refuses duplicate keys, validation errors that name the key path, the hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synth_pipeline.errors import SpecError
from synth_pipeline.spec.release import LoadedSpec, ReleaseSpec
from synth_pipeline.spec.schema import COLUMN_TYPES
from synth_pipeline.spec.sources import SOURCE_FORMATS

class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML silently keeps the last, which hides typos."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

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
    if expected is None:
        message = error["msg"]
        expected = message[0].lower() + message[1:]
    return f"{where}: {expected}, got {error['input']!r}"


def parse_spec(raw: Any, path: str | Path) -> ReleaseSpec:
    try:
        return ReleaseSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            problem = _format_error(error)
            # Cross-section checks run on the whole spec; each of their problems already names its key path.
            problems += problem.removeprefix("(top level): ").split("\n") if not error["loc"] else [problem]
        raise SpecError(str(path), problems) from None


def spec_hash(spec: ReleaseSpec) -> str:
    """SHA-256 of the canonical JSON form: stable under reformatting, comments and key order."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_spec(path: str | Path) -> LoadedSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise SpecError(str(path), ["expected a mapping at the top level"])
    spec = parse_spec(raw, path)
    if spec.name != path.stem:
        raise SpecError(str(path), [f"name: expected the file name {path.stem!r}, got {spec.name!r}"])
    return LoadedSpec(spec=spec, path=path, spec_hash=spec_hash(spec))


def discover_specs(releases_dir: str | Path) -> list[Path]:
    """Spec files in a stable order: one DAG each."""
    return sorted(Path(releases_dir).glob("*.yaml"))
