"""``njit`` for the sensor's kernels: compiled ahead of time when a built kernel module matches the sources,
else numba's, cached under a digest of every source a kernel is built from (``sensor.jitcache``).

``python -m sensor.aot build`` (``./dev``'s set-up runs it) compiles every kernel plain Python calls, with
the signatures ``sensor/aot_entries.json`` declares, into one ``numba.pycc`` extension in ``sensor/_aot/``
beside a manifest (export names, what each argument must be, and what the build was made from: numba's,
llvmlite's, numpy's and Python's versions, the entries file, each kernel module's sources, and the size and
times of each of those files and of the extension as they were read: a start whose files all have the
same finds the build current without reading them). When all of that matches and the extension loads,
``njit`` hands out a ``_Kernel`` that checks its arguments (dtype, ndim, layout, writability, alignment:
pycc's exports check none, a wrong dtype would read garbage; the checks' code compiled with the build, beside
it) and calls the export; numba is never imported.
Anything else — no build, a stale or broken one, an argument list no export takes, ``NUMBA_DISABLE_JIT=1``,
``MIERUKA_SENSOR_AOT=0`` — is numba's as before, logged once
(``MIERUKA_SENSOR_AOT=strict``: an argument list no export takes raises instead, for tests). numba comes in
for every kernel at once (``_to_numba``): each made a numba dispatcher and put back into its module; numba
code typing a ``_Kernel`` (a kernel of another package calling one) brings it in too and gets the dispatcher.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import marshal
import os
import re
import sys
import threading
import types
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parent
AOT_DIR = Path(os.environ.get("MIERUKA_AOT_DIR") or PACKAGE / "_aot")  # the build (another one: tests)
ENTRIES = PACKAGE / "aot_entries.json"  # the kernels plain Python calls and their argument types
EXTENSION = "mieruka_kernels"  # the build's extension module and manifest

# import statements, parenthesised ones whole, wherever they stand (parsed on their own: fast)
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)", re.M)
# the modules ``numba_object("module", ...)`` takes objects from: imported by name, a source all the same
_NUMBA_OBJECT = re.compile(rb"""numba_object\(\s*["']([\w.]+)["']""")


def _stamp(path: Path) -> tuple[Path, int, int]:
    """The memo key of a file: its content is read again once it changed."""
    st = path.stat()
    return path, st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=1024)
def _imported_names(path: Path, mtime_ns: int, size: int) -> tuple[tuple[int, str | None, tuple[str, ...]], ...]:
    """(level, module, names) of every import statement of a source file: ``import a.b`` is (0, "a.b", ());
    and of every module ``numba_object`` takes an object from, as if imported."""
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
    found += [(0, m.group(1).decode(), ()) for m in _NUMBA_OBJECT.finditer(source)]
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


def _sources(package: Path, path: Path) -> set[Path]:
    """``path`` and every file of ``package`` it imports, transitively."""
    seen, todo = {package / "jit.py"}, [path]  # (the loader is no kernel's source: editing it rebuilds nothing)
    while todo:
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            todo += _imports(package, file)
    seen.discard(package / "jit.py")
    return seen


def source_digest(package: Path, path: Path, compiler: str) -> str:
    """A digest of ``path``, every file of ``package`` it imports, transitively, and the compiler's version."""
    digest = hashlib.blake2b(f"{compiler} {sys.version}".encode(), digest_size=12)
    for file in sorted(_sources(package, path)):
        digest.update(str(file.relative_to(package)).encode() + b"\0" + _content_digest(*_stamp(file)))
    return digest.hexdigest()


def module_path(name: str) -> Path:
    """The source file of sensor module ``name`` ("sensor.a.b")."""
    return PACKAGE.parent.joinpath(*name.split(".")).with_suffix(".py")


def compiler() -> str:
    """What a kernel's machine code depends on besides its sources: numba's and llvmlite's versions (their
    ``_version.py``, read without importing them), numpy's and Python's."""
    parts = [f"numpy {np.__version__}", f"python {sys.version}"]
    for name in ("numba", "llvmlite"):
        spec = importlib.util.find_spec(name)
        version = Path(spec.origin).with_name("_version.py") if spec and spec.origin else None
        parts.append(f"{name} {_content_digest(*_stamp(version)).hex() if version and version.is_file() else '-'}")
    return "; ".join(parts)


def kernel_modules(text: bytes | None = None) -> list[str]:
    """The kernel modules the entries file names."""
    return sorted({name.rpartition(".")[0] for name in json.loads(ENTRIES.read_bytes() if text is None else text)})


def build_sources() -> dict:
    """What a build is made from (its manifest keeps it): the compiler, the entries file, and the digest of
    each kernel module the entries name."""
    text = ENTRIES.read_bytes()
    made_by = compiler()
    modules = kernel_modules(text)
    return {"compiler": made_by, "entries": hashlib.blake2b(text, digest_size=12).hexdigest(),
            "digests": {m: source_digest(PACKAGE, module_path(m), made_by) if module_path(m).is_file() else "-"
                        for m in modules}}


def stamped_sources() -> tuple[dict, dict]:
    """``build_sources()`` and what a build's manifest keeps so that a start need not read them again: the size,
    modification and change times (``os.stat``'s; the last no program sets) of every file they were read
    from, by its path in the package (a start checks its own tree's files, whoever's build it loads), taken
    before and found the same after (else none: every start reads them), and a digest of them."""
    def files() -> dict[str, list[int]]:
        modules = [module_path(m) for m in kernel_modules()]
        found = set().union(*(_sources(PACKAGE, m) for m in modules if m.is_file()))
        return {str(f.relative_to(PACKAGE)): file_stamp(f) for f in sorted({ENTRIES, *found})}

    before = files()
    sources = build_sources()
    return sources, {"of": _digest_of(sources), "files": before if files() == before else {}}


def _digest_of(sources: dict) -> str:
    return hashlib.blake2b(json.dumps(sources, sort_keys=True).encode(), digest_size=16).hexdigest()


def file_stamp(path: Path) -> list[int]:
    """A file's size, modification and change times."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _unchanged(manifest: dict, extension: Path) -> bool:
    """Whether no file the build was made from, nor its extension, changed since its manifest was written, and
    the manifest's record of the sources is the one written with those stamps (else they are read again)."""
    try:
        kept = manifest["stamps"]
        if kept["of"] != _digest_of(manifest["sources"]) or manifest["sources"].get("compiler") != compiler():
            return False
        return (bool(kept["files"]) and [*file_stamp(extension), manifest["extension_digest"]] == kept["extension"]
                and all(not Path(f).is_absolute() and ".." not in Path(f).parts and file_stamp(PACKAGE / f) == stamp
                        for f, stamp in kept["files"].items()))
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def _differs(built: dict, now: dict) -> str | None:
    """What changed since the build (None: nothing)."""
    if built.get("compiler") != now["compiler"]:  # (the digests include it: say so rather than a module)
        return "numba, llvmlite, numpy or Python"
    if built.get("entries") != now["entries"]:
        return ENTRIES.name
    return next((m for m in now["digests"] if built.get("digests", {}).get(m) != now["digests"][m]), None)


_SCALARS = {"int": {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"},
            "float": {"float32", "float64"}}


def valid_spec(spec) -> bool:
    """Whether ``spec`` is an argument spec (``sensor.aot``'s docstring) with nothing else in it: the
    manifest's specs become the source of the argument checks."""
    if not isinstance(spec, list) or not spec:
        return False
    kind, rest = spec[0], spec[1:]
    if kind == "array":
        return (len(rest) == 4 and rest[0] in np.sctypeDict and type(rest[1]) is int and 0 <= rest[1] <= 32
                and rest[2] in ("C", "F", "A") and type(rest[3]) is bool)
    if kind == "bool":
        return not rest
    if kind in _SCALARS:
        return len(rest) == 1 and rest[0] in _SCALARS[kind]
    if kind == "tuple" and len(rest) == 1 or kind == "namedtuple" and len(rest) == 2:
        return (isinstance(rest[-1], list) and all(map(valid_spec, rest[-1]))
                and (kind == "tuple" or isinstance(rest[0], str) and rest[0].startswith(f"{PACKAGE.name}.")))
    return False


def load_build(directory: Path):
    """(extension module, manifest) of the build in ``directory`` when it matches the sources and loads,
    else None (and why, logged)."""
    log = logging.getLogger(__name__)
    try:
        manifest = json.loads((directory / f"{EXTENSION}.json").read_text())
        so, built = directory / Path(manifest["extension"]).name, manifest["sources"]
        same = _unchanged(manifest, so)  # (else every source is read and digested: ~25 ms)
        changed = None if same else _differs(built, build_sources())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        log.info("no ahead-of-time kernels in %s (python -m sensor.aot build): numba compiles them", directory)
        return None
    if changed:
        log.warning("the ahead-of-time kernels in %s are older than %s (python -m sensor.aot build): "
                    "numba compiles them", directory, changed)
        return None
    try:
        if not all(isinstance(symbol, str) and symbol.isidentifier() and isinstance(specs, list)
                   and all(map(valid_spec, specs)) for exports in manifest["entries"].values() for symbol, specs in exports):
            raise ValueError("a malformed export in the manifest")
        if not same and hashlib.blake2b(so.read_bytes(), digest_size=16).hexdigest() != manifest["extension_digest"]:
            raise ImportError(f"{so.name} is not the one built")  # (a truncated one could crash the loader)
        loader = importlib.machinery.ExtensionFileLoader(EXTENSION, str(so))
        module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(EXTENSION, so, loader=loader))
        loader.exec_module(module)
        for exports in manifest["entries"].values():
            for symbol, _ in exports:
                getattr(module, symbol)
    except (ImportError, OSError, AttributeError, KeyError, ValueError, TypeError) as error:
        log.warning("the ahead-of-time kernels in %s do not load (%s): numba compiles them", directory, error)
        return None
    return module, manifest


def _load_aot():
    if _MODE == "0" or os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return None
    return load_build(AOT_DIR)


_MODE = os.environ.get("MIERUKA_SENSOR_AOT", "1")  # "0": numba's kernels; "strict": no fallback to them
_AOT = _load_aot()
AOT = _AOT is not None
_fell_back = False  # numba came in: kernels made from now on are its dispatchers
_lock = threading.RLock()  # held while numba comes in, and while a kernel is made
_kernels: list["_Kernel"] = []
_placeholders: list["Placeholder"] = []


def exported() -> bool:
    """Whether kernels are the AOT module's (numba has not come in)."""
    return AOT and not _fell_back


# numpy's array flags (ndarray.flags.num) an export's array argument is checked for
_C, _F, _ALIGNED, _WRITEABLE = 0x1, 0x2, 0x100, 0x400
_INT_RANGE = {"int64": (-(1 << 63), (1 << 63) - 1), "uint64": (1 << 63, (1 << 64) - 1)}  # Python ints typed so


def _check(arg: str, spec, refs: dict) -> str:
    """A Python expression true when argument ``arg`` is what the argument spec takes (numba's typeof of
    it would give that type, or a readonly array parameter is given a writable array); ``refs`` gains the
    objects it refers to, described (``_resolved``)."""
    kind = spec[0]
    if kind == "array":
        _, dtype, ndim, layout, readonly = spec
        mask = _ALIGNED | (0 if readonly is True else _WRITEABLE) | {"C": _C, "F": _F, "A": 0}[layout]
        d = f"d{len(refs)}"
        refs[d] = ("dtype", dtype)
        return (f"(isinstance({arg}, ndarray) and {arg}.ndim == {int(ndim)} and ({arg}.dtype is {d} or {arg}.dtype == {d})"
                f" and {arg}.flags.num & {mask} == {mask})")
    if kind == "bool":
        return f"({arg}.__class__ is bool or {arg}.__class__ is bool_)"
    if kind in ("int", "float"):
        t = f"s{len(refs)}"
        refs[t] = ("scalar", spec[1])
        if spec[1] in _INT_RANGE:
            low, high = _INT_RANGE[spec[1]]
            return f"(({arg}.__class__ is int and {low} <= {arg} <= {high}) or {arg}.__class__ is {t})"
        return f"({arg}.__class__ is {t}" + (f" or {arg}.__class__ is float)" if spec[1] == "float64" else ")")
    members = spec[-1]
    if kind == "namedtuple":
        t = f"t{len(refs)}"
        refs[t] = ("class", spec[1])
        head = f"{arg}.__class__ is {t}"
    elif kind == "tuple":
        head = f"{arg}.__class__ is tuple and len({arg}) == {len(members)}"
    else:
        raise ValueError(f"unknown argument spec {spec}")
    return "(" + " and ".join([head, *(_check(f"{arg}[{i}]", s, refs) for i, s in enumerate(members))]) + ")"


def call_code(exports) -> tuple[dict[str, tuple[str, str]], types.CodeType]:
    """The code that defines a kernel's ``__call__`` for its ``exports`` ([symbol, argument specs] each, in the
    manifest's order: the first whose argument checks hold is called, else numba), and what its names refer
    to, described (``_resolved``). The checks are inline: no call per argument."""
    refs: dict[str, tuple[str, str]] = {}
    arities: dict[int, list[str]] = {}
    for symbol, specs in exports:
        params = [f"a{i}" for i in range(len(specs))]
        export = f"f{len(refs)}"
        refs[export] = ("export", symbol)
        test = " and ".join(_check(p, s, refs) for p, s in zip(params, specs)) or "True"
        arities.setdefault(len(specs), []).append(f"        if {test}:\n            return {export}(*args)")
    lines = ["def __call__(self, *args, **kws):", "    if kws:", "        return numba(*args, **kws)"]
    for n, tests in arities.items():
        lines += [f"    if len(args) == {n}:", *([f"        {', '.join(f'a{i}' for i in range(n))}, = args"] if n else []),
                  *tests]
    return refs, compile("\n".join([*lines, "    return numba(*args)\n"]), "<kernel argument checks>", "exec")


_REFS = ("export", "dtype", "scalar", "class")  # what a name of the checks' code may refer to


def _resolved(refs: dict[str, tuple[str, str]], numba) -> dict:
    """The globals of a kernel's checks: the objects ``refs`` describe, and ``numba`` for what no export takes."""
    names = {"ndarray": np.ndarray, "bool_": np.bool_, "numba": numba}
    for name, (kind, value) in refs.items():
        if kind == "export":
            names[name] = getattr(_AOT[0], value)
        elif kind == "dtype":
            names[name] = np.dtype(value)
        elif kind == "scalar":
            names[name] = getattr(np, value)
        else:
            module, _, cls = value.rpartition(".")
            names[name] = getattr(importlib.import_module(module), cls)
    return names


def checks_made_by() -> str:
    """What compiled checks depend on besides the manifest's exports: this module (``call_code``) and Python."""
    return hashlib.blake2b(Path(__file__).read_bytes() + sys.version.encode(), digest_size=12).hexdigest()


CHECKS = f"{EXTENSION}.checks"  # beside a build's manifest: every export's argument checks, compiled (marshal)


@functools.lru_cache(maxsize=4)
def compiled_checks(directory: Path) -> dict:
    """The argument checks compiled with the build in ``directory`` ({kernel: (exports, refs, code)}), as
    ``sensor.aot`` writes them; {} when there are none, or they were made by another ``call_code`` or Python
    (a start compiles its own: ~0.5 ms a kernel)."""
    try:
        sealed = (directory / CHECKS).read_bytes()
        if sealed[:_SEAL] != _seal_of(sealed[_SEAL:]):  # damaged: marshal may crash on it, the code more so
            return {}
        kept = marshal.loads(sealed[_SEAL:])
        kernels = kept["kernels"] if kept["made_by"] == checks_made_by() else {}
        for name, (exports, refs, code) in kernels.items():
            if not (isinstance(name, str) and isinstance(exports, list) and isinstance(code, types.CodeType)
                    and all(isinstance(n, str) and type(r) is tuple and len(r) == 2 and r[0] in _REFS
                            and isinstance(r[1], str) for n, r in refs.items())):
                return {}
        return kernels
    except Exception:  # whatever else is wrong with it: a start compiles its own
        return {}


_SEAL = 16  # bytes of the checks file's digest of the rest


def _seal_of(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_SEAL).digest()


def sealed_checks(kernels: dict) -> bytes:
    """The checks file's bytes for ``kernels`` ({kernel: (exports, refs, code)}): a digest, then the marshal."""
    payload = marshal.dumps({"made_by": checks_made_by(), "kernels": kernels})
    return _seal_of(payload) + payload


class _Kernel:
    """A kernel called through the AOT module's exports, numba's dispatcher for anything else. Each kernel is
    an instance of its own subclass, whose ``__call__`` the first call makes: the checks of every export's
    arguments in one function (0.15 us a call for two ints, 0.5 for six arguments of which two arrays;
    bench/README.md)."""

    def __new__(cls, func, options):
        return object.__new__(type(func.__name__, (cls,), {}))

    def __init__(self, func, options):
        self.py_func, self.options = func, options
        self.__name__, self.__doc__, self.__module__ = func.__name__, func.__doc__, func.__module__
        self._specs = _AOT[1]["entries"].get(f"{func.__module__}.{func.__name__}", ())
        self._numba = None
        _kernels.append(self)

    def __call__(self, *args, **kws):  # the first call (the classes of namedtuple arguments are imported by now)
        type(self).__call__ = self._caller()
        return self(*args, **kws)

    def _caller(self):
        """``__call__`` (``call_code``'s): compiled with the build when its exports are this kernel's, else now."""
        kept = compiled_checks(AOT_DIR).get(f"{self.__module__}.{self.__name__}")
        refs, code = kept[1:] if kept is not None and kept[0] == self._specs else call_code(self._specs)
        names = _resolved(refs, self._by_numba)
        exec(code, names)
        return names["__call__"]

    def _by_numba(self, *args, **kws):
        if self._numba is None:
            said = f"{self.__module__}.{self.__name__}: no ahead-of-time export takes {_described(args, kws)}"
            if _MODE == "strict":
                raise TypeError(f"{said} (MIERUKA_SENSOR_AOT=strict)")
            logging.getLogger(__name__).warning("%s: numba compiles it", said)
            _to_numba()
        return self._numba(*args, **kws)

    @property
    def _numba_type_(self):
        """numba's type of this kernel, for numba code calling it: its dispatcher's (numba comes in)."""
        _to_numba()
        from numba import typeof

        return typeof(self._numba)


def _described(args: tuple, kws: dict) -> str:
    """What an argument list is, as an export's checks see it."""
    def one(a) -> str:
        if isinstance(a, np.ndarray):
            layout = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "A"
            return f"{a.dtype}[{a.ndim}d {layout}{'' if a.flags.writeable else ' readonly'}]"
        return f"({', '.join(map(one, a))})" if isinstance(a, tuple) else type(a).__name__
    return ", ".join([*map(one, args), *(f"{k}={one(v)}" for k, v in kws.items())])


class Placeholder:
    """Stands for a numba object (an intrinsic) kernels use and no Python calls, until numba comes in."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        _placeholders.append(self)

    def __call__(self, *args):
        raise TypeError(f"{self.module}.{self.name} is for compiled kernels only")

    @property
    def _numba_type_(self):
        """numba's type of the object, for numba code using it: the object's (numba comes in)."""
        _to_numba()
        from numba.core.registry import cpu_target

        return cpu_target.typing_context.resolve_value_type(getattr(importlib.import_module(self.module), self.name))


def numba_object(module: str, name: str):
    """``module.name``, a numba object (an intrinsic) kernels use and no Python calls: a ``Placeholder``
    while numba has not come in."""
    with _lock:
        if exported():
            return Placeholder(module, name)
    return getattr(importlib.import_module(module), name)


def _to_numba() -> None:
    """Bring numba in: every kernel a numba dispatcher, put back where its module and others hold it, before
    any kernel hands its dispatcher out (a thread compiling meanwhile meets dispatchers only)."""
    global _fell_back
    with _lock:
        if _fell_back:
            return
        from sensor import jitcache  # numba, with kernels cached under their sources' digests

        real = {id(k): jitcache.njit(**k.options)(k.py_func) for k in _kernels}
        for holder in _placeholders:
            real[id(holder)] = getattr(importlib.import_module(holder.module), holder.name)
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] == PACKAGE.name and module is not None:
                for attr, value in list(vars(module).items()):
                    if isinstance(value, (_Kernel, Placeholder)) and id(value) in real:
                        setattr(module, attr, real[id(value)])
        for kernel in _kernels:
            kernel._numba = real[id(kernel)]
        _fell_back = True


def _made(func, options):
    """``func``'s kernel: a ``_Kernel`` while numba has not come in, else its dispatcher."""
    with _lock:
        if exported():
            return _Kernel(func, options)
    from sensor import jitcache

    return jitcache.njit(**options)(func)


def njit(*args, **options):
    """numba's ``njit`` (with options), or a ``_Kernel`` when the AOT module is in use."""
    if args and callable(args[0]):
        return njit(**options)(args[0])
    if AOT:
        return lambda func: _made(func, options)
    from sensor import jitcache

    return jitcache.njit(*args, **options)
