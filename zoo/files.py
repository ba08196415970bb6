"""Whole-or-nothing file writes, shared by the tables, the dataset cache, the claims and the run folders.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "note.txt"
>>> atomic_write(path, lambda tmp: Path(tmp).write_text("hello"))
>>> path.read_text(), oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
('hello', True)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call `write(tmp_path)` on a temporary file beside `path`, flush it to disk, rename it over `path`.

    A crash leaves the old file or the new one, never half of one (the temporary file is `.NAME.*.tmp`).
    The file gets the permissions of any new file (0666 less the umask), not `mkstemp`'s private 0600.
    """
    atomic_write_all({path: write})


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`atomic_write` of a text file, its folder created when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_all(writes: dict) -> None:
    """`atomic_write` for several files that go together ({path: write}): every file is written and flushed
    first, then all are renamed into place one right after the other, so that a writer killed while it
    serializes (the long part) leaves all the old files, and a failure in any writer changes none.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> def broken(tmp): raise ValueError("no")
    >>> try:
    ...     atomic_write_all({folder / "a": lambda tmp: Path(tmp).write_text("new"), folder / "b": broken})
    ... except ValueError:
    ...     pass
    >>> sorted(p.name for p in folder.iterdir())
    []
    """
    ready: list[tuple[str, Path]] = []
    try:
        for path, write in writes.items():
            path = Path(path)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            ready.append((tmp, path))
            write(tmp)
            os.chmod(tmp, 0o666 & ~current_umask())
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        for tmp, path in ready:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in ready:
            Path(tmp).unlink(missing_ok=True)
        raise


def read_text_file(path: str | os.PathLike, what: str, limit: int = 1 << 20) -> str:
    """A small UTF-8 text file's content (a spec, a sweep), or one `ZooError` line naming `what`, the path
    and the problem: missing or unreadable, not a regular file (a FIFO or a device would hang or never end),
    larger than `limit` bytes, or not UTF-8.

    >>> read_text_file("/dev/zero", "spec file")
    Traceback (most recent call last):
    zoo.errors.ZooError: spec file /dev/zero is not a regular file
    """
    import stat

    from zoo.errors import ZooError

    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ZooError(f"{what} {path} is {'a folder' if stat.S_ISDIR(info.st_mode) else 'not a regular file'}")
        if info.st_size > limit:
            raise ZooError(f"{what} {path} holds {info.st_size:,} bytes; at most {limit:,} are read")
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ZooError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ZooError(f"{what} {path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
