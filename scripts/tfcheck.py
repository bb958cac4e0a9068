"""Check Terraform files against the Google provider's real schema, without the provider.

`terraform validate` needs the provider binary, which cannot be downloaded here. This checks
what validate would catch in our configuration, from the schema extracted by
`scripts/extract_provider_schema.py` (hashicorp/google and google-beta 8.7.0):

- every `google_*` resource and data source, and `provider "google"` blocks: unknown arguments or blocks (typos), missing
  required ones, a block written as an argument (`x = {...}`) or an argument as a block,
  a single block repeated, read-only attributes set, and types that exist only in
  google-beta used without `provider = google-beta`;
- references `google_x.name.attr` / `data.google_x.name.attr[...]`: the resource is declared
  in the module and the attribute exists;
- `var.X`, `local.X` and `module.M.OUTPUT` refer to declared names;
- module calls: every argument is a variable of the called module, every variable without a
  default is given.

    python scripts/tfcheck.py [ROOT]      # exit 1 and one line per problem if any
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "infra" / "provider-schema.json.gz"
SKIP_DIRS = {".terraform", ".git", "build", "node_modules"}
# Terraform's own arguments and blocks, valid in every resource / data / module block.
META = {"count", "for_each", "provider", "depends_on", "lifecycle", "connection", "provisioner"}
# (a provider block's `alias` is in the provider schema itself)
MODULE_META = {"source", "version", "providers", "depends_on", "count", "for_each"}

_RESOURCE_REF = re.compile(r"(?<![\w.])(data\.)?(google_\w+)\.(\w+)((?:\[[^\]]*\])?)((?:\.\w+(?:\[[^\]]*\])?)*)")
_NAMED_REF = re.compile(r"(?<![\w.])(var|local|module)\.(\w+)(?:\.(\w+))?")


def unquote(value):
    """python-hcl2 keeps string literals quoted ('"x"'); expressions come as '${...}'."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def expr(value):
    """An expression without its ${ } wrapper (a literal stays as its unquoted text)."""
    value = unquote(value)
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


