"""``njit`` for the sensor's kernels: compiled ahead of time when a built kernel module matches the sources,
else numba's, cached under a digest of every source a kernel is built from (``sensor.jitcache``).

``python -m sensor.aot build`` (``./dev``'s set-up runs it) compiles every kernel plain Python calls, with
the signatures ``sensor/aot_entries.json`` declares, into one ``numba.pycc`` extension in ``sensor/_aot/``
beside a manifest (export names, what each argument must be, the digest of each kernel module's sources).
When every digest matches, ``njit`` hands out a ``_Kernel`` that checks its arguments (dtype, ndim, layout,
writability: pycc's exports check none, a wrong dtype would read garbage) and calls the export; numba is
never imported. Anything else — no build, a digest that differs, an argument list no export takes,
``NUMBA_DISABLE_JIT=1``, ``MIERUKA_SENSOR_AOT=0`` — is numba's as before, logged once: on the first
argument list no export takes, every kernel is made a numba dispatcher and put back into its module (so
numba's typing of a caller finds dispatchers), and the ``_Kernel`` calls that.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import re
import sys
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parent
AOT_DIR = Path(os.environ.get("MIERUKA_AOT_DIR") or PACKAGE / "_aot")  # the build (another one: tests)

# import statements, parenthesised ones whole, wherever they stand (parsed on their own: fast)
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)", re.M)


def _stamp(path: Path) -> tuple[Path, int, int]:
    """The memo key of a file: its content is read again once it changed."""
    st = path.stat()
    return path, st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=1024)
def _imported_names(path: Path, mtime_ns: int, size: int) -> tuple[tuple[int, str | None, tuple[str, ...]], ...]:
    """(level, module, names) of every import statement of a source file: ``import a.b`` is (0, "a.b", ())."""
    source = path.read_bytes()
    try:
        tree = ast.parse(b"\n".join(m.group(0).strip() for m in _IMPORT.finditer(source)))
    except SyntaxError:  # an import-like line in a string, a comment with a parenthesis: parse the whole file
        tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module, tuple(alias.name for alias in node.names)))
    return tuple(found)


@functools.lru_cache(maxsize=1024)
def _content_digest(path: Path, mtime_ns: int, size: int) -> bytes:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()


@functools.lru_cache(maxsize=4096)
def _module_file(package: Path, name: str) -> Path | None:
    """The source of module ``name`` ("sensor.a.b") inside ``package``; None for any other module."""
    parts = name.split(".")
    if parts[0] != package.name:
        return None
    base = package.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.parent / f"{base.name}.py"):
        if path.is_file():
            return path
    return None


def _imports(package: Path, path: Path) -> set[Path]:
    """The files of ``package`` that ``path`` imports, with the packages around each (their ``__init__``
    runs first)."""
    home = path.relative_to(package.parent).parts[:-1]  # the package relative imports start from
    names = []
    for level, module, members in _imported_names(*_stamp(path)):
        if level:
            module = ".".join([*home[:len(home) - level + 1], *([module] if module else [])])
        names += [module, *(f"{module}.{member}" for member in members)]  # a member may be a submodule
    files = set()
    for name in names:
        parts = name.split(".")
        files.update(f for f in (_module_file(package, ".".join(parts[:n])) for n in range(1, len(parts) + 1)) if f)
    return files


def source_digest(package: Path, path: Path, compiler: str) -> str:
    """A digest of ``path``, every file of ``package`` it imports, transitively, and the compiler's version."""
    seen, todo = {package / "jit.py"}, [path]  # (the loader is no kernel's source: editing it rebuilds nothing)
    while todo:
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            todo += _imports(package, file)
    seen.discard(package / "jit.py")
    digest = hashlib.blake2b(f"{compiler} {sys.version}".encode(), digest_size=12)
    for file in sorted(seen):
        digest.update(str(file.relative_to(package)).encode() + b"\0" + _content_digest(*_stamp(file)))
    return digest.hexdigest()


def module_path(name: str) -> Path:
    """The source file of sensor module ``name`` ("sensor.a.b")."""
    return PACKAGE.parent.joinpath(*name.split(".")).with_suffix(".py")


