"""numba's side of ``sensor.jit``: the sensor's kernels cached under a digest of every source they are built from.

numba checks a cached kernel against its own file only (numba issues #1833, #9483): a kernel that inlines or
calls a function of another module, or folds in its constants, went on running the old machine code after
only that module changed. This puts a cache locator in front of numba's own for the sensor's files: a
module's kernels are cached in a directory named by a digest of the module's source, of every sensor module
it imports, transitively (as its import statements say), and of the compiler's version
(``sensor.jit.source_digest``). A change to any of them lands in a new directory, so old machine code is
never met again. Directories no process has opened for a day go when a new one is made.

The cache root is ``$NUMBA_CACHE_DIR/<package>`` when that is set, else ``<package>/__pycache__/numba``
beside the sources (a dev checkout, a writable install), else ``$XDG_CACHE_HOME/mieruka/numba`` (a read-only
site-packages): the first one that can be written; else ``<temp>/mieruka-numba-<uid>`` if it is this user's
own directory that nobody else can write into (the index files are pickles).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import numba
from numba import njit  # noqa: F401  (what sensor.jit hands out without the ahead-of-time build)
from numba.core import caching, config

from sensor.jit import source_digest as _digest

UNUSED_FOR = 24 * 3600  # seconds: a digest directory opened by no process for this long is removed


def source_digest(package: Path, path: Path) -> str:
    return _digest(package, path, numba.__version__)


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        return True
    except OSError:
        return False


def _private(directory: Path) -> bool:
    """Whether ``directory`` is (made, if missing) a directory of this user's that nobody else can write
    into and no link. For the shared temp directory: numba's index files are pickles, so a directory
    another user made there first, with files of theirs, would run their code in this process."""
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        found = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid() and not found.st_mode & 0o077


@functools.cache
def cache_root(package: Path) -> Path | None:
    """The first of the cache roots (module docstring) this process can write; None when none is."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    candidates = [package / "__pycache__" / "numba", user_cache / "mieruka" / "numba"]
    if config.CACHE_DIR:
        candidates.insert(0, Path(config.CACHE_DIR) / package.name)
    shared = Path(tempfile.gettempdir()) / f"mieruka-numba-{os.geteuid()}"
    return next((root for root in candidates if _writable(root)), None) or (
        shared if _private(shared) and _writable(shared) else None)


def _prune(directory: Path) -> None:
    """Remove the other digests' directories of ``directory``'s module no process opened for UNUSED_FOR.
    (A process still running old code that finds its directory gone compiles again: numba reads a missing
    index or data file as a miss.)"""
    stem, now = directory.name.rsplit("-", 1)[0], time.time()
    for other in directory.parent.glob(f"{stem}-*"):
        try:
            unused = now - other.stat().st_mtime > UNUSED_FOR
        except OSError:  # removed meanwhile by another process
            continue
        if unused and other != directory and other.name.rsplit("-", 1)[0] == stem:
            shutil.rmtree(other, ignore_errors=True)


@functools.cache
def _cache_dir(package: Path, path: Path) -> tuple[str, str] | None:
    """(directory, digest) for the kernels of source file ``path``, made and marked as opened now."""
    root = cache_root(package)
    if root is None:
        return None
    digest = source_digest(package, path)
    directory = root / path.parent.relative_to(package) / f"{path.stem}-{digest}"
    fresh = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.utime(directory)
    except OSError:
        return None
    if fresh:
        _prune(directory)
    return str(directory), digest


class DigestLocator(caching._CacheLocator):
    """numba's cache locator for the kernels of the files under ``package``."""

    package: Path

    def __init__(self, py_func, cache_path: str, digest: str):
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path, self._digest = cache_path, digest

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return self._digest  # the directory already says it; numba also keeps it in the index

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        path = Path(py_file).resolve()
        if not path.is_relative_to(cls.package) or not path.is_file():
            return None  # another package's kernel: numba's own locators take it
        place = _cache_dir(cls.package, path)
        return cls(py_func, *place) if place else None


def cache_under_digests(package: Path) -> None:
    """Cache the kernels of the files under ``package`` (a package's directory) by their sources' digest.
    Call it before the first of them is compiled: numba picks a kernel's locator when it is decorated."""
    package = package.resolve()
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (its older name)
    if not any(getattr(cls, "package", None) == package for cls in impl._locator_classes):
        impl._locator_classes.insert(0, type("DigestLocator", (DigestLocator,), {"package": package}))


cache_under_digests(Path(__file__).parent)
