"""Generate the JSON schemas kubeconform validates the chart against (no network at check time).

Two inputs, both taken from module zips on the Go module proxy (see README.md beside this file):

* the Kubernetes OpenAPI v2 document (``api/openapi-spec/swagger.json`` in ``k8s.io/kubernetes``): one
  standalone, strict schema per kind the chart renders, in kubeconform's default layout
  ``<version>-standalone-strict/<kind>[-<group>]-<version>.json``;
* CustomResourceDefinition YAML files: one strict schema per served version, in the layout
  ``crds/<group>/<kind>_<version>.json``.

"Standalone" means every ``$ref`` is inlined; "strict" means every object that lists its properties
gets ``additionalProperties: false`` so a misspelt or misplaced field fails validation, as with
``kubeconform -strict``. Usage::

    python deploy/kubernetes-schemas/generate.py k8s --swagger PATH/swagger.json --version v1.34.3
    python deploy/kubernetes-schemas/generate.py crd FILE.yaml [FILE.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# Kinds the chart renders (group, version, kind); group "" is the core API.
CHART_KINDS: list[tuple[str, str, str]] = [
    ("", "v1", "ConfigMap"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("batch", "v1", "Job"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("networking.k8s.io", "v1", "Ingress"),
]

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
# Keys of the OpenAPI documents that mean nothing to a JSON-schema validator (or would mislead it).
DROP_KEYS = {"description", "format", "x-kubernetes-group-version-kind", "x-kubernetes-list-map-keys",
             "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-patch-merge-key",
             "x-kubernetes-patch-strategy", "x-kubernetes-unions", "x-kubernetes-validations",
             "x-kubernetes-embedded-resource"}  # fmt: skip


def kind_suffix(group: str, version: str) -> str:
    """kubeconform's ``{{ .KindSuffix }}``: ``-<first label of the group>-<version>`` or ``-<version>``."""
    return f"-{group.split('.')[0]}-{version}" if group else f"-{version}"


def _strict(node: Any) -> Any:
    """Recursively drop documentation keys and close every object that lists its properties."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k not in DROP_KEYS}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("anyOf", None)
        out.pop("type", None)
        out.update(INT_OR_STRING)
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    out.pop("x-kubernetes-int-or-string", None)
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _inline(node: Any, defs: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """Replace every ``$ref`` with the (recursively inlined) definition it points at."""
    if isinstance(node, list):
        return [_inline(n, defs, stack) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
            return dict(INT_OR_STRING)
        if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            return dict(QUANTITY)
        if name in stack:  # recursive types (only in kinds the chart does not render): accept anything
            return {}
        return _inline(defs[name], defs, (*stack, name))
    return {k: _inline(v, defs, stack) for k, v in node.items()}


def kubernetes_schemas(swagger: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{file name: schema}`` for every kind in :data:`CHART_KINDS`."""
    defs: dict[str, Any] = swagger["definitions"]
    by_gvk: dict[tuple[str, str, str], str] = {}
    for name, definition in defs.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name
    out: dict[str, dict[str, Any]] = {}
    for group, version, kind in CHART_KINDS:
        definition = by_gvk.get((group, version, kind))
        if definition is None:
            raise SystemExit(f"{group or 'core'}/{version} {kind} is not in the OpenAPI document")
        schema = _strict(_inline(defs[definition], defs, (definition,)))
        api_version = f"{group}/{version}" if group else version
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
        schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        schema["$schema"] = "http://json-schema.org/schema#"
        out[f"{kind.lower()}{kind_suffix(group, version)}.json"] = schema
    return out


def crd_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{relative path: schema}`` for every served version of one CustomResourceDefinition."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    out: dict[str, dict[str, Any]] = {}
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = _strict(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        props["kind"] = {"type": "string", "enum": [kind]}
        props["metadata"] = {"type": "object"}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        schema["$schema"] = "http://json-schema.org/schema#"
        out[f"{group}/{kind.lower()}_{version['name']}.json"] = schema
    return out


def _write(path: Path, schema: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    k8s = sub.add_parser("k8s", help="Kubernetes kinds from swagger.json")
    k8s.add_argument("--swagger", type=Path, required=True)
    k8s.add_argument("--version", required=True, help="Kubernetes version, e.g. v1.34.3")
    k8s.add_argument("--out", type=Path, default=HERE)
    crd = sub.add_parser("crd", help="CustomResourceDefinition YAML files")
    crd.add_argument("files", type=Path, nargs="+")
    crd.add_argument("--out", type=Path, default=HERE / "crds")
    args = parser.parse_args(argv)
    if args.cmd == "k8s":
        target = args.out / f"{args.version}-standalone-strict"
        for name, schema in kubernetes_schemas(json.loads(args.swagger.read_text())).items():
            _write(target / name, schema)
            print(target / name)
    else:
        for file in args.files:
            for doc in yaml.safe_load_all(file.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                for rel, schema in crd_schemas(doc).items():
                    _write(args.out / rel, schema)
                    print(args.out / rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
