"""Parse `python -X importtime` output into time per top-level package.

    .venv/bin/python bench/importtime.py [--cwd functions] [--top 15] -- -c "import main"

runs `.venv/bin/python -X importtime <args>` and prints the self time summed by top-level
package (standard-library modules grouped as "(stdlib)"). Note that -X importtime itself
slows imports down; read the shares, not the absolute figures. bench/serving.py uses
`parse` and `by_package` on the log of a server started with -X importtime.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

STDLIB = set(sys.stdlib_module_names)


def parse(text: str) -> list[dict]:
    """One dict per import line: name, level (nesting), self_us, cumulative_us."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        raw = parts[2].rstrip("\n")
        name = raw.strip()
        level = max(0, (len(raw) - len(raw.lstrip()) - 1) // 2)
        rows.append({"name": name, "level": level, "self_us": int(parts[0]), "cumulative_us": int(parts[1])})
    return rows


def package(name: str) -> str:
    top = name.split(".")[0]
    return "(stdlib)" if top in STDLIB or top == "__future__" else top


def by_package(rows: list[dict]) -> list[dict]:
    """Self time summed per top-level package, largest first, with shares of the total."""
    totals: dict[str, int] = defaultdict(int)
    modules: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[package(r["name"])] += r["self_us"]
        modules[package(r["name"])] += 1
    grand = sum(totals.values()) or 1
    return [{"package": p, "ms": round(us / 1000, 1), "share": round(us / grand, 3), "modules": modules[p]}
            for p, us in sorted(totals.items(), key=lambda kv: -kv[1])]


def table(packages: list[dict], top: int = 12) -> str:
    total_ms = sum(p["ms"] for p in packages)
    lines = ["| package | self time (ms, under -X importtime) | share | modules |", "|---|---:|---:|---:|"]
    for p in packages[:top]:
        lines.append(f"| {p['package']} | {p['ms']:.0f} | {p['share']:.0%} | {p['modules']} |")
    rest = packages[top:]
    if rest:
        lines.append(f"| {len(rest)} others | {sum(p['ms'] for p in rest):.0f} | "
                     f"{sum(p['share'] for p in rest):.0%} | {sum(p['modules'] for p in rest)} |")
    lines.append(f"| **all imports** | **{total_ms:.0f}** | 100% | {sum(p['modules'] for p in packages)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cwd", default=".")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments after --, passed to python")
    args = parser.parse_args(argv)
    py_args = args.args[1:] if args.args[:1] == ["--"] else args.args
    python = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    proc = subprocess.run([str(python), "-X", "importtime", *py_args], cwd=args.cwd,
                          capture_output=True, text=True)
    print(table(by_package(parse(proc.stderr)), args.top))
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
