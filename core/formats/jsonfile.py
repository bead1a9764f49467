"""JSON hierarchies: a nested tree, a ``{"tree", "classes"}`` document, or a parent → children object.

``json_load`` falls back to an iterative parser (same grammar and error positions as ``json.loads``)
for documents nested deeper than the C parser's recursion allows.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from json.decoder import scanstring
from pathlib import Path

from core.formats import common
from core.hierarchy import Hierarchy, HierarchyError

def parse_json(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """A JSON tree, ``{"tree", "classes"}`` object, or parent → children object."""
    try:
        doc = json_load(text)
    except json.JSONDecodeError as err:
        ends_early = err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string")
        note = " — the file ends early (truncated?)" if ends_early else ""
        raise HierarchyError(
            f"{filename}: not valid JSON: {err.msg} (line {err.lineno}, column {err.colno}){note}"
        ) from None
    except ValueError as err:  # e.g. an integer literal over Python's digit limit
        raise HierarchyError(f"{filename}: not valid JSON ({err})") from None
    stem = Path(filename).stem
    if isinstance(doc, dict) and isinstance(doc.get("tree"), dict):
        file_classes = _json_classes(doc, filename)
        name = str(doc.get("name") or stem)
        return Hierarchy.from_tree(doc["tree"], classes or file_classes, name, where=filename)
    if isinstance(doc, dict) and "name" in doc:
        return Hierarchy.from_tree(doc, classes or _json_classes(doc, filename), stem, where=filename)
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):
        return Hierarchy.from_edges(_json_adjacency(doc, filename), classes, stem, where=filename)
    raise HierarchyError(
        f"{filename}: JSON must be a tree {{\"name\": ..., \"children\": [...]}}, "
        "an object with \"tree\" and \"classes\", or a parent → children object"
    )


def _json_classes(doc: dict, filename: str) -> list[str] | None:
    """The optional ``"classes"`` list of a JSON document, validated."""
    listed = doc.get("classes")
    if listed is None:
        return None
    if not isinstance(listed, list) or not all(isinstance(c, (str, int)) for c in listed):
        raise HierarchyError(f"{filename}: \"classes\" must be a list of class names")
    return [str(c) for c in listed]


def _json_adjacency(doc: dict, filename: str) -> list[tuple[str, str]]:
    """Edges of a ``{"parent": ["child", ...]}`` object (children must be names)."""
    edges = []
    for parent, kids in doc.items():
        for kid in kids:
            if not isinstance(kid, (str, int)) or isinstance(kid, bool):
                raise HierarchyError(f"{filename}: children of '{parent}' must be names, found {kid!r:.40}")
            edges.append((parent, str(kid)))
    return edges


def json_load(text: str):
    """json.loads; documents nested deeper than the C parser allows use an iterative parser."""
    try:
        return json.loads(text)
    except RecursionError:
        return json_loads_iterative(text)


_JSON_WS = re.compile(r"[ \t\n\r]*")
_JSON_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_JSON_CONSTANTS = {"-Infinity": -math.inf, "Infinity": math.inf, "NaN": math.nan,
                   "true": True, "false": False, "null": None}


def json_loads_iterative(text: str):
    """Parse JSON with an explicit stack (same grammar and errors as ``json.loads``)."""
    stack: list[tuple[dict | list, str | None]] = []  # open containers and their pending key
    pos = _JSON_WS.match(text, 0).end()
    while True:
        char = text[pos:pos + 1]
        if char in ("{", "["):
            container: dict | list = {} if char == "{" else []
            pos = _JSON_WS.match(text, pos + 1).end()
            if text[pos:pos + 1] != ("}" if char == "{" else "]"):
                if len(stack) >= 2 * common.MAX_NODES:
                    raise json.JSONDecodeError(f"nested more than {2 * common.MAX_NODES} levels", text, pos)
                key, pos = _json_key(text, pos) if char == "{" else (None, pos)
                stack.append((container, key))
                continue
            value, pos = container, pos + 1
        else:
            value, pos = _json_scalar(text, pos)
        while True:  # store the value, then close containers or move to the next item
            if not stack:
                end = _JSON_WS.match(text, pos).end()
                if end != len(text):
                    raise json.JSONDecodeError("Extra data", text, end)
                return value
            container, key = stack[-1]
            if key is None:
                container.append(value)
            else:
                container[key] = value
            pos = _JSON_WS.match(text, pos).end()
            char = text[pos:pos + 1]
            if char == ",":
                pos = _JSON_WS.match(text, pos + 1).end()
                if isinstance(container, dict):
                    key, pos = _json_key(text, pos)
                    stack[-1] = (container, key)
                break
            if char != ("}" if isinstance(container, dict) else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            stack.pop()
            value, pos = container, pos + 1


def _json_scalar(text: str, pos: int):
    """A string, number or constant at ``pos`` → ``(value, end)``."""
    if text[pos:pos + 1] == '"':
        return scanstring(text, pos + 1, True)
    for word, value in _JSON_CONSTANTS.items():  # before numbers: "-Infinity"
        if text.startswith(word, pos):
            return value, pos + len(word)
    match = _JSON_NUMBER.match(text, pos)
    if match:
        integer, fraction, exponent = match.groups()
        if fraction or exponent:
            return float(match.group()), match.end()
        return int(integer), match.end()
    raise json.JSONDecodeError("Expecting value", text, pos)


def _json_key(text: str, pos: int) -> tuple[str, int]:
    """An object key and its ``:``; returns the key and the position of its value."""
    if text[pos:pos + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1, True)
    pos = _JSON_WS.match(text, pos).end()
    if text[pos:pos + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    return key, _JSON_WS.match(text, pos + 1).end()


