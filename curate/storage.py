"""Where readers read and writers write: local paths, or URIs of any fsspec filesystem
(``s3://``, ``gs://``, ``az://``, ``hf://``, ``file://``, ...).

A *location* is a :class:`~pathlib.Path` for local files and a ``str`` URI for everything else, so
local files keep their fast paths (polars reads them natively, writes are renamed into place)
and remote ones go through fsspec. Credentials never appear in a recipe (a recipe's params are
recorded in ``run.json`` and fingerprints): the filesystem reads them from the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...) or from
fsspec's own configuration (``FSSPEC_S3_ENDPOINT_URL`` and friends); see docs/scale-out.md.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Union

from curate.errors import DataError, UserInputError
from curate.files import atomic_write

Location = Union[Path, str]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
#: characters that make a path a pattern of several files
_GLOB = re.compile(r"[*?\[]")


def is_uri(path: str | Path) -> bool:
    """True for ``scheme://...`` other than ``file://`` (a local file, whatever its spelling)."""
    m = _SCHEME.match(str(path))
    return bool(m) and m.group(1).lower() != "file"


def resolve(base: Path, path: str | Path) -> Location:
    """``path`` as a location: URIs as they are, ``file://`` and ``~`` as local paths, relative
    local paths against ``base``. A trailing ``/`` (a folder of parts) is kept on URIs."""
    text = str(path)
    if is_uri(text):
        return text
    if text.lower().startswith("file://"):
        text = text[len("file://"):]
    p = Path(text).expanduser()
    return p if p.is_absolute() else base / p


def name(loc: Location) -> str:
    """The last part of a location (a file name)."""
    return loc.name if isinstance(loc, Path) else str(loc).rstrip("/").rsplit("/", 1)[-1]


def join(loc: Location, *parts: str) -> Location:
    if isinstance(loc, Path):
        return loc.joinpath(*parts)
    return "/".join([str(loc).rstrip("/"), *parts])


