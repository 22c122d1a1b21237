"""The sensor's kernels compiled ahead of time: one ``numba.pycc`` extension of every kernel plain Python calls.

``sensor/aot_entries.json`` (checked in) declares those kernels and the argument types each is called with;
``python -m sensor.aot build`` compiles them with pycc alone into ``sensor/_aot/`` (the extension, a
manifest: export names, what each argument must be, what the build was made from; and the argument checks'
code, ``jit.call_code``'s), which ``sensor.jit``
loads when that matches; ``python -m sensor.aot ensure`` (``./dev``) builds unless the build is current or
there is no C compiler or no Python.h to build with. ``python -m sensor.aot record CAPTURE...`` runs the pipeline on
captures under numba and writes the entries its Python-level kernel calls had (tests/sensor/test_aot.py
checks a short workload needs nothing the file lacks). An argument spec is ``["array", dtype, ndim, layout,
readonly]``, ``["bool"]``, ``["int", name]``, ``["float", name]``, ``["tuple", [specs]]`` or
``["namedtuple", "module.Class", [specs]]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__":
    os.environ["MIERUKA_SENSOR_AOT"] = "0"  # pycc compiles numba's kernels: never load an older build for it

from sensor import jit  # noqa: E402

ENTRIES = jit.ENTRIES
EXTENSION = jit.EXTENSION


def spec_of(numba_type) -> list:
    """The argument spec (module docstring) of a numba type."""
    import numpy as np
    from numba import types

    if isinstance(numba_type, types.Array):
        dtype = "bool" if numba_type.dtype == types.boolean else numba_type.dtype.name
        return ["array", str(np.dtype(dtype)), numba_type.ndim, numba_type.layout, not numba_type.mutable]
    if isinstance(numba_type, types.Boolean):
        return ["bool"]
    if isinstance(numba_type, types.Integer):
        return ["int", numba_type.name]
    if isinstance(numba_type, types.Float):
        return ["float", numba_type.name]
    members = [spec_of(t) for t in numba_type.types]
    if isinstance(numba_type, (types.NamedTuple, types.NamedUniTuple)):
        cls = numba_type.instance_class
        return ["namedtuple", f"{cls.__module__}.{cls.__qualname__}", members]
    if isinstance(numba_type, types.BaseTuple):
        return ["tuple", members]
    raise TypeError(f"no argument spec for {numba_type}")


def type_of(spec: list):
    """The numba type an argument spec stands for."""
    import numpy as np
    from numba import types
    from numba.np.numpy_support import from_dtype

    kind = spec[0]
    if kind == "array":
        _, dtype, ndim, layout, readonly = spec
        return types.Array(from_dtype(np.dtype(dtype)), ndim, layout, readonly=readonly)
    if kind == "bool":
        return types.boolean
    if kind in ("int", "float"):
        return getattr(types, spec[1])
    members = [type_of(s) for s in spec[-1]]
    if kind == "namedtuple":
        module, _, name = spec[1].rpartition(".")
        return types.BaseTuple.from_types(members, getattr(importlib.import_module(module), name))
    if kind == "tuple":
        return types.BaseTuple.from_types(members)
    raise ValueError(f"unknown argument spec {spec}")


def declared() -> dict[str, list[list]]:
    """The checked-in entries: "module.kernel" -> [argument specs of one signature, ...]."""
    return json.loads(ENTRIES.read_text())


def workload(captures: list[Path]) -> None:
    """The pipeline on ``captures`` (folded and every PDU, flows only), then ``beside_captures``."""
    from sensor.meter import pipeline
    from sensor.meter.observe import Observer

    for capture in captures:
        for fold in (True, False):
            for _ in pipeline.iter_batches([capture], 60.0, observer=Observer(), fold=fold):
                pass
        for _ in pipeline.iter_intervals([capture], protocols=(), folded=True):
            pass
    beside_captures()


def beside_captures() -> None:
    """The kernel calls a capture's pipeline run may not make: the live ring's walker, and the pending and tag
    tables rehashed for many PDUs at once."""
    import numpy as np

    from sensor.capture import tpacket
    from sensor.meter.fast_enip import FastEnip
    from sensor.meter.fast_modbus import FastModbus
    from sensor.meter.flows import FlowTable
    from sensor.meter.rows import Facts

    tpacket._take_frames(np.zeros(64, np.uint8), 0, tpacket._Chunk(), False)  # as PacketRing's start does
    for path in (FastModbus, FastEnip):
        path(Facts(), FlowTable())._grow(4096)


def record(run: Callable[[], object]) -> dict[str, list[list]]:
    """The entries of the Python-level kernel calls ``run()`` makes. Needs numba's kernels
    (``MIERUKA_SENSOR_AOT=0``): a kernel's call of another kernel does not go through the dispatcher's
    ``__call__``, so only entry points count."""
    from numba.core import dispatcher

    if jit.AOT:
        raise RuntimeError("recording needs numba's kernels: run it with MIERUKA_SENSOR_AOT=0")
    called: dict[str, set[str]] = {}
    call = dispatcher.Dispatcher.__call__

    def recording(self, *args, **kws):
        name = f"{self.py_func.__module__}.{self.py_func.__name__}"
        called.setdefault(name, set()).add(json.dumps([spec_of(self.typeof_pyval(a)) for a in args]))
        return call(self, *args, **kws)

    dispatcher.Dispatcher.__call__ = recording
    try:
        run()
    finally:
        dispatcher.Dispatcher.__call__ = call
    return {name: [json.loads(s) for s in sorted(sigs)] for name, sigs in sorted(called.items())}


def accepts(declared: list, called: list) -> bool:
    """Whether an export of argument specs ``declared`` takes the arguments of specs ``called`` (a read-only
    array parameter takes writable arrays too)."""
    if len(declared) != len(called):
        return False
    for d, c in zip(declared, called):
        if d[0] == c[0] == "array" and d[:4] == c[:4] and d[4] >= c[4]:
            continue
        if d[0] == c[0] and d[0] in ("tuple", "namedtuple") and d[:-1] == c[:-1]:
            if accepts(d[-1], c[-1]):
                continue
            return False
        if d != c:
            return False
    return True


def merged(found: dict[str, list[list]], entries: dict[str, list[list]]) -> dict[str, list[list]]:
    """``entries`` with the signatures of the kernels ``found`` covers replaced by those ``found`` (keeping a
    declared one that takes a found one: its read-only array parameters)."""
    out = {name: list(sigs) for name, sigs in entries.items()}
    for name, sigs in found.items():
        kept = [d for d in out.get(name, []) if any(accepts(d, c) for c in sigs)]
        out[name] = kept + [c for c in sigs if not any(accepts(d, c) for d in kept)]
    return dict(sorted(out.items()))


def entries_text(entries: dict[str, list[list]]) -> str:
    """``entries`` as JSON with one signature a line."""
    kernels = (f" {json.dumps(name)}: [\n" + ",\n".join(f"  {json.dumps(sig)}" for sig in sigs) + "\n ]"
               for name, sigs in entries.items())
    return "{\n" + ",\n".join(kernels) + "\n}\n"


@contextlib.contextmanager
def _releasing_the_gil(funcs: set):
    """pycc's exports of ``funcs`` release the GIL while they run, as numba's ``nogil`` dispatchers do (pycc
    compiles every export with its default flags, which hold it)."""
    from numba.pycc import compiler

    compile_extra = compiler.compile_extra

    def compiling(typingctx, targetctx, func, *args, **kws):
        flags = args[2] if len(args) > 2 else kws["flags"]
        if func in funcs:
            flags = flags.copy()
            flags.release_gil = True
            args = (*args[:2], flags, *args[3:]) if len(args) > 2 else args
            kws = {**kws, "flags": flags} if "flags" in kws else kws
        return compile_extra(typingctx, targetctx, func, *args, **kws)

    compiler.compile_extra = compiling
    try:
        yield
    finally:
        compiler.compile_extra = compile_extra


def _put_in_place(built: Path, out: Path) -> None:
    """``built`` becomes ``out`` (the old build moved aside first: a directory is renamed over an empty one
    only); a loader in between finds no build and takes numba's kernels."""
    old = out.with_name(f".{out.name}-old-{os.getpid()}")
    try:
        os.rename(out, old)
    except FileNotFoundError:
        pass
    try:
        os.rename(built, out)
    except OSError:  # another build put its own in place meanwhile
        pass
    shutil.rmtree(old, ignore_errors=True)