def is_block(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def load_schema(path: Path = SCHEMA_FILE) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


@dataclass
class Module:
    """The parsed .tf files of one folder."""

    path: Path
    files: dict = field(default_factory=dict)  # file name -> parsed dict

    def blocks(self, kind: str):
        """(file, label1, label2, body) for `kind` blocks (resource, data: two labels; module,
        variable, output: one label, label2 None)."""
        for name, doc in self.files.items():
            for entry in doc.get(kind, []):
                for l1, inner in entry.items():
                    if kind in ("resource", "data"):
                        for l2, body in inner.items():
                            yield name, unquote(l1), unquote(l2), body
                    else:
                        yield name, unquote(l1), None, inner

    def names(self, kind: str) -> set[str]:
        return {l1 for _, l1, _, _ in self.blocks(kind)}

    def locals(self) -> set[str]:
        return {k for doc in self.files.values() for entry in doc.get("locals", []) for k in entry
                if not k.startswith("__")}


@functools.lru_cache(maxsize=None)
def load_module(path: Path) -> Module:
    """Parse once per check run (module folders are read again for every call of them)."""
    module = Module(Path(path))
    for tf in sorted(Path(path).glob("*.tf")):
        with open(tf, encoding="utf-8") as fh:
            module.files[tf.name] = hcl2.load(fh)
    return module


def module_dirs(root: Path) -> list[Path]:
    """Every folder under root holding .tf files (skipping virtualenvs, .terraform, build)."""
    dirs = {tf.parent for tf in Path(root).rglob("*.tf")
            if not any(part in SKIP_DIRS or part.startswith(".venv") for part in tf.relative_to(root).parts)}
    return sorted(dirs)


def _strings(value):
    """Every string inside a parsed value (expressions included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if not k.startswith("__"):
                yield from _strings(k)
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class Checker:
    def __init__(self, schema: dict | None = None):
        self.schema = schema or load_schema()
        self.problems: list[str] = []
        self.checked: list[str] = []  # addresses of google_* blocks checked

    def _type_schema(self, kind: str, type_name: str, provider: str):
        ga = self.schema["google"][kind]
        beta = self.schema["google-beta"][kind]
        if provider == "google-beta":
            return beta.get(type_name) or ga.get(type_name), None
        if type_name in ga:
            return ga[type_name], None
        if type_name in beta:
            return None, "exists only in google-beta: set provider = google-beta"
        return None, "unknown type (not in hashicorp/google 8.7.0)"

    def check_body(self, where: str, block: dict, body: dict) -> None:
        given = set()
        for key, value in body.items():
            if key.startswith("__") or key in META:  # __is_block__, __comments__ ...
                continue
            if key == "dynamic":
                for entry in value:
                    for name, dyn in entry.items():
                        name = unquote(name)
                        given.add(name)
                        nested = block["blocks"].get(name)
                        if nested is None:
                            self.problems.append(f"{where}: unknown block '{name}' (dynamic)")
                        else:
                            for content in dyn.get("content", []):
                                self.check_body(f"{where}.{name}", nested["block"], content)
                continue
            given.add(key)
            if key in block["arguments"]:
                if is_block(value):
                    self.problems.append(f"{where}: '{key}' is an argument, written as a block (use {key} = ...)")
            elif key in block["blocks"]:
                nested = block["blocks"][key]
                if not is_block(value):
                    self.problems.append(f"{where}: '{key}' is a block, used as an argument (write {key} {{ ... }})")
                    continue
                if not nested["list"] and len(value) > 1:
                    self.problems.append(f"{where}: block '{key}' given {len(value)} times; it allows one")
                for item in value:
                    self.check_body(f"{where}.{key}", nested["block"], item)
            elif key in block.get("computed", []):
                self.problems.append(f"{where}: '{key}' is read-only (computed by the provider)")
            else:
                self.problems.append(f"{where}: unknown argument or block '{key}'")
        for name, required in block["arguments"].items():
            if required and name not in given:
                self.problems.append(f"{where}: missing required argument '{name}'")
        for name, nested in block["blocks"].items():
            if nested["required"] and name not in given:
                self.problems.append(f"{where}: missing required block '{name}'")

    def check_module(self, module: Module, root: Path) -> None:
        rel = module.path.relative_to(root) if module.path != root else Path(".")
        declared = {"resource": {}, "data": {}}
        for kind in ("resource", "data"):
            for fname, type_name, name, body in module.blocks(kind):
                if not type_name.startswith("google_"):
                    continue
                provider = unquote(body.get("provider", "google")).strip("${}").split(".")[0]
                where = f"{rel / fname}: {'data.' if kind == 'data' else ''}{type_name}.{name}"
                block, error = self._type_schema(kind, type_name, provider)
                self.checked.append(where)
                if error:
                    self.problems.append(f"{where}: {error}")
                    continue
                declared[kind][(type_name, name)] = block
                self.check_body(where, block, body)
        for fname, doc in module.files.items():
            for entry in doc.get("provider", []):  # provider "google" { ... } configurations
                for name, body in entry.items():
                    name = unquote(name)
                    if name in ("google", "google-beta"):
                        where = f"{rel / fname}: provider {name}"
                        self.checked.append(where)
                        self.check_body(where, self.schema[name]["provider"], body)
        self._check_references(module, rel, declared)
        self._check_module_calls(module, rel, root)

    def _check_references(self, module: Module, rel: Path, declared: dict) -> None:
        variables, local_names = module.names("variable"), module.locals()
        calls = {name: body for _, name, _, body in module.blocks("module")}
        for fname, doc in module.files.items():
            for text in _strings(doc):
                if "${" not in text and not text.startswith(("var.", "local.", "module.", "google_", "data.")):
                    continue
                for data, type_name, name, _index, rest in _RESOURCE_REF.findall(text):
                    kind = "data" if data else "resource"
                    block = declared[kind].get((type_name, name))
                    ref = f"{data}{type_name}.{name}"
                    if block is None:
                        if type_name in self.schema["google"][kind] or type_name in self.schema["google-beta"][kind]:
                            self.problems.append(f"{rel / fname}: reference to undeclared {ref}")
                        continue
                    self._check_attribute_path(f"{rel / fname}: {ref}", block, rest)
                for kind, name, attr in _NAMED_REF.findall(text):
                    if kind == "var" and name not in variables:
                        self.problems.append(f"{rel / fname}: reference to undeclared var.{name}")
                    elif kind == "local" and name not in local_names:
                        self.problems.append(f"{rel / fname}: reference to undeclared local.{name}")
                    elif kind == "module":
                        if name not in calls:
                            self.problems.append(f"{rel / fname}: reference to undeclared module.{name}")
                        elif attr:
                            outputs = self._called(module, calls[name]).names("output")
                            if attr not in outputs:
                                self.problems.append(f"{rel / fname}: module.{name} has no output '{attr}'")

    def _check_attribute_path(self, where: str, block: dict, rest: str) -> None:
        steps = re.findall(r"\.(\w+)", re.sub(r"\[[^\]]*\]", "", rest))
        for step in steps[:2]:  # an attribute, and one level into a block
            if step == "id" or step in block["arguments"] or step in block.get("computed", []):
                return
            if step in block["blocks"]:
                block = block["blocks"][step]["block"]
                continue
            self.problems.append(f"{where}: no attribute '{step}'")
            return

    def _called(self, module: Module, body: dict) -> Module:
        return load_module((module.path / unquote(body["source"])).resolve())

    def _check_module_calls(self, module: Module, rel: Path, root: Path) -> None:
        for fname, name, _, body in module.blocks("module"):
            source = unquote(body.get("source", ""))
            if not source.startswith(("./", "../")):
                continue
            where = f"{rel / fname}: module.{name}"
            target = (module.path / source).resolve()
            if not any(target.glob("*.tf")):
                self.problems.append(f"{where}: source {source} holds no .tf files")
                continue
            called = load_module(target)
            variables = {n: b for _, n, _, b in called.blocks("variable")}
            args = {k for k in body if not k.startswith("__") and k not in MODULE_META}
            for arg in sorted(args - set(variables)):
                self.problems.append(f"{where}: '{arg}' is not a variable of {source}")
            for var, decl in variables.items():
                if "default" not in decl and var not in args:
                    self.problems.append(f"{where}: missing required variable '{var}' of {source}")


def check(root: Path = ROOT, schema: dict | None = None) -> Checker:
    checker = Checker(schema)
    load_module.cache_clear()
    for path in module_dirs(root):
        checker.check_module(load_module(path.resolve()), Path(root).resolve())
    return checker


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]).resolve() if args else ROOT
    checker = check(root)
    for problem in checker.problems:
        print(problem)
    print(f"{len(checker.checked)} google_* blocks checked against hashicorp/google 8.7.0: "
          f"{len(checker.problems)} problem(s)", file=sys.stderr)
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
