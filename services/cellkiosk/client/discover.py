"""Which files a batch run analyses, and where each one's results go."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cellkiosk.imaging.io import is_image_name


class UsageError(ValueError):
    """The command line asks for something impossible (missing path, clashing outputs)."""


@dataclass(frozen=True)
class InputFile:
    """A file to analyse: where it is, and its path relative to the input it was found under."""

    path: Path
    rel: PurePosixPath

    @property
    def out_rel(self) -> PurePosixPath:
        """Results folder relative to RESULTS_DIR: the input's relative path without its suffix."""
        return self.rel.with_suffix("")


def matches(rel: PurePosixPath, patterns: list[str]) -> bool:
    """Whether a relative path matches a glob (against the whole path or the file name alone)."""
    text = rel.as_posix()
    return any(fnmatch.fnmatch(text, p) or fnmatch.fnmatch(rel.name, p) for p in patterns)


def _hidden(rel: PurePosixPath) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _walk(root: Path, skip: Path | None) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        if path.is_file():
            found.append(path)
    return found


def discover(
    inputs: list[Path],
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    results_dir: Path | None = None,
) -> list[InputFile]:
    """Files to analyse, in a stable order.

    A folder is searched recursively; its files keep their path relative to it. Hidden files and
    folders, and ``results_dir`` when it lies inside an input, are skipped. Without ``include``
    globs only image files (TIFF, PNG, JPEG) are taken; with them, files matching one of them.
    ``exclude`` globs drop files. A file named on the command line is taken as it is (only
    ``exclude`` applies) under its own name. Two inputs whose results would land in the same
    folder are a :class:`UsageError`.
    """
    include, exclude = include or [], exclude or []
    skip = results_dir.resolve() if results_dir is not None else None
    found: list[InputFile] = []
    for given in inputs:
        if given.is_dir():
            for path in _walk(given, skip):
                rel = PurePosixPath(path.relative_to(given).as_posix())
                wanted = matches(rel, include) if include else is_image_name(rel.name)
                if wanted and not _hidden(rel) and not matches(rel, exclude):
                    found.append(InputFile(path, rel))
        elif given.is_file():
            rel = PurePosixPath(given.name)
            if not matches(rel, exclude):
                found.append(InputFile(given, rel))
        else:
            raise UsageError(f"no such file or folder: {given}")
    _check_clashes(found)
    return found


def _check_clashes(files: list[InputFile]) -> None:
    seen: dict[PurePosixPath, InputFile] = {}
    for f in files:
        other = seen.setdefault(f.out_rel, f)
        if other is not f:
            raise UsageError(
                f"{other.path} and {f.path} would both write their results to '{f.out_rel}/'; "
                "exclude one of them (--exclude) or submit them separately"
            )
