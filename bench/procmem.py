"""Resident memory of a process tree from /proc (Linux): RSS summed, PSS summed, and the
distinct physical pages of the whole tree.

gunicorn forks its worker from a master that has already imported the function and loaded
the model, so most of the worker's pages are the master's, shared copy-on-write: summing RSS
counts them twice. `unique_kib` counts every resident physical page of the tree once (page
frame numbers from /proc/PID/pagemap; readable as root), which is what the tree really
occupies. PSS divides each page among *all* processes mapping it, including unrelated ones,
so it depends on what else runs on the machine.
"""

from __future__ import annotations

import os
from array import array

PAGE = os.sysconf("SC_PAGE_SIZE")
_PFN_MASK = (1 << 55) - 1
_PRESENT = 1 << 63


def children(pid: int) -> list[int]:
    """Direct children of `pid` (via /proc/PID/task/*/children)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(p) for p in fh.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return sorted(set(out))


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += children(p)
    return pids


def _kib_fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    out = dict.fromkeys(names, 0)
    with open(path) as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in out:
                out[key] = int(rest.split()[0])
    return out


def _resident_pfns(pid: int) -> set[int]:
    """Physical frame numbers of every resident page of `pid`."""
    ranges = []
    with open(f"/proc/{pid}/smaps") as fh:
        current = None
        for line in fh:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                current = (lo, hi)
            elif first == "Rss:" and current and int(line.split()[1]) > 0:
                ranges.append(current)
    pfns: set[int] = set()
    with open(f"/proc/{pid}/pagemap", "rb") as fh:
        for lo, hi in ranges:
            fh.seek(lo // PAGE * 8)
            entries = array("Q")
            entries.frombytes(fh.read((hi - lo) // PAGE * 8))
            pfns.update(e & _PFN_MASK for e in entries if e & _PRESENT)
    return pfns


def tree_memory(pid: int) -> dict:
    """Memory of `pid` and its descendants, in KiB."""
    procs = []
    pages: set[int] = set()
    unique_ok = True
    for p in tree(pid):
        try:
            status = _kib_fields(f"/proc/{p}/status", ("VmRSS", "VmHWM"))
            rollup = _kib_fields(f"/proc/{p}/smaps_rollup", ("Pss", "Private_Clean", "Private_Dirty"))
        except (FileNotFoundError, ProcessLookupError):
            continue
        procs.append({"pid": p, "rss_kib": status["VmRSS"], "hwm_kib": status["VmHWM"],
                      "pss_kib": rollup["Pss"], "uss_kib": rollup["Private_Clean"] + rollup["Private_Dirty"]})
        if unique_ok:
            try:
                found = _resident_pfns(p)
                if found and max(found) == 0:  # PFNs hidden (no CAP_SYS_ADMIN)
                    unique_ok = False
                pages |= found
            except OSError:
                unique_ok = False
    return {
        "processes": len(procs),
        "rss_kib": sum(x["rss_kib"] for x in procs),
        "pss_kib": sum(x["pss_kib"] for x in procs),
        "unique_kib": len(pages) * PAGE // 1024 if unique_ok else None,
        "per_process": procs,
    }


def _short(path: str) -> str:
    if not path:
        return "[anonymous: Python heap, malloc arenas]"
    if path.startswith("["):
        return "[anonymous: Python heap, malloc arenas]" if path == "[heap]" else path
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/")[0] + " (" + rest.rsplit("/", 1)[-1] + ")" if "/" in rest else rest
    return path.rsplit("/", 1)[-1]


def rss_by_mapping(pid: int) -> list[dict]:
    """Resident KiB of `pid` grouped by what is mapped: a package's shared libraries (named
    after the package directory under site-packages) or anonymous memory."""
    totals: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps") as fh:
        name = None
        for line in fh:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                fields = line.split(maxsplit=5)
                name = _short(fields[5].strip() if len(fields) > 5 else "")
            elif first == "Rss:" and name is not None:
                totals[name] = totals.get(name, 0) + int(line.split()[1])
    return [{"mapping": k, "rss_kib": v} for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v]


def tree_cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by `pid` and its live descendants, from
    /proc/PID/stat, which counts every thread the process ever had: a thread that has
    exited (such as the score function's model-load thread) keeps its share. (Summing
    /proc/PID/task/*/schedstat, as this did before, counts live threads only.) Resolution: one
    clock tick (10 ms) per process."""
    ticks = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")