def build(out: Path = jit.AOT_DIR) -> Path:
    """Compile the declared entries with pycc into ``out`` (built beside it, then renamed into place);
    returns the manifest's path."""
    from numba.pycc import CC

    if jit.AOT:  # (python -m sensor.aot switches it off)
        raise RuntimeError("pycc compiles numba's kernels: build with MIERUKA_SENSOR_AOT=0")
    (sources, kept), entries = jit.stamped_sources(), declared()  # (what the build is made from, read before it starts)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # (mkdtemp's is the user's alone)
    try:
        cc = CC(EXTENSION)
        cc.output_dir = str(staging)
        exports, nogil = {}, set()
        for name, signatures in entries.items():
            module, _, attr = name.rpartition(".")
            kernel = getattr(importlib.import_module(module), attr)
            if kernel.targetoptions.get("nogil"):
                nogil.add(kernel.py_func)
            exports[name] = []
            for i, specs in enumerate(signatures):
                symbol = f"{name.replace('.', '_')}__{i}"
                cc.export(symbol, tuple(type_of(s) for s in specs))(kernel.py_func)  # the result type inferred
                exports[name].append([symbol, specs])
        with _releasing_the_gil(nogil):
            cc.compile()
        (so,) = staging.glob(f"{EXTENSION}.*so")
        stamp = jit.file_stamp(so)  # (before its digest: a change after it is seen)
        digest = hashlib.blake2b(so.read_bytes(), digest_size=16).hexdigest()
        kept["extension"] = [*stamp, digest]
        (staging / f"{EXTENSION}.json").write_text(json.dumps(
            {"sources": sources, "extension": so.name, "entries": exports, "stamps": kept,
             "extension_digest": digest}, indent=1) + "\n")
        write_checks(staging, exports)
        _put_in_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / f"{EXTENSION}.json"


