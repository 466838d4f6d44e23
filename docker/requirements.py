"""Print the requirements of cellkiosk's base dependencies plus extras, one per line, from pyproject.toml.

Images install these before the code is copied (a code change does not reinstall TensorFlow):
    python docker/requirements.py pyproject.toml consumer --replace tensorflow-cpu=tensorflow[and-cuda]==2.21.0
Self-references (``cellkiosk[gateway]``) are expanded; ``--replace NAME=REQ`` swaps one requirement
(e.g. the CUDA build of TensorFlow for the CPU one).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

SELF = re.compile(r"^cellkiosk\[(?P<extras>[^\]]+)\]$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def requirement_name(requirement: str) -> str:
    """The normalized distribution name a requirement string starts with."""
    match = NAME.match(requirement.strip())
    if not match:
        raise SystemExit(f"cannot read a package name from requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def collect(project: dict[str, object], extras: list[str]) -> list[str]:
    """Base dependencies plus the named extras, self-references expanded, in order, without repeats."""
    optional = project.get("optional-dependencies", {})
    assert isinstance(optional, dict)
    out: list[str] = list(project.get("dependencies", []))  # type: ignore[arg-type]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra {extra!r}; it has {sorted(optional)}")
        seen.add(extra)
        for requirement in optional[extra]:
            self_ref = SELF.match(requirement.replace(" ", ""))
            if self_ref:
                pending.extend(self_ref.group("extras").split(","))
            elif requirement not in out:
                out.append(requirement)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the requirement lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--replace", action="append", default=[], metavar="NAME=REQUIREMENT")
    args = parser.parse_args(argv)
    project = tomllib.loads(args.pyproject.read_text())["project"]
    requirements = collect(project, args.extras)
    for item in args.replace:
        name, sep, replacement = item.partition("=")
        if not sep or not replacement:
            raise SystemExit(f"--replace wants NAME=REQUIREMENT, got {item!r}")
        hits = [r for r in requirements if requirement_name(r) == requirement_name(name)]
        if not hits:
            raise SystemExit(f"--replace {name}: no such requirement in {args.extras or 'the base dependencies'}")
        requirements = [replacement if r in hits else r for r in requirements]
    sys.stdout.write("".join(f"{r}\n" for r in requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
