"""Extract the Google provider's resource schemas into a small committed file.

The provider itself cannot be downloaded where the tests run, so `terraform validate` cannot
run. The PyPI packages `cdktn-provider-google` and `cdktn-provider-google-beta` (21.1.0, both
generated from hashicorp/google[-beta] 8.7.0) carry the provider's full schema inside their
jsii assembly (`_jsii/*.jsii.tgz`): every resource and data source has a `*Config` struct
listing each argument (`optional` absent = required) and each nested block (a struct; a list
of structs = a repeatable block). This script reads those assemblies and writes
`infra/provider-schema.json.gz`, which `scripts/tfcheck.py` checks every `google_*` block against.

    python scripts/extract_provider_schema.py            # pip-downloads the two wheels (~140 MB)
    python scripts/extract_provider_schema.py --wheels DIR   # or reads them from DIR

Output layout (block = {"arguments": {name: required}, "blocks": {name: {"required", "list", "block"}},
"computed": [read-only attribute names]}):
    {"source": ..., "google": {"resource": {type: block}, "data": {type: block}, "provider": block},
     "google-beta": {"resource": {...}, "data": {...}, "provider": block}}
where "google-beta" holds only the types that are absent from google or differ from it (a
type missing there has the same schema as in google).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

VERSION = "21.1.0"  # cdktn-provider-google[-beta] generated from hashicorp/google[-beta] 8.7.0
PROVIDERS = {"google": "cdktn-provider-google", "google-beta": "cdktn-provider-google-beta"}
OUT = Path(__file__).resolve().parent.parent / "infra" / "provider-schema.json.gz"

_REPRESENTS = re.compile(r"\{@link https://registry\.terraform\.io/providers/hashicorp/[\w-]+/([\d.]+)/docs/"
                         r"(resources|data-sources)/\w+ (\w+)\}")
_PROVIDER = re.compile(r"\{@link https://registry\.terraform\.io/providers/hashicorp/[\w-]+/[\d.]+/docs google(-beta)?\}")
_ANCHOR = re.compile(r"\{@link \S+#(\w+) \w+#\w+\}")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _struct(type_ref: dict, types: dict) -> tuple[str, bool] | None:
    """The struct a property holds (a nested block) and whether it is a list of them."""
    if "fqn" in type_ref and types.get(type_ref["fqn"], {}).get("datatype"):
        return type_ref["fqn"], False
    for member in type_ref.get("union", {}).get("types", []):
        found = _struct(member, types)
        if found:
            return found
    if "collection" in type_ref:
        found = _struct(type_ref["collection"]["elementtype"], types)
        if found:
            return found[0], True
    return None


def _computed(fqn: str, types: dict, known: set) -> list[str]:
    """Read-only attributes: the getters of the class that reads the block back, minus inputs."""
    getters = types.get(fqn, {}).get("properties", [])
    names = {_snake(p["name"]) for p in getters if not p.get("static") and not p["name"].endswith("Input")
             and p["name"] != "internalValue"}
    return sorted(names - known)


def _block(fqn: str, types: dict, seen: tuple = (), reader: str | None = None) -> dict:
    arguments, blocks = {}, {}
    for prop in types[fqn].get("properties", []):
        anchor = _ANCHOR.search(prop.get("docs", {}).get("remarks", ""))
        name = anchor.group(1) if anchor else _snake(prop["name"])
        required = not prop.get("optional", False)
        nested = _struct(prop["type"], types)
        if nested and nested[0] not in seen:
            blocks[name] = {"required": required, "list": nested[1],
                            "block": _block(nested[0], types, seen + (fqn,))}
        else:
            arguments[name] = required
    computed = _computed(reader or f"{fqn}OutputReference", types, set(arguments) | set(blocks))
    return {"arguments": dict(sorted(arguments.items())), "blocks": dict(sorted(blocks.items())),
            "computed": computed}


def schema_from_assembly(assembly: dict) -> tuple[str, dict]:
    """(provider version, {"resource": {...}, "data": {...}, "provider": block}) from a parsed
    .jsii assembly."""
    types = assembly["types"]
    out, version = {"resource": {}, "data": {}, "provider": None}, None
    for t in types.values():
        summary = t.get("docs", {}).get("summary", "")
        if t.get("kind") == "class" and _PROVIDER.search(summary) and "initializer" in t:  # provider "google" {}
            config = next(p["type"]["fqn"] for p in t["initializer"]["parameters"] if p["name"] == "config")
            out["provider"] = _block(config, types, reader=t["fqn"])
            continue
        found = t.get("kind") == "class" and _REPRESENTS.search(t.get("docs", {}).get("summary", ""))
        if not found or "initializer" not in t:
            continue
        version = found.group(1)
        config = next(p["type"]["fqn"] for p in t["initializer"]["parameters"] if p["name"] == "config")
        kind = "resource" if found.group(2) == "resources" else "data"
        out[kind][found.group(3)] = _block(config, types, reader=t["fqn"])
    return version, {k: (dict(sorted(v.items())) if k != "provider" else v) for k, v in out.items()}


def read_assembly(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(zf.read(name))) as tar:
            return json.load(tar.extractfile("package/.jsii"))


def download(package: str, dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    f"{package}=={VERSION}", "-d", str(dest)], check=True)
    return find_wheel(package, dest)


def find_wheel(package: str, folder: Path) -> Path:
    return next(folder.glob(f"{package.replace('-', '_')}-{VERSION}-*.whl"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="folder holding the two wheels (default: pip download)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        schemas, versions = {}, {}
        for provider, package in PROVIDERS.items():
            wheel = find_wheel(package, args.wheels) if args.wheels else download(package, Path(tmp))
            versions[provider], schemas[provider] = schema_from_assembly(read_assembly(wheel))
    ga = schemas["google"]
    beta_delta = {kind: {name: block for name, block in schemas["google-beta"][kind].items()
                         if ga[kind].get(name) != block} for kind in ("resource", "data")}
    beta_delta["provider"] = schemas["google-beta"]["provider"]
    doc = {"source": {p: f"{PROVIDERS[p]}=={VERSION} (hashicorp/{p} {versions[p]})" for p in PROVIDERS},
           "google": ga, "google-beta": beta_delta}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    args.out.write_bytes(gzip.compress(raw, mtime=0))  # mtime=0: the same input gives the same bytes
    print(f"{args.out}: {len(ga['resource'])} resources, {len(ga['data'])} data sources; "
          f"google-beta adds or changes {len(beta_delta['resource'])} resources; "
          f"{len(raw) / 1e6:.1f} MB JSON, {args.out.stat().st_size / 1e3:.0f} KB gzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