def write_checks(out: Path, exports: dict[str, list]) -> None:
    """Every kernel's argument checks for its ``exports`` (the manifest's), compiled into ``out`` beside the
    build (``jit.compiled_checks``): a start compiled them, ~0.5 ms a kernel."""
    kernels = {name: (kernel_exports, *jit.call_code(kernel_exports)) for name, kernel_exports in exports.items()}
    written = out / f".{jit.CHECKS}-{os.getpid()}"
    written.write_bytes(jit.sealed_checks(kernels))
    os.replace(written, out / jit.CHECKS)


def toolchain() -> str | None:
    """What pycc lacks to build on this machine (a C compiler, Python's headers, setuptools), None when nothing."""
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools"
    if shutil.which("cc") is None:
        return "C compiler (cc)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "Python headers (Python.h)"
    return None


def ensure(out: Path, log: Path) -> str | None:
    """Build into ``out`` unless the build there matches the sources, the build's output going to ``log``
    (tried again on every call until it succeeds). None when the kernels are compiled ahead of time, else
    why not."""
    loaded = jit.load_build(out)
    if loaded is not None:
        if not jit.compiled_checks(out):  # a build made before they were, or by another version of the checks
            with contextlib.suppress(OSError):  # (a build others own: each start compiles them)
                write_checks(out, loaded[1]["entries"])
        return None
    lacking = toolchain()
    if lacking:
        return f"no {lacking} to build them with"
    with log.open("w") as output:
        done = subprocess.run([sys.executable, "-m", "sensor.aot", "build", "--out", str(out)], stdout=output,
                              stderr=subprocess.STDOUT, check=False)
    return f"their build failed (exit status {done.returncode}, see {log})" if done.returncode else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sensor.aot", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="compile the declared kernels into sensor/_aot/")
    make.add_argument("--out", type=Path, default=jit.AOT_DIR)
    check = sub.add_parser("ensure", help="build unless the build matches the sources; exit status 1 when a "
                           "build with a C compiler and Python.h failed")
    check.add_argument("--out", type=Path, default=jit.AOT_DIR)
    check.add_argument("--log", type=Path, required=True, help="the build's output")
    rec = sub.add_parser("record", help="add the kernel calls of a run on captures to aot_entries.json")
    rec.add_argument("captures", nargs="+", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.command == "build":
        manifest = build(args.out)
        print(f"built {manifest.parent} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    elif args.command == "ensure":
        why = ensure(args.out, args.log)
        if why:
            print(f"sensor kernels not compiled ahead of time: {why}; numba compiles them at run time",
                  file=sys.stderr)
            return 1 if toolchain() is None else 0
    else:
        missing = [str(p) for p in args.captures if not p.is_file()]
        if missing:
            parser.error(f"no such capture: {missing[0]}")
        found = record(lambda: workload(args.captures))
        ENTRIES.write_text(entries_text(merged(found, declared() if ENTRIES.exists() else {})))
        print(f"wrote {ENTRIES}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
