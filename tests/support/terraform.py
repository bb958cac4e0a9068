"""Reading the Terraform configuration in tests: the project's scripts (tfcheck,
sync_bq_schemas) loaded by path, and small helpers over python-hcl2's output."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    """scripts/NAME.py as a module (scripts/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tfcheck = load_script("tfcheck")
unquote = tfcheck.unquote
expr = tfcheck.expr  # an expression without its ${ } wrapper


def module(rel: str):
    """The parsed .tf files of ROOT/rel."""
    return tfcheck.load_module((ROOT / rel).resolve())


def resources(rel: str, type_pattern: str = r".*") -> dict[str, dict]:
    """{"type.name": body} of the resources in module `rel` whose type matches the pattern."""
    return {f"{t}.{n}": body for _, t, n, body in module(rel).blocks("resource") if re.fullmatch(type_pattern, t)}


def module_calls(rel: str) -> dict[str, dict]:
    """{name: body} of the module blocks in module `rel`."""
    return {name: body for _, name, _, body in module(rel).blocks("module")}


def variables(rel: str) -> dict[str, dict]:
    return {name: body for _, name, _, body in module(rel).blocks("variable")}


def block(body: dict, *path: str) -> dict:
    """The first (only) nested block along `path` (KeyError if absent)."""
    for name in path:
        body = body[name][0]
    return body


def entry_points(path: Path = ROOT / "functions" / "main.py") -> dict[str, str]:
    """{function name: "http" | "cloud_event"} of the functions-framework entry points in main.py
    (`functions_framework.http` and `functions_framework.aio.http` alike)."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Attribute) and target.attr in ("http", "cloud_event"):
                    found[node.name] = target.attr
    return found


def deployed(functions: str = "infra/functions") -> dict[str, dict]:
    """{entry point: module call body} of the functions infra/functions deploys. An
    `environment_variables` of `local.NAME` or `merge(local.A, local.B, { KEY = value ... })`
    becomes the map it makes, and a `secret_environment_variables = local.NAME` that local's map;
    a local that is not a map literal (a conditional one, e.g. the Snowflake settings) adds no
    keys here and is named in the body's `conditional_locals` (tests/infra/test_snowflake.py
    evaluates those)."""
    calls = {}
    local_values = {name: value for _, name, _, value in module(functions).blocks("locals")}

    def resolve(value, conditional: list):
        if not isinstance(value, str) or not value.startswith("${"):
            return value
        inner = expr(value)
        args = inner[len("merge("):-1] if inner.startswith("merge(") else inner
        overrides = {}
        if "{" in args:  # merge(..., { KEY = value ... }): those keys replaced
            args, _, literal = args.partition("{")
            overrides = {k: "${" + v.strip() + "}" for k, v in re.findall(r"(\w+)\s*=\s*(.+)", literal.rsplit("}", 1)[0])}
        merged = {}
        for name in re.findall(r"local\.(\w+)", args):
            if isinstance(local_values[name], dict):
                merged.update(local_values[name])
            else:
                conditional.append(name)
        return {**merged, **overrides}

    for name, body in module_calls(functions).items():
        assert unquote(body["source"]) == "../function", name
        entry = unquote(body["entry_point"])
        assert entry not in calls, f"{entry} deployed twice"
        conditional: list[str] = []
        body = {**body, "environment_variables": resolve(body.get("environment_variables"), conditional)}
        if "secret_environment_variables" in body:
            body["secret_environment_variables"] = resolve(body["secret_environment_variables"], conditional)
        calls[entry] = {**body, "conditional_locals": conditional}
    return calls
