"""The one execution-and-cache layer of the site build, shared by the posts' blocks
(explainer.outputs), the figures and the notebook pages: the key recipe (`recipe`,
`key`), the `Store` of results and the executor (`run_python`). The README tells the
design: what is keyed, what a store checks and keeps, what a block can reach.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import errno
import functools
import hashlib
import itertools
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
from dataclasses import KW_ONLY, dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("explainer")

REPO = Path.cwd().resolve()  # the repository: where make, mkdocs and the tests run


class EngineError(RuntimeError):
    """A failure the build must stop on; the message names the file (and line)."""


# ---- what decides a result: the one key recipe ---------------------------------------


def normalized_source(text: str) -> str:
    """Code without blank lines, comment-only lines and trailing spaces."""
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(x for x in lines if x and not x.lstrip().startswith("#"))


def source_digest(relpath: str, root: Path = REPO) -> str:
    """sha256 of the normalized code of a file relative to `root`."""
    text = (root / relpath).read_text(encoding="utf-8")
    return hashlib.sha256(normalized_source(text).encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=512)
def _imports(text: str) -> tuple[tuple[int, str], ...]:
    """(level, dotted name) of each module an import in `text` may run."""
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
    """Paths (relative to `root`) of the modules at `root` that `code` imports,
    transitively, and (for the file at `path`) its relative imports."""
    root = Path(root).resolve()
    seen: dict[Path, None] = {}
    todo: list[tuple[str, Path | None]] = [(code, path)]
    while todo:
        text, where = todo.pop()
        for level, name in _imports(text):
            if level and where is None:
                continue  # a relative import in code that is no file
            folder = Path(where).resolve().parents[level - 1] if level else root
            files = []  # what `import name` runs: each __init__.py, then the module
            for part in name.split("."):
                if not (folder / part / "__init__.py").is_file():
                    files += [folder / f"{part}.py"]
                    break
                folder = folder / part
                files.append(folder / "__init__.py")
            for file in files:
                if file not in seen and file.is_relative_to(root) and file.is_file():
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
    """What decides what running `code` gives (the code unless it is the file at
    `path`, its local modules' digests, versions, `settings`): keyed and recorded."""
    parts: dict[str, Any] = {} if path is not None else {"code": code}
    parts["sources"] = {
        f: source_digest(f, root) for f in local_imports(code, root, path)
    }
    parts["versions"] = versions(*dists)
    return {**parts, **settings}


def versions(*dists: str) -> dict[str, str]:
    """The Python version and those of `dists`, from metadata (nothing is imported)."""
    python = ".".join(map(str, sys.version_info[:3]))
    return {"python": python} | {dist: _version(dist) for dist in dists}


@functools.cache  # once per process: every block, figure and notebook asks
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def key(**parts: Any) -> str:
    """A cache key: sha256 of the parts, as sorted JSON."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- atomic writes -------------------------------------------------------------------


def cannot_write(path: Path, error: OSError, setting: str = "") -> EngineError:
    """The error for a failed write of `path`: the file, the reason, the fix."""
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


def atomic_write(
    path: Path, write: Callable[[IO[bytes]], None], setting: str = ""
) -> None:
    """Write `path` (and its folder) through a temporary sibling replaced into place: on
    a failure the old file stays, no temporary is left, an OSError is `cannot_write`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
    """Atomically write `data` unless the file holds it (keeps `mkdocs serve` calm)."""
    if Path(path).is_file() and Path(path).read_bytes() == data:
        return False
    atomic_write_bytes(path, data, setting)
    return True


def _gone(pid: str) -> bool:
    """Whether `pid` names another process, one that has ended."""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def remove_stale_temps(folder: Path, names: Iterable[str]) -> None:
    """Remove the temporary files a killed run left next to `names` in `folder`."""
    for name in names:
        for tmp in Path(folder).glob(f".{name}.*.tmp"):
            if _gone(tmp.name.rsplit(".", 2)[-2]):
                tmp.unlink(missing_ok=True)


def remove_dead_runs(folder: Path) -> None:
    """Remove the explainer-run-<pid>-* folders of builds that are gone (killed)."""
    for path in Path(folder).glob("explainer-run-*-*"):
        if _gone(path.name.split("-")[2]):
            shutil.rmtree(path, ignore_errors=True)


# ---- the store -----------------------------------------------------------------------

CHECKSUM = "sha256"  # beside an entry's recorded fields: the checksum of them


def checksum(entry: dict[str, Any]) -> str:
    """sha256 of an entry's recorded fields (all but CHECKSUM), as canonical JSON."""
    return key(**json.loads(json.dumps(_fields(entry))))


@dataclass(eq=False)
class Store:
    """Entries {name: entry} in one JSON file, each with the checksum of its fields.
    It is read when made, and reading changes nothing: what cannot be used is left
    out with a warning, and `unreadable` or `rejected` says why; writes are locked and
    atomic (README)."""

    path: Path
    field: str
    _: KW_ONLY
    format: int = 1
    header: dict[str, Any] = dataclasses.field(default_factory=dict)
    valid: Callable[[Any], bool] = lambda entry: isinstance(entry, dict)
    attic: bool = True
    order: Callable[[str, Any], Any] | None = None
    setting: str = ""  # what chooses the folder, named in a write error

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        name = f".{self.path.name}.attic.json"
        self.attic_path = self.path.with_name(name) if self.attic else None
        self.entries = self._read()  # and why: `unreadable`, `rejected` {name: why}

    def get(self, name: str) -> Any | None:
        """The entry `name`, from the store or else from the attic (then put back)."""
        entry = self.entries.get(name)
        attic = self._attic() if entry is None and self.attic_path else {}
        if attic.get(name) is not None:
            found, _ = self._trusted({name: attic[name]}, self.attic_path)
            if name in found:
                entry = found[name]
                self.put(name, entry)  # back in the store: an undo costs no re-run
        return entry

    def _attic(self) -> dict[str, Any]:
        try:
            attic = json.loads(self.attic_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return attic if isinstance(attic, dict) else {}

    def _trusted(self, entries: dict, path: Path) -> tuple[dict, dict[str, str]]:
        """The fields of the `entries` that can be used, and why the others cannot."""
        rejected = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict) or not self.valid(_fields(entry)):
                rejected[name] = "is of the wrong shape"
            elif CHECKSUM not in entry:
                rejected[name] = f"has no {CHECKSUM} (recorded by an older build)"
            elif entry[CHECKSUM] != checksum(entry):
                rejected[name] = (
                    f"does not match its {CHECKSUM} (changed after it was recorded)"
                )
        for name, why in sorted(rejected.items()):
            log.warning("%s: entry %s %s; not used", _shown(path), name, why)
        usable = {k: _fields(v) for k, v in entries.items() if k not in rejected}
        return usable, rejected

    def _read(self) -> dict[str, Any]:
        """The file's usable entries; sets `unreadable` and `rejected`."""
        self.unreadable, self.rejected = None, {}
        try:
            raw = self.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # no store there (yet)
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
            if not isinstance(data.get(self.field), dict):
                raise ValueError(f"field {self.field!r} is not an object")
        except (ValueError, UnicodeDecodeError) as error:
            self.unreadable = str(error)
            log.warning(
                "%s is unreadable (%s); it is read as an empty store",
                _shown(self.path),
                error,
            )
            return {}
        entries, self.rejected = self._trusted(data[self.field], self.path)
        return entries

    def put(self, name: str, entry: Any) -> None:
        """Record one entry now (under the lock, atomically)."""
        with self._writing() as entries:
            entries[name] = entry

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Move every entry not in `keep` to the attic (nothing to drop: no write)."""
        keep = set(keep)
        if set(self.entries) <= keep:  # as read, and as this build wrote it
            return []
        with self._writing() as entries:
            dropped = {k: entries.pop(k) for k in list(entries) if k not in keep}
            if dropped and self.attic_path is not None:
                stamped = {k: _stamped(v) for k, v in dropped.items()}
                atomic_write_bytes(self.attic_path, _dump({**self._attic(), **stamped}))
        return sorted(dropped)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        """The entries, re-read under the exclusive lock, then written atomically."""
        from filelock import FileLock

        lock = FileLock(self.path.with_name(f".{self.path.name}.lock"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            held = lock.acquire()
        except OSError as error:
            raise cannot_write(self.path, error, self.setting) from None
        with held:
            entries = self._read()
            yield entries
            self._write(entries)
            self.entries = entries

    def _write(self, entries: dict[str, Any]) -> None:
        order = (lambda k: (self.order(k, entries[k]), k)) if self.order else None
        stamped = {name: _stamped(entries[name]) for name in sorted(entries, key=order)}
        data = {"format": self.format, **self.header, self.field: stamped}
        if self.unreadable or self.rejected:  # what was left out is kept aside
            why = "unreadable" if self.unreadable else "bad-entries"
            stem = f"{self.path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}"
            names = (f"{stem}-{n}" if n > 1 else stem for n in itertools.count(1))
            aside = next(p for n in names if not (p := self.path.with_name(n)).exists())
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


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as recorded: without its checksum."""
    return {k: v for k, v in entry.items() if k != CHECKSUM}


def _stamped(entry: dict[str, Any]) -> dict[str, Any]:
    return {**_fields(entry), CHECKSUM: checksum(entry)}


def _dump(data: Any, sort: bool = True) -> bytes:
    text = json.dumps(data, indent=2, sort_keys=sort, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def _shown(path: Path) -> str:
    """A path as messages show it: relative to the repository when inside it."""
    with contextlib.suppress(ValueError):
        return Path(path).resolve().relative_to(REPO).as_posix()
    return str(path)


# ---- the executor --------------------------------------------------------------------

MAX_OUTPUT_LINES = 200  # a longer output is cut (the page says so)
MAX_OUTPUT_BYTES = 64_000
MAX_OUTPUT_READ = 16_000_000  # a block printing more is stopped (and fails)
_ENVIRONMENT = re.compile(r"PATH|LANG|LC_.*")  # all a block sees of the environment
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # shown as \xNN: not \t, \n
_LINUX = sys.platform.startswith("linux")

# Run the script as __main__ with fixed seeds (torch's default generator is fixed).
_BOOT = (
    "import random, runpy, sys; random.seed(0)\n"
    "try:\n    import numpy; numpy.random.seed(0)\nexcept ImportError:\n    pass\n"
    "path = sys.argv[1]; sys.argv = sys.argv[1:]; sys.path[0] = ''\n"
    "runpy.run_path(path, run_name='__main__')\n"
)

# On Linux a block runs under this launcher, a child subreaper: every process it starts
# stays below it, killed and reaped when the block ends, on SIGTERM and when the build
# dies (PR_SET_PDEATHSIG). argv: the build's pid, the boot code, the script.
_LAUNCH = r"""
import ctypes, os, signal, sys
from contextlib import suppress
prctl = ctypes.CDLL(None, use_errno=True).prctl
prctl(36, 1, 0, 0, 0)
prctl(1, signal.SIGTERM, 0, 0, 0)
def reap(*_):
    me = str(os.getpid())
    while True:
        kids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with suppress(OSError, IndexError), open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    kids.append(int(pid))
        if not kids:
            return
        for pid in kids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
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


def _cut(data: bytes) -> tuple[bytes, int]:
    """What of an output is shown (whole lines when it can) and how many lines are
    left out (0 when the cut falls inside a line: then only bytes are counted)."""
    head = bytes(data[:MAX_OUTPUT_BYTES])
    parts = head.split(b"\n", MAX_OUTPUT_LINES)
    whole = len(head) - len(parts[-1])  # the end of the first lines, up to MAX
    more = len(parts) > MAX_OUTPUT_LINES or len(head) < len(data)
    kept = head[:whole] if whole and more and whole < len(data) else head
    if len(kept) == len(data) or not kept.endswith(b"\n"):
        return kept, 0
    return kept, data.count(b"\n") - kept.count(b"\n") + (not data.endswith(b"\n"))


def run_python(
    code: str,
    timeout: float,
    name: str = "block.py",
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
) -> Run:
    """Run `code` in a fresh interpreter, in an empty temporary folder, on the CPU;
    stopped past `timeout` seconds, MAX_OUTPUT_READ bytes, or when `stop` is set."""
    start = time.perf_counter()
    remove_dead_runs(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"explainer-run-{os.getpid()}-") as tmp:
        tmp = Path(tmp)
        for sub in ("src", "work", "home", "tmp"):
            (tmp / sub).mkdir()
        script = tmp / "src" / name
        script.write_text(code, encoding="utf-8")
        environ = {
            **{k: v for k, v in os.environ.items() if _ENVIRONMENT.fullmatch(k)},
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
        out = bytearray()  # all of the output, up to MAX_OUTPUT_READ
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
                why = _watch(proc, out, timeout, stop)
            finally:  # the launcher kills the block's processes on SIGTERM; then the
                if proc.poll() is None and _LINUX:  # group (all there is elsewhere)
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(5)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    kept, lines = _cut(out)
    try:
        text, undecoded = kept.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        if exc.start >= len(kept) - 3 and len(kept) < len(out):
            kept = kept[: exc.start]  # cut inside a character: drop its start
            text, undecoded = kept.decode("utf-8"), ""
        else:
            text = kept.decode("utf-8", errors="backslashreplace")
            undecoded = (
                f"it printed bytes that are not UTF-8 (byte {exc.start} of its output: "
                f"{kept[exc.start : exc.start + 4]!r}); "
                "print text, or decode bytes first"
            )
    text, escaped = _CONTROL.subn(lambda m: f"\\x{ord(m.group()):02x}", text)
    status = None if why else proc.returncode
    error = why or (f"it exited with status {status}" if status else undecoded)
    seconds, omitted = time.perf_counter() - start, len(out) - len(kept)
    return Run(status, text, lines, seconds, timeout, error, omitted, escaped)


def _watch(proc: subprocess.Popen, out: bytearray, timeout: float, stop) -> str:
    """Read the output as it comes until the run ends: "" or why it must be stopped."""
    fd, reading, deadline = proc.stdout.fileno(), True, time.monotonic() + timeout
    while True:
        if stop is not None and stop.is_set():
            return "it was stopped: the build was interrupted"
        left = deadline - time.monotonic()
        if left <= 0:
            return f"it ran past its timeout of {timeout:g} s"
        exited = proc.poll() is not None
        if reading and select.select([fd], [], [], 0 if exited else min(left, 0.1))[0]:
            chunk = os.read(fd, 1 << 16)
            reading = bool(chunk)
            out.extend(chunk)
            if len(out) > MAX_OUTPUT_READ:
                return (
                    f"it printed more than {MAX_OUTPUT_READ / 1e6:g} MB and was "
                    f"stopped (the page shows at most {MAX_OUTPUT_LINES} lines or "
                    f"{MAX_OUTPUT_BYTES / 1e3:g} KB of it: print less)"
                )
        elif exited:
            return ""
        elif not reading:
            time.sleep(min(left, 0.05))
