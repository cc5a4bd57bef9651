"""The one execution-and-cache layer of the site build.

Three things are run by the build: the Python blocks of the posts (explainer.outputs),
the figures (explainer.figures) and the notebook pages (explainer.notebook). They share:

* one rule for "the code changed": a file's digest is the sha256 of its code without
  blank and comment-only lines (`source_digest`); a set of files hashes to `code_hash`;
* one key recipe (`recipe`): the code, the local modules it imports (`local_imports`,
  traced), the versions and settings; recorded beside each result;
* `versions()`: the Python and library versions that decide a result;
* `Store`: a JSON file of entries, each with a checksum of what was recorded; read
  without side effects (an unreadable file or an entry that fails its checksum is not
  used, named in a warning, and copied aside before it is written over), written
  atomically under a lock, one entry at a time as each item finishes, pruned only when
  a build succeeded (pruned entries go to an attic file beside it, so undoing an edit
  finds its result again);
* `run_python`: one executor - a fresh interpreter, an empty temporary working
  directory, an allow-listed environment, the CPU only, fixed seeds, a timeout, no
  process left behind (Linux), output read as it comes and cut at a limit.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("explainer")

REPO = Path.cwd().resolve()  # the repository: where make, mkdocs and the tests run


class EngineError(RuntimeError):
    """A failure the build must stop on; the message names the file (and line) at
    fault."""


# ---- what decides a result: the one key recipe ---------------------------------------


def normalized_source(text: str) -> str:
    """Code without blank lines, comment-only lines and trailing spaces."""
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(
        line for line in lines if line and not line.lstrip().startswith("#")
    )


def source_digest(relpath: str, root: Path = REPO) -> str:
    """sha256 of one file's normalized code; relpath is relative to the repository."""
    text = (root / relpath).read_text(encoding="utf-8")
    return hashlib.sha256(normalized_source(text).encode("utf-8")).hexdigest()


def source_digests(relpaths: Iterable[str], root: Path = REPO) -> dict[str, str]:
    return {rel: source_digest(rel, root) for rel in sorted(set(relpaths))}


