"""Avro schema identity and evolution, as pure functions over raw (JSON) schemas.

The registry (``avro_registry``) uses them to refuse a schema file edited in place and a new version
that is not FULL compatible with the one before it (each must read the other's data, by Avro's
resolution rules); the codec never needs them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

__all__ = ["compatibility_problems", "fingerprint", "resolution_fingerprint"]


def fingerprint(schema: Any) -> str:
    """Hex SHA-256 of the schema's Parsing Canonical Form: the Avro-standard identity of a schema.

    It ignores docs, defaults, aliases and logical types, so it says whether the *bytes* could differ.
    """
    parsed = parse_schema(schema)
    return hashlib.sha256(to_parsing_canonical_form(parsed).encode()).hexdigest()


def _strip_docs(schema: Any) -> Any:
    """Copy of a raw schema without ``doc`` attributes (defaults are kept verbatim)."""
    if isinstance(schema, list):
        return [_strip_docs(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "doc"}
    if isinstance(out.get("type"), dict | list):
        out["type"] = _strip_docs(out["type"])
    if "fields" in out:
        out["fields"] = [
            {**{k: v for k, v in f.items() if k != "doc"}, "type": _strip_docs(f["type"])}
            for f in out["fields"]
        ]
    for key in ("items", "values"):
        if key in out:
            out[key] = _strip_docs(out[key])
    return out


def resolution_fingerprint(schema: Any) -> str:
    """Hex SHA-256 of the schema minus its docs.

    Unlike :func:`fingerprint` it covers defaults, aliases and logical types, which change how readers
    resolve data, so editing one of those without registering a new version is caught too. Doc edits
    are free.
    """
    text = json.dumps(_strip_docs(schema), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
# (writer type, reader type) pairs Avro resolves by promotion.
_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _expand(schema: Any, namespace: str | None, names: dict[str, dict[str, Any]]) -> Any:
    """Normalise a raw schema: named references replaced by their definitions, primitives as dicts."""
    if isinstance(schema, list):
        return [_expand(s, namespace, names) for s in schema]
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return {"type": schema}
        return names[_fullname(schema, namespace)]
    kind = schema["type"]
    if isinstance(kind, dict | list) or (
        isinstance(kind, str) and kind not in _PRIMITIVES | _NAMED | {"array", "map"}
    ):
        return _expand(kind, namespace, names)
    if kind in _NAMED:
        full = _fullname(schema["name"], schema.get("namespace", namespace))
        inner_ns = full.rpartition(".")[0] or None
        node: dict[str, Any] = {**schema, "fullname": full}
        node["aliases"] = {_fullname(a, inner_ns) for a in schema.get("aliases", [])}
        names[full] = node  # before recursing, so recursive types terminate
        if kind in ("record", "error"):
            node["fields"] = [{**f, "type": _expand(f["type"], inner_ns, names)} for f in schema["fields"]]
        return node
    if kind == "array":
        return {"type": "array", "items": _expand(schema["items"], namespace, names)}
    if kind == "map":
        return {"type": "map", "values": _expand(schema["values"], namespace, names)}
    return {"type": kind, "logicalType": schema.get("logicalType")}


def _describe_type(node: Any) -> str:
    if isinstance(node, list):
        return "[" + ", ".join(_describe_type(b) for b in node) + "]"
    return str(node.get("fullname") or node.get("logicalType") or node["type"])


def _read_problems(reader: Any, writer: Any, where: str, seen: set[tuple[int, int]]) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (Avro resolution rules)."""
    if isinstance(writer, list):
        return [p for branch in writer for p in _read_problems(reader, branch, where, seen)]
    if isinstance(reader, list):
        for branch in reader:
            if not _read_problems(branch, writer, where, seen):
                return []
        return [f"{where}: reader union {_describe_type(reader)} has no branch for {_describe_type(writer)}"]
    rt, wt = reader["type"], writer["type"]
    if rt != wt:
        if (wt, rt) in _PROMOTIONS:
            return []
        return [f"{where}: type changed from {_describe_type(writer)} to {_describe_type(reader)}"]
    if rt in _PRIMITIVES:
        if reader.get("logicalType") != writer.get("logicalType"):
            return [
                f"{where}: logical type changed from {writer.get('logicalType')} "
                f"to {reader.get('logicalType')}"
            ]
        return []
    if rt == "array":
        return _read_problems(reader["items"], writer["items"], f"{where}[]", seen)
    if rt == "map":
        return _read_problems(reader["values"], writer["values"], f"{where}{{}}", seen)
    if writer["fullname"] != reader["fullname"] and writer["fullname"] not in reader["aliases"]:
        return [f"{where}: {rt} renamed from {writer['fullname']} to {reader['fullname']} without an alias"]
    key = (id(reader), id(writer))
    if key in seen:
        return []
    seen.add(key)
    if rt == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            return [
                f"{where}: symbols {missing} unknown to the reader "
                f"and enum {reader['fullname']} has no default"
            ]
        return []
    if rt == "fixed":
        return [] if reader["size"] == writer["size"] else [f"{where}: fixed size changed"]
    problems: list[str] = []
    by_name = {f["name"]: f for f in writer["fields"]}
    for field in reader["fields"]:
        candidates = [field["name"], *field.get("aliases", [])]
        found = next((by_name[n] for n in candidates if n in by_name), None)
        path = f"{where}.{field['name']}" if where else field["name"]
        if found is not None:
            problems += _read_problems(field["type"], found["type"], path, seen)
        elif "default" not in field:
            problems.append(f"{path}: field is absent on one side and has no default")
    return problems


def compatibility_problems(old: Any, new: Any) -> list[str]:
    """Problems that make two raw schemas not FULL compatible (each must read the other's data)."""
    new_x, old_x = _expand(new, None, {}), _expand(old, None, {})
    backward = [f"new cannot read old: {p}" for p in _read_problems(new_x, old_x, "", set())]
    forward = [f"old cannot read new: {p}" for p in _read_problems(old_x, new_x, "", set())]
    return backward + forward