def _load_aot():
    """(extension module, manifest) when the built kernels match the sources, else None (and why, logged)."""
    if os.environ.get("MIERUKA_SENSOR_AOT", "1") == "0" or os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return None
    log = logging.getLogger(__name__)
    try:
        manifest = json.loads((AOT_DIR / "mieruka_kernels.json").read_text())
        so = next(AOT_DIR.glob("mieruka_kernels.*.so"))
    except (OSError, StopIteration, ValueError):
        log.info("no ahead-of-time kernels in %s (python -m sensor.aot build): numba compiles them", AOT_DIR)
        return None
    for module, digest in manifest["digests"].items():
        path = module_path(module)
        if not path.is_file() or source_digest(PACKAGE, path, manifest["compiler"]) != digest:
            log.warning("the ahead-of-time kernels in %s are older than %s (python -m sensor.aot build): "
                        "numba compiles them", AOT_DIR, module)
            return None
    loader = importlib.machinery.ExtensionFileLoader("mieruka_kernels", str(so))
    spec = importlib.util.spec_from_file_location("mieruka_kernels", so, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module, manifest


_AOT = _load_aot()
AOT = _AOT is not None
_fell_back = False  # numba came in: kernels made from now on are its dispatchers
_kernels: list["_Kernel"] = []
_placeholders: list["Placeholder"] = []


def _key(value):
    """What numba's typeof would tell of ``value``, as far as the exports' checks need."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        return ("array", value.dtype, value.ndim, layout, not flags.writeable, flags.aligned and value.dtype.isnative)
    if isinstance(value, (bool, np.bool_)):
        return ("bool",)
    if isinstance(value, int):
        return ("int", "int64") if -(1 << 63) <= value < 1 << 63 else ("int", "uint64")
    if isinstance(value, np.integer):
        return ("int", value.dtype.name)
    if isinstance(value, (float, np.floating)):
        return ("float", "float64" if isinstance(value, float) else value.dtype.name)
    if isinstance(value, tuple):
        kind = type(value)
        keys = tuple(_key(v) for v in value)
        return ("namedtuple", f"{kind.__module__}.{kind.__qualname__}", keys) if hasattr(value, "_fields") else ("tuple", keys)
    return ("other", type(value))


def _spec_keys(spec):
    """The argument keys (``_key``) one exported argument takes: a readonly array parameter takes writable
    arrays too (the kernel does not write to it)."""
    kind = spec[0]
    if kind == "array":
        _, dtype, ndim, layout, readonly = spec
        return [("array", np.dtype(dtype), ndim, layout, ro, True) for ro in ((True, False) if readonly else (False,))]
    if kind == "bool":
        return [("bool",)]
    if kind in ("int", "float"):
        return [tuple(spec)]
    if kind == "namedtuple":
        return [("namedtuple", spec[1], combo) for combo in _combos(spec[2])]
    if kind == "tuple":
        return [("tuple", combo) for combo in _combos(spec[1])]
    raise ValueError(spec)


def _combos(specs):
    combos = [()]
    for spec in specs:
        combos = [c + (k,) for c in combos for k in _spec_keys(spec)]
    return combos


class _Kernel:
    """A kernel called through the AOT module's exports, numba's dispatcher for anything else."""

    def __init__(self, func, options):
        self.py_func, self.options = func, options
        self.__name__, self.__doc__, self.__module__ = func.__name__, func.__doc__, func.__module__
        self._exports, self._numba = {}, None
        for symbol, specs in _AOT[1]["entries"].get(f"{func.__module__}.{func.__name__}", ()):
            fn = getattr(_AOT[0], symbol)
            for combo in _combos(specs):
                self._exports.setdefault(combo, fn)  # (a mutable array's own export first: manifest order)
        _kernels.append(self)

    def __call__(self, *args):
        fn = self._exports.get(tuple(map(_key, args)))
        if fn is not None:
            return fn(*args)
        if self._numba is None:
            logging.getLogger(__name__).warning("%s.%s: no ahead-of-time export takes %s: numba compiles it",
                                                self.__module__, self.__name__, [_key(a) for a in args])
            _to_numba()
        return self._numba(*args)


class Placeholder:
    """Stands for a numba object (an intrinsic) kernels use and no Python calls, until numba comes in."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        _placeholders.append(self)

    def __call__(self, *args):
        raise TypeError(f"{self.module}.{self.name} is for compiled kernels only")


def _to_numba() -> None:
    """Bring numba in: every kernel a numba dispatcher, put back where its module and others hold it."""
    from sensor import jitcache  # numba, with kernels cached under their sources' digests

    global _fell_back
    _fell_back, real = True, {}
    for kernel in _kernels:
        kernel._numba = real[id(kernel)] = jitcache.njit(**kernel.options)(kernel.py_func)
    for holder in _placeholders:
        real[id(holder)] = getattr(importlib.import_module(holder.module), holder.name)
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == PACKAGE.name and module is not None:
            for attr, value in list(vars(module).items()):
                if id(value) in real and isinstance(value, (_Kernel, Placeholder)):
                    setattr(module, attr, real[id(value)])


def njit(*args, **options):
    """numba's ``njit`` (with options), or a ``_Kernel`` when the AOT module is in use."""
    if args and callable(args[0]):
        return njit(**options)(args[0])
    if AOT and not _fell_back:
        return lambda func: _Kernel(func, options)
    from sensor import jitcache

    return jitcache.njit(*args, **options)