def code_hash(digests: dict[str, str]) -> str:
    """One hash over a set of files (their names and digests)."""
    blob = "\n".join(f"{name} {digest}" for name, digest in sorted(digests.items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _module_files(name: str, base: Path) -> list[Path]:
    """The files `import name` runs when name's top package lives under `base`: each
    package's __init__.py and the module itself; [] when it is not there."""
    found, folder = [], base
    for part in name.split("."):
        if (folder / part / "__init__.py").is_file():
            folder = folder / part
            found.append(folder / "__init__.py")
        elif (folder / f"{part}.py").is_file():
            return [*found, folder / f"{part}.py"]
        else:
            return found if found and found[-1].parent == folder else []
    return found


@functools.lru_cache(maxsize=512)
def _imports(text: str) -> tuple[tuple[int, str], ...]:
    """(level, dotted name) of every module an import in `text` may run: level 0 for
    absolute imports, n for `from .{n}`; () when `text` is not Python."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ()
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            stem = f"{node.module}." if node.module else ""
            found += [(node.level, f"{stem}{alias.name}") for alias in node.names]
            found += [(node.level, node.module)] if node.module else []
    return tuple(found)


def local_imports(code: str, root: Path = REPO, path: Path | None = None) -> list[str]:
    """Repository-relative paths of the local modules `code` imports, transitively:
    any package or module at the repository root, and (for a file at `path`) its
    relative imports. A module that cannot be parsed counts as itself only."""
    root = Path(root).resolve()
    seen: dict[Path, None] = {}
    todo: list[tuple[str, Path | None]] = [(code, path)]
    while todo:
        text, where = todo.pop()
        for level, name in _imports(text):
            if level and where is None:
                continue  # a relative import in code that is no file
            base = Path(where).resolve().parents[level - 1] if level else root
            for file in _module_files(name, base):
                if file not in seen and file.is_relative_to(root):
                    seen[file] = None
                    todo.append((file.read_text(encoding="utf-8"), file))
    if path is not None:
        seen[Path(path).resolve()] = None
    return sorted({f.relative_to(root).as_posix() for f in seen})


def recipe(
    code: str,
    root: Path = REPO,
    path: Path | None = None,
    dists: Iterable[str] = ("torch",),
    **settings: Any,
) -> dict[str, Any]:
    """Everything that decides what running `code` gives, as recorded beside a result:
    the code (for a file at `path`: its normalized source, in `sources`), the digest of
    every local module it imports (`local_imports`), the versions of Python and of
    `dists`, and the `settings`. `key(**recipe(...))` is the key of a block's output, a
    figure or a notebook page: what is keyed is what is recorded."""
    parts: dict[str, Any] = {} if path is not None else {"code": code}
    parts["sources"] = source_digests(local_imports(code, root, path), root)
    parts["versions"] = versions(*dists)
    return {**parts, **settings}


def versions(*dists: str) -> dict[str, str]:
    """The Python version and those of `dists`, read from metadata (nothing is
    imported)."""
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def key(**parts: Any) -> str:
    """A cache key: sha256 of the parts, as sorted JSON."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- atomic writes -------------------------------------------------------------------


def cannot_write(path: Path, error: OSError, setting: str = "") -> EngineError:
    """The error for a write of `path` that failed: the file, the reason, the fix."""
    folder = _shown(Path(path).parent)
    if error.errno == errno.ENOSPC:
        fix = "free some disk space and run again"
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = f"make {folder} writable" + (
            f", or point {setting} at a writable folder" if setting else ""
        )
    else:
        fix = f"check that {folder} is a writable folder"
    return EngineError(
        f"{_shown(path)}: could not be written ({error.strerror or error}); {fix}. "
        "The file is unchanged."
    )


def temp_name(path: Path) -> Path:
    """The temporary sibling a write of `path` goes through (hidden, same folder)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(
    path: Path, write: Callable[[IO[bytes]], None], setting: str = ""
) -> None:
    """Write `path` through a temporary file in its folder, then os.replace it into
    place.

    If `write` raises (or the process is interrupted), `path` keeps its old content and
    no temporary file is left; an OSError (full disk, read-only folder) becomes an
    EngineError naming the file and the fix.
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise cannot_write(path, error, setting) from None
        raise


def atomic_write_bytes(path: Path, data: bytes, setting: str = "") -> None:
    atomic_write(path, lambda f: f.write(data), setting)


def write_if_changed(path: Path, data: bytes, setting: str = "") -> bool:
    """Atomically write `data` unless the file already holds it (keeps `mkdocs serve`
    calm)."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise cannot_write(path, error, setting) from None
    atomic_write_bytes(path, data, setting)
    return True


def remove_stale_temps(folder: Path, names: Iterable[str]) -> None:
    """Remove the temporary files a killed run left next to `names` in `folder`."""
    for name in names:
        for tmp in Path(folder).glob(f".{name}.*.tmp"):
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- the store -----------------------------------------------------------------------

CHECKSUM = "sha256"  # beside an entry's recorded fields: the checksum of them


def checksum(entry: dict[str, Any]) -> str:
    """sha256 of an entry's recorded fields (all but CHECKSUM), as canonical JSON."""
    return key(**json.loads(json.dumps(_fields(entry))))


class Store:
    """Entries {name: entry} in one JSON file, e.g. a post's outputs or the figure
    manifest.

    File layout: ``{"format": N, <header fields>, <field>: {name: entry}}``; every
    entry carries ``sha256``, the checksum of its other fields as they were recorded.

    * Reading changes nothing and takes no lock (the file is only ever replaced
      atomically). A missing file is an empty store. An unreadable one (bad JSON, wrong
      format or shape) reads as empty and `unreadable` says why; an entry that `valid`
      rejects or that does not match its checksum (edited by hand) is left out and
      `rejected` says why; both with a warning naming the file (and entry).
    * Writing: `put` and `prune` take an exclusive lock (a ``.<name>.lock`` file beside
      it), re-read the file, change only their entries and replace the file atomically -
      so concurrent runs keep each other's entries, and a killed run keeps what it
      recorded. A file read in part or not at all is first copied aside
      (``<name>.unreadable-<time>`` / ``<name>.bad-entries-<time>``), never written
      over unseen. A write that fails (read-only folder, full disk) raises EngineError
      naming the file and the fix (`setting`: what chooses the folder), and the file
      stays as it was.
    * Pruning moves the dropped entries into an attic (``.<name>.attic.json`` beside it,
      not committed), where `get` still finds them (checked like the store's own):
      undoing an edit costs no re-execution.
    """

    def __init__(
        self,
        path: Path,
        field: str,
        *,
        format: int = 1,
        header: dict[str, Any] | None = None,
        valid: Callable[[Any], bool] = lambda entry: isinstance(entry, dict),
        attic: bool = True,
        order: Callable[[str, Any], Any] | None = None,
        setting: str = "",
    ):
        self.path = Path(path)
        self.field = field
        self.format = format
        self.header = dict(header or {})
        self.valid = valid
        self.order = order
        self.setting = setting
        self.unreadable: str | None = None  # why the file could not be read
        self.rejected: dict[str, str] = {}  # entries left out: name -> why
        self.attic_path = (
            self.path.with_name(f".{self.path.name}.attic.json") if attic else None
        )
        self._entries: dict[str, Any] | None = None

    # reading

    @property
    def entries(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def get(self, name: str) -> Any | None:
        entry = self.entries.get(name)
        if entry is None and self.attic_path is not None:
            attic = _read_json(self.attic_path)
            found = attic.get(name) if isinstance(attic, dict) else None
            if found is not None and not (why := self._distrust(found)):
                entry = _fields(found)
                self.put(name, entry)  # back in the store: an undo costs no re-run
            elif found is not None:
                log.warning(
                    "%s: entry %s %s; not used", _shown(self.attic_path), name, why
                )
        return entry

    def _distrust(self, entry: Any) -> str:
        """Why a stored entry cannot be used ("" when it can)."""
        if not isinstance(entry, dict) or not self.valid(_fields(entry)):
            return "is of the wrong shape"
        if CHECKSUM not in entry:
            return f"has no {CHECKSUM} (recorded by an older build)"
        if entry[CHECKSUM] != checksum(entry):
            return f"does not match its {CHECKSUM} (changed after it was recorded)"
        return ""

    def _read(self) -> dict[str, Any]:
        """The file's usable entries; sets `unreadable` and `rejected`; writes
        nothing."""
        self.unreadable, self.rejected = None, {}
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise EngineError(
                f"{_shown(self.path)}: cannot be read ({error.strerror}); expected "
                "the store's JSON file there: move what is there away"
            ) from None
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("the top level is not an object")
            if data.get("format") != self.format:
                raise ValueError(
                    f"format is {data.get('format')!r}, expected {self.format}"
                )
            entries = data.get(self.field)
            if not isinstance(entries, dict):
                raise ValueError(f"field {self.field!r} is not an object")
        except (ValueError, UnicodeDecodeError) as error:
            self.unreadable = str(error)
            log.warning(
                "%s is unreadable (%s); it is read as an empty store",
                _shown(self.path),
                error,
            )
            return {}
        self.rejected = {
            name: why
            for name, entry in entries.items()
            if (why := self._distrust(entry))
        }
        for name, why in sorted(self.rejected.items()):
            log.warning("%s: entry %s %s; not used", _shown(self.path), name, why)
        return {k: _fields(v) for k, v in entries.items() if k not in self.rejected}

    # writing

    def put(self, name: str, entry: Any) -> None:
        """Record one entry now (under the lock, atomically)."""
        self.update({name: entry})

    def update(self, new: dict[str, Any]) -> None:
        with self._lock():
            entries = self._read()
            entries.update(new)
            self._write(entries)
            self._entries = entries

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Drop every entry not in `keep` (after a successful build); returns the
        dropped names. Nothing to drop: nothing is written, nor locked."""
        keep = set(keep)
        if set(self._read()) <= keep:
            return []
        with self._lock():
            entries = self._read()
            dropped = {k: v for k, v in entries.items() if k not in keep}
            if dropped and self.attic_path is not None:
                attic = _read_json(self.attic_path)
                attic = attic if isinstance(attic, dict) else {}
                attic.update({k: _stamped(v) for k, v in dropped.items()})
                atomic_write_bytes(self.attic_path, _dump(attic))
            entries = {k: v for k, v in entries.items() if k in keep}
            self._write(entries)
            self._entries = entries
        return sorted(dropped)

    def _write(self, entries: dict[str, Any]) -> None:
        names = sorted(
            entries,
            key=(lambda k: (self.order(k, entries[k]), k)) if self.order else None,
        )
        data = {
            "format": self.format,
            **self.header,
            self.field: {name: _stamped(entries[name]) for name in names},
        }
        if self.unreadable or self.rejected:  # what was left out is kept aside
            why = "unreadable" if self.unreadable else "bad-entries"
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside, n = self.path.with_name(f"{self.path.name}.{why}-{stamp}"), 1
            while aside.exists():
                n += 1
                aside = self.path.with_name(f"{self.path.name}.{why}-{stamp}-{n}")
            atomic_write_bytes(aside, self.path.read_bytes())
            log.warning(
                "%s %s; a copy of it is kept at %s",
                _shown(self.path),
                f"was unreadable ({self.unreadable}) and is rebuilt"
                if self.unreadable
                else f"had {len(self.rejected)} entries that were not used",
                _shown(aside),
            )
            self.unreadable, self.rejected = None, {}
        write_if_changed(self.path, _dump(data, sort=False), self.setting)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """The exclusive lock of a write (a failure to take it names the fix)."""
        from filelock import FileLock

        lock = FileLock(self.path.with_name(f".{self.path.name}.lock"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except OSError as error:
            raise cannot_write(self.path, error, self.setting) from None
        try:
            yield
        finally:
            lock.release()


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as recorded: without its checksum."""
    return {k: v for k, v in entry.items() if k != CHECKSUM}


def _stamped(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as stored: its recorded fields and their checksum."""
    return {**_fields(entry), CHECKSUM: checksum(entry)}


def _dump(data: Any, sort: bool = True) -> bytes:
    text = json.dumps(data, indent=2, sort_keys=sort, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _shown(path: Path) -> str:
    """A path as messages show it: relative to the repository when inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


# ---- the executor --------------------------------------------------------------------

MAX_OUTPUT_LINES = 200  # a longer output is cut (the page says so)
MAX_OUTPUT_BYTES = 64_000
MAX_OUTPUT_READ = 16_000_000  # a block printing more is stopped (and fails)
_ENVIRONMENT = ("PATH", "LANG")  # what a block gets of the build's environment (+ LC_*)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # shown as \xNN: not \t, \n
_LINUX = sys.platform.startswith("linux")

# Run the script as __main__ with fixed seeds (torch's default generator is already
# fixed).
_BOOT = (
    "import random, runpy, sys; random.seed(0)\n"
    "try:\n    import numpy; numpy.random.seed(0)\nexcept ImportError:\n    pass\n"
    "path = sys.argv[1]; sys.argv = sys.argv[1:]; sys.path[0] = ''\n"
    "runpy.run_path(path, run_name='__main__')\n"
)

# On Linux the block's interpreter is started by this launcher: a child subreaper
# (prctl PR_SET_CHILD_SUBREAPER), so every process the block starts, even one that
# double-forks or leaves its session, stays below it. When the block ends, when the
# build asks (SIGTERM) or when the build dies (PR_SET_PDEATHSIG), it kills and reaps
# all of them. argv: the build's pid, the boot code, the script.
_LAUNCH = r"""
import ctypes, os, signal, sys
prctl = ctypes.CDLL(None, use_errno=True).prctl
prctl(36, 1, 0, 0, 0)
prctl(1, signal.SIGTERM, 0, 0, 0)
def reap(*_):
    me = str(os.getpid())
    while True:
        kids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        kids.append(int(pid))
            except (OSError, IndexError):
                pass
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
signal.signal(signal.SIGTERM, lambda *_: (reap(), os._exit(143)))
if os.getppid() != int(sys.argv[1]):
    os._exit(143)
block = os.fork()
if block == 0:
    prctl(1, signal.SIGKILL, 0, 0, 0)
    os.execv(sys.executable, [sys.executable, "-c", *sys.argv[2:]])
code = os.waitstatus_to_exitcode(os.waitpid(block, 0)[1])
reap()
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
os._exit(code)
"""


@dataclass(frozen=True)
class Run:
    """What one execution printed (stdout and stderr, interleaved) and how it ended."""

    returncode: int | None  # None: stopped by the build (timeout, output, interrupt)
    output: str  # cut to MAX_OUTPUT_LINES / MAX_OUTPUT_BYTES
    omitted_lines: int  # whole lines cut from the end (0: complete, or cut mid-line)
    seconds: float
    timeout: float
    error: str = ""  # why the run failed: "" when it succeeded
    omitted_bytes: int = 0  # bytes cut from the end (0: complete)
    escaped: int = 0  # control characters shown as \xNN

    @property
    def ok(self) -> bool:
        return not self.error

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.output.rstrip("\n").split("\n")[-lines:])


class _Captured:
    """The first MAX_OUTPUT_BYTES of an output, and counts of all of it."""

    def __init__(self) -> None:
        self.head, self.total, self.newlines, self.last = bytearray(), 0, 0, b""

    def add(self, chunk: bytes) -> None:
        self.head += chunk[: max(0, MAX_OUTPUT_BYTES - len(self.head))]
        self.total += len(chunk)
        self.newlines += chunk.count(b"\n")
        self.last = chunk[-1:] or self.last

    def cut(self) -> tuple[bytes, int]:
        """What is shown (whole lines when it can) and how many lines are left out
        (0 when the cut falls inside a line: then only bytes can be counted)."""
        data, end, pos = bytes(self.head), len(self.head), -1
        for _ in range(MAX_OUTPUT_LINES):
            pos = data.find(b"\n", pos + 1)
            if pos < 0:
                break
        if pos >= 0 and pos + 1 < self.total:  # more than MAX_OUTPUT_LINES lines
            end = pos + 1
        elif end < self.total and b"\n" in data:  # past the byte limit: whole lines
            end = data.rfind(b"\n") + 1
        kept = data[:end]
        if end == self.total or not kept.endswith(b"\n"):
            return kept, 0
        return kept, self.newlines - kept.count(b"\n") + (self.last != b"\n")


def remove_dead_runs(folder: Path) -> None:
    """Remove the explainer-run-<pid>-* folders of builds that are gone (killed)."""
    for path in Path(folder).glob("explainer-run-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def run_python(
    code: str,
    timeout: float,
    name: str = "block.py",
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
) -> Run:
    """Run `code` in a fresh interpreter, in an empty temporary folder, on the CPU.

    Nothing it writes in its folders outlives the call (working folder, HOME and TMPDIR
    are temporary); it sees only PATH, LANG and LC_* of the environment; no process it
    starts outlives it (Linux); its output is read as it comes and it is stopped past
    MAX_OUTPUT_READ bytes, past `timeout` seconds, or when `stop` is set.
    """
    start = time.perf_counter()
    remove_dead_runs(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"explainer-run-{os.getpid()}-") as tmp:
        tmp = Path(tmp)
        for sub in ("src", "work", "home", "tmp"):
            (tmp / sub).mkdir()
        script = tmp / "src" / name
        script.write_text(code, encoding="utf-8")
        environ = {
            **{
                k: v
                for k, v in os.environ.items()
                if k in _ENVIRONMENT or k.startswith("LC_")
            },
            "PYTHONPATH": str(REPO),
            "CUDA_VISIBLE_DEVICES": "",  # the reader's laptop: CPU only
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",  # same sums on every machine
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONUTF8": "1",
            "MPLBACKEND": "Agg",
            "COLUMNS": "88",
            "HOME": str(tmp / "home"),
            "TMPDIR": str(tmp / "tmp"),
            **(env or {}),
        }
        command = [sys.executable, "-c", _BOOT, str(script)]
        if _LINUX:
            command[2:2] = [_LAUNCH, str(os.getpid())]
        captured = _Captured()
        with subprocess.Popen(
            command,
            cwd=tmp / "work",
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as proc:
            try:
                why = _watch(proc, captured, time.monotonic() + timeout, stop)
            finally:
                _end(proc)
    seconds = time.perf_counter() - start
    kept, omitted_lines = captured.cut()
    error = ""
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(kept) - 3 and len(kept) < captured.total:  # cut inside
            kept = kept[: exc.start]  # a character: drop its start
            text = kept.decode("utf-8")
        else:
            text = kept.decode("utf-8", errors="backslashreplace")
            error = (
                f"it printed bytes that are not UTF-8 (byte {exc.start} of its output: "
                f"{kept[exc.start : exc.start + 4]!r}); "
                "print text, or decode bytes first"
            )
    omitted_bytes = captured.total - len(kept)
    text, escaped = _CONTROL.subn(lambda m: f"\\x{ord(m.group()):02x}", text)
    returncode = None if why else proc.returncode
    if why == "timeout":
        error = f"it ran past its timeout of {timeout:g} s"
    elif why == "output":
        error = (
            f"it printed more than {MAX_OUTPUT_READ / 1e6:g} MB and was stopped (the "
            f"page shows at most {MAX_OUTPUT_LINES} lines or {MAX_OUTPUT_BYTES / 1e3:g}"
            " KB of it: print less)"
        )
    elif why == "stopped":
        error = "it was stopped: the build was interrupted"
    elif returncode != 0:
        error = f"it exited with status {returncode}"
    return Run(
        returncode, text, omitted_lines, seconds, timeout, error, omitted_bytes, escaped
    )


def _watch(
    proc: subprocess.Popen,
    captured: _Captured,
    deadline: float,
    stop: threading.Event | None,
) -> str:
    """Read the output as it comes until the run ends; "" or why it must be stopped."""
    fd, reading = proc.stdout.fileno(), True
    while True:
        if stop is not None and stop.is_set():
            return "stopped"
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        exited = proc.poll() is not None
        if reading and select.select([fd], [], [], 0 if exited else min(left, 0.1))[0]:
            chunk = os.read(fd, 1 << 16)
            reading = bool(chunk)
            captured.add(chunk)
            if captured.total > MAX_OUTPUT_READ:
                return "output"
        elif exited:
            return ""
        elif not reading:
            time.sleep(min(left, 0.05))


def _end(proc: subprocess.Popen) -> None:
    """Stop what is left of a run: the launcher kills the block's processes on SIGTERM;
    then the process group is killed (all there is off Linux)."""
    if proc.poll() is None and _LINUX:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
