"""The README's runnable examples: the `curl` and `python -m` commands of chosen sections, each
with the answer the README prints after it (a `$ ` command followed by its output).

`examples(text, sections)` -> [Example(section, command, shown)]: continuation lines (a trailing
backslash) and quoted bodies spanning lines are joined into one command; comments after `#` at
the end of a line are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND = re.compile(r"^(\$ )?(curl |URL=|scripts/smoke_score\.sh|(cd functions && )?(\S*python\S* )?-m |\S*python\S* -m )")


@dataclass(frozen=True)
class Example:
    section: str
    command: str
    shown: str  # the output the README prints after it ("" when none)


def sections(text: str) -> dict[str, str]:
    """Heading text -> its body (up to the next heading of any level)."""
    out, name, body = {}, None, []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and re.match(r"^#{2,4} ", line):
            if name:
                out[name] = "\n".join(body)
            name, body = line.lstrip("#").strip(), []
        else:
            body.append(line)
    if name:
        out[name] = "\n".join(body)
    return out


def _blocks(body: str) -> list[list[str]]:
    blocks, current = [], None
    for line in body.splitlines():
        if line.strip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line.strip())
    return blocks


def _strip_comment(line: str) -> str:
    """`cmd   # comment` -> `cmd` (a # inside quotes stays)."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def examples(text: str, wanted) -> list[Example]:
    found = []
    for name, body in sections(text).items():
        if name not in wanted:
            continue
        for block in _blocks(body):
            i = 0
            while i < len(block):
                line = block[i]
                if not COMMAND.match(line):
                    i += 1
                    continue
                shown_prompt = line.startswith("$ ")
                parts = [_strip_comment(line.removeprefix("$ "))]
                i += 1
                # Join continuations and a quoted body left open.
                while i < len(block) and (parts[-1].endswith("\\") or " ".join(parts).count("'") % 2):
                    parts[-1] = parts[-1].removesuffix("\\").rstrip()
                    parts.append(_strip_comment(block[i]))
                    i += 1
                command = " ".join(parts)
                shown = []
                if shown_prompt:
                    while i < len(block) and not COMMAND.match(block[i]):
                        shown.append(block[i])
                        i += 1
                found.append(Example(name, command, "\n".join(shown)))
    return found