def with_name(loc: Location, new: str) -> Location:
    """A sibling of ``loc`` called ``new``."""
    if isinstance(loc, Path):
        return loc.with_name(new)
    return str(loc).rstrip("/").rsplit("/", 1)[0] + "/" + new


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``uri`` and the path within it; a clear error when the package
    that implements the scheme (``s3fs``, ``gcsfs``, ``adlfs``, ...) is not installed."""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dependency of curate
        raise UserInputError(f"{uri}: reading URIs needs fsspec", hint="pip install fsspec") from None
    try:
        return fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        raise UserInputError(f"{uri}: no filesystem for {uri.split('://')[0]!r} URIs is installed ({exc})",
                             hint="install the fsspec implementation of that scheme on every machine of the run, "
                                  "e.g. `pip install s3fs` for s3://, `gcsfs` for gs://, `adlfs` for az://") from None
    except ValueError as exc:
        raise UserInputError(f"{uri}: {exc}", hint="check the URI's scheme") from None


def _fresh(uri: str) -> tuple[Any, str]:
    """:func:`filesystem`, with its cached listings dropped: fsspec instances live as long as the
    process, and a library user runs recipes again after objects changed."""
    fs, path = filesystem(uri)
    fs.invalidate_cache()
    return fs, path


def exists(loc: Location) -> bool:
    if isinstance(loc, Path):
        return loc.exists()
    fs, path = _fresh(loc)
    return bool(fs.exists(path))


def is_pattern(loc: Location) -> bool:
    return bool(_GLOB.search(str(loc)))


def is_folder(loc: Location) -> bool:
    """A folder of parts: a local directory, a URI ending in ``/`` or a prefix with objects under it."""
    if isinstance(loc, Path):
        return loc.is_dir()
    if str(loc).endswith("/"):
        return True
    fs, path = filesystem(loc)
    return bool(fs.isdir(path))


def expand(loc: Location, suffixes: tuple[str, ...] = ()) -> list[Location]:
    """The files ``loc`` names, sorted: itself, the files matching a glob pattern (``data/*.jsonl``,
    ``s3://b/shards/part-*.parquet``), or the files of a folder (hidden ones and, when
    ``suffixes`` are given, files without one of them, left out)."""

    def keep(n: str) -> bool:
        return not n.startswith((".", "_")) and (not suffixes or n.endswith(suffixes))

    if isinstance(loc, Path):
        if is_pattern(loc):
            # the folder above the first part with a wildcard, and the pattern below it
            fixed = next(i for i, part in enumerate(loc.parts) if _GLOB.search(part))
            anchor = Path(*loc.parts[:fixed])
            # as a shell does: hidden files (a writer's `.x.parts/`, editors' files) are not matched
            found = sorted(p for p in anchor.glob(str(Path(*loc.parts[fixed:]))) if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(anchor).parts))
        elif loc.is_dir():
            found = sorted(p for p in loc.rglob("*") if p.is_file() and keep(p.name)
                           and not any(part.startswith(".") for part in p.relative_to(loc).parts[:-1]))
        else:
            return [loc]
        return list(found)
    fs, path = _fresh(loc)
    scheme = str(loc).split("://", 1)[0]
    if is_pattern(loc):
        paths = sorted(p for p in fs.glob(path) if not p.rsplit("/", 1)[-1].startswith("."))
    elif str(loc).endswith("/") or fs.isdir(path):
        paths = sorted(p for p in fs.find(path) if keep(p.rsplit("/", 1)[-1]))
    else:
        return [loc]
    return [f"{scheme}://{p}" for p in paths]


def identity(loc: Location) -> dict[str, Any]:
    """What changes when the file changes (size and mtime, or the object's ETag): a reader's
    ``cache_key``, so editing the input reruns the stage. For a URI it uses the listing that the
    :func:`expand` or :func:`exists` just before it fetched (one request for a folder of many
    objects, not one per object), else asks the store."""
    if isinstance(loc, Path):
        st = loc.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    fs, path = filesystem(loc)
    info = fs.info(path)
    found = {"size": info.get("size")}
    for key in ("ETag", "etag", "md5Hash", "crc32c", "LastModified", "mtime", "updated", "last_modified"):
        if info.get(key) is not None:
            found[key] = str(info[key])
    return found


def missing_error(loc: Location, where: str, key: str = "path") -> DataError:
    hint = (f"paths are relative to the recipe file's folder; check `with.{key}`" if isinstance(loc, Path)
            else "check the URI, and that this machine's credentials (from the environment) may read it")
    return DataError(f"input file not found: {loc}", where=where, hint=hint)


@contextmanager
def open_read(loc: Location) -> Iterator[IO[bytes]]:
    """``loc`` opened for reading bytes (``.gz``, ``.bz2``, ``.xz``, ``.zst`` decompressed)."""
    if isinstance(loc, Path) and not str(loc).endswith((".gz", ".bz2", ".xz", ".zst")):
        with loc.open("rb") as f:
            yield f
        return
    import fsspec

    target = str(loc)
    if not isinstance(loc, Path):
        filesystem(target)  # a clear error for a missing implementation
    with fsspec.open(target, "rb", compression="infer") as f:
        yield f


def write(loc: Location, write_to: Callable[[IO[bytes]], None]) -> None:
    """Write ``loc`` whole, so a reader sees the old content or the new, never half: locally a
    temporary file renamed into place; on an object store one upload (an object appears only
    when its upload completes)."""
    if isinstance(loc, Path):
        def _local(tmp: Path) -> None:
            with tmp.open("wb") as f:
                write_to(f)

        atomic_write(loc, _local)
        return
    fs, path = filesystem(loc)
    parent = path.rsplit("/", 1)[0]
    if parent and parent != path:
        fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "wb") as f:
        write_to(f)


def write_text(loc: Location, text: str) -> None:
    write(loc, lambda f: f.write(text.encode("utf-8")))


def remove(loc: Location) -> None:
    """Delete a file or a folder (recursively); nothing when it is not there."""
    if isinstance(loc, Path):
        import shutil

        if loc.is_dir():
            shutil.rmtree(loc, ignore_errors=True)
        else:
            loc.unlink(missing_ok=True)
        return
    fs, path = filesystem(loc)
    if fs.exists(path):
        fs.rm(path, recursive=True)


__all__ = ["Location", "is_uri", "resolve", "name", "join", "with_name", "filesystem", "exists", "is_pattern",
           "is_folder", "expand", "identity", "missing_error", "open_read", "write", "write_text", "remove"]
