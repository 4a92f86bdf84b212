"""YAML for spec files: safe tags only, no duplicate keys, and bounded in bytes, nesting and alias expansion.

Whoever writes a spec is not trusted with the data, and every process that imports the DAG folder parses every spec:
one hostile file must cost a bounded, small amount of time and memory and then fail with a typed error. PyYAML's
SafeLoader already refuses Python tags; it does not bound what a document expands to, nor how deep it nests (the
composer recurses once per level). The limits and why they hold: `synth_pipeline.spec.limits`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from synth_pipeline.spec.limits import MAX_SPEC_DEPTH, MAX_SPEC_NODES


class SpecYamlError(yaml.YAMLError):
    """The document breaks one of the bounds (nesting, expanded size, a recursive alias)."""


class _BoundedLoader(Composer, CParser, SafeConstructor, Resolver):
    """A safe loader that refuses duplicate keys (PyYAML silently keeps the last, which hides typos) and nesting
    deeper than MAX_SPEC_DEPTH, counted while composing, before the composer's own recursion could overflow the
    stack. Events come from libyaml (CParser: six times faster than PyYAML's scanner, and it keeps no recursion
    of its own); nodes are composed here in Python (Composer first in the MRO), where the depth can be counted."""

    def __init__(self, stream: str):
        CParser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0
        self.bare_booleans: list[tuple[str, int]] = []  # (the word, its line) for yes/no/on/off read as booleans

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_SPEC_DEPTH:
                raise SpecYamlError(f"nested deeper than {MAX_SPEC_DEPTH} levels "
                                    f"(line {self.peek_event().start_mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# YAML 1.1 reads these bare words as booleans (`country: NO` is Norway no more); true/false are meant as booleans.
SURPRISING_BOOLEANS = frozenset({"yes", "no", "on", "off"})


def _construct_bool(loader: _BoundedLoader, node: yaml.ScalarNode) -> bool:
    value = SafeConstructor.construct_yaml_bool(loader, node)
    if str(node.value).lower() in SURPRISING_BOOLEANS and not node.style:  # plain, not quoted
        loader.bare_booleans.append((str(node.value), node.start_mark.line + 1))
    return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it past MAX_SPEC_NODES nodes or MAX_SPEC_DEPTH levels, or into
    itself. An alias shares its anchor's node, so the graph stays small while the tree it stands for (what the
    validator, the error messages and the hash walk) may not be: each node's expanded size and depth are computed
    once (memoized by identity), iteratively, so neither a billion-node tree nor a deep chain of aliases is walked."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) of its expanded tree
    started: set[int] = set()  # on the current path: meeting one of these again is a recursive alias
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in done:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in started:
                raise SpecYamlError(f"a recursive alias (line {node.start_mark.line + 1}): a spec is a tree")
            started.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in done)
            continue
        started.discard(id(node))
        nodes = 1 + sum(done[id(child)][0] for child in children)
        depth = 1 + max((done[id(child)][1] for child in children), default=0)
        if nodes > MAX_SPEC_NODES:
            raise SpecYamlError(f"expands to more than {MAX_SPEC_NODES:,} values once its aliases are resolved "
                                f"(line {node.start_mark.line + 1})")
        if depth > MAX_SPEC_DEPTH:
            raise SpecYamlError(f"nested deeper than {MAX_SPEC_DEPTH} levels once its aliases are resolved "
                                f"(line {node.start_mark.line + 1})")
        done[id(node)] = (nodes, depth)


def load_bounded(text: str) -> Any:
    """The one YAML document in `text` as plain Python data; a yaml.YAMLError for anything unsafe or oversized
    (and whatever the SafeConstructor raises on a malformed scalar, e.g. ValueError for a date of month 13)."""
    return load_bounded_noting(text)[0]


def load_bounded_noting(text: str) -> tuple[Any, list[tuple[str, int]]]:
    """`load_bounded`, and the bare words (yes, no, on, off, any case) that YAML 1.1 read as booleans, with their
    lines: a category `NO` (Norway) becomes false, and the author should hear why."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        check_expansion(node)
        return loader.construct_document(node), loader.bare_booleans
    finally:
        loader.dispose()
