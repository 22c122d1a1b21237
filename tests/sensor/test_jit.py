"""numba's kernels are cached under a digest of every source they are built from (``sensor.jitcache``): a
kernel whose helper in another module changed never runs the old machine code again — as it does with numba's
own cache, which checks the kernel's file only — and every cached kernel of the sensor is cached so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sensor import jitcache

KERNEL = """from numba import njit

from pkg.helper import step


@njit(cache=True)
def total(n):
    s = 0
    for i in range(n):
        s += step(i)
    return s
"""
HELPER = "from numba import njit\n\n\n@njit(cache=True)\ndef step(i):\n    return {}\n"
# prints the kernel's result and whether it came from the cache
RUN = """import sys
from pathlib import Path
if sys.argv[2] == "digest":
    from sensor import jitcache
    jitcache.cache_under_digests(Path(sys.argv[1]) / "pkg")
sys.path.insert(0, sys.argv[1])
from pkg.kernel import total
print(total(10), sum(total.stats.cache_hits.values()))
"""


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    package.mkdir()
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def _run(root: Path, cache: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", RUN, str(root), cache], check=True, capture_output=True,
                         text=True, env={k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}).stdout
    result, hits = map(int, out.split())
    return result, hits


@pytest.mark.parametrize("cache", ["numba", "digest"])
def test_a_changed_helper_is_compiled_afresh(tmp_path, cache):
    package = _package(tmp_path, {"kernel.py": KERNEL, "helper.py": HELPER.format(1)})
    assert _run(tmp_path, cache) == (10, 0)  # compiled and saved
    (package / "helper.py").write_text(HELPER.format(2))  # only the other file changes
    if cache == "numba":
        assert _run(tmp_path, cache) == (10, 1)  # numba's own cache: the old machine code, from the cache
        return
    assert _run(tmp_path, cache) == (20, 0)  # compiled afresh
    assert _run(tmp_path, cache) == (20, 1)  # and cached under the new digest
    # both digests' directories, for the kernel and for the helper
    assert len(list((package / "__pycache__" / "numba").glob("kernel-*"))) == 2


def test_the_digest_follows_every_import(tmp_path):
    package = _package(tmp_path, {
        "a.py": "from pkg import b\n\n\ndef late():\n    import pkg.sub.e\n",
        "b.py": "from .c import (\n    X,  # (the constant a kernel folds in)\n)\n",
        "c.py": "X = 1\n", "d.py": "Y = 1\n", "sub/__init__.py": "from pkg.jit import njit\n", "sub/e.py": "Z = 1\n",
        "jit.py": "njit = None\n"})
    digest = lambda: jitcache.source_digest(package, package / "a.py")  # noqa: E731
    first = digest()
    (package / "d.py").write_text("Y = 22\n")  # imported by nobody
    (package / "jit.py").write_text("njit = 1\n")  # the loader: no kernel's source
    assert digest() == first
    for changed, text in [("c.py", "X = 22\n"), ("sub/e.py", "Z = 22\n"), ("sub/__init__.py", "W = 1\n")]:
        before = digest()
        (package / changed).write_text(text)
        assert digest() != before, changed


def test_unused_digests_go_when_a_new_one_is_made(tmp_path):
    package = _package(tmp_path, {"k.py": "X = 1\n", "k2.py": "X = 1\n"})
    root = jitcache.cache_root(package)
    old, recent, other = root / "k-0000", root / "k-1111", root / "k2-0000"
    for directory in (old, recent, other):
        directory.mkdir()
    two_days_ago = time.time() - 2 * 86400
    for directory in (old, other):
        os.utime(directory, (two_days_ago, two_days_ago))
    made, _ = jitcache._cache_dir(package, package / "k.py")
    assert Path(made).is_dir() and Path(made).parent == root
    assert not old.exists() and recent.exists() and other.exists()  # (k2's are k2's to prune)


def test_an_unwritable_package_caches_in_the_users_cache(tmp_path, monkeypatch):
    package = _package(tmp_path, {"__pycache__": "a file, where the directory would go"})
    monkeypatch.setattr(jitcache.config, "CACHE_DIR", "")  # (NUMBA_CACHE_DIR, when set, would come first)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert jitcache.cache_root(package) == tmp_path / "cache" / "mieruka" / "numba"


def test_the_shared_temp_fallback_is_used_only_when_private(tmp_path):
    """Another user's directory there could hold pickled index files that run as this process."""
    own = tmp_path / "own"
    assert jitcache._private(own) and own.stat().st_mode & 0o777 == 0o700
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    assert not jitcache._private(open_to_all)
    link = tmp_path / "link"
    link.symlink_to(own)
    assert not jitcache._private(link)


# every numba kernel of the sensor (as it is without the ahead-of-time build): how many, and how many are
# cached elsewhere than by digest under the sensor's cache root
EVERY_KERNEL = """
import importlib, pkgutil, sys
from pathlib import Path
from numba.core.dispatcher import Dispatcher
import sensor
from sensor import jitcache
for info in pkgutil.walk_packages(sensor.__path__, "sensor."):
    importlib.import_module(info.name)
kernels = {id(value): value for module in list(sys.modules.values())
           if module and module.__name__.startswith("sensor.") for value in vars(module).values()
           if isinstance(value, Dispatcher) and value._cache.cache_path}
root = jitcache.cache_root(Path(sensor.__file__).parent.resolve())
print(len(kernels), [str(k) for k in kernels.values() if not isinstance(k._cache._impl.locator, jitcache.DigestLocator)
                     or not Path(k._cache.cache_path).is_relative_to(root)])
"""


def test_every_cached_kernel_of_the_sensor_is_cached_by_digest():
    out = subprocess.run([sys.executable, "-c", EVERY_KERNEL], check=True, capture_output=True, text=True,
                         env={**os.environ, "MIERUKA_SENSOR_AOT": "0"}).stdout
    count, elsewhere = out.split(" ", 1)
    assert int(count) > 100
    assert elsewhere.strip() == "[]"
