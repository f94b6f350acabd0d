"""Write-then-rename, so an interrupted run never leaves a truncated file that a later step reads as
whole; a lock per output folder, so two runs never write into one folder at once."""
import contextlib
import errno
import fcntl
import glob
import os
import shutil
import tempfile

# The lock file of an output folder; tools/test_all.sh takes the same one with flock(1).
LOCK_NAME = ".hpm3d.lock"


def _naming(e, path):
    """OSError e with `path` as its file name: a failed write or close (a full disk) names none."""
    if isinstance(e, OSError) and not e.filename:
        return OSError(e.errno, e.strerror or str(e), path)
    return e


def _temporary(path):
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None   # the temporary name would puzzle the user
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; results are ordinary files
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Yield a file object for a temporary file beside `path`; rename it to `path` on success only."""
    with atomic_write_set([path], mode) as (f,):
        yield f


@contextlib.contextmanager
def atomic_write_set(paths, mode="w"):
    """Yield file objects for temporary files beside `paths`; when all are written, rename them to
    `paths` (renames, which need no space, follow each other at once). On any failure no path
    changes and the temporary files are removed, so a set of files is never half new."""
    temporaries, files = [], []
    try:
        for path in paths:
            fd, tmp = _temporary(path)
            temporaries.append((tmp, path))
            files.append(os.fdopen(fd, mode))
        yield files
        for f, (_, path) in zip(files, temporaries):
            try:
                f.close()   # flushes: a full disk shows here
            except OSError as e:
                raise _naming(e, path) from None
        for tmp, path in temporaries:
            os.replace(tmp, path)
    except BaseException as e:
        for f in files:
            with contextlib.suppress(OSError):
                f.close()
        for tmp, _ in temporaries:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        # a write inside the block that failed for space names no file either
        raise _naming(e, ", ".join(map(str, paths))) from None


def check_writable(directory):
    """OSError naming `directory` unless a file can be created in it (before a long computation
    whose results would go there)."""
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise OSError(e.errno, f"cannot write results here ({e.strerror})", directory) from None
    os.close(fd)
    os.unlink(tmp)


@contextlib.contextmanager
def folder_lock(directory, tool):
    """Hold the output folder's lock for the block; OSError naming the folder if another run holds
    it. Under the lock, temporary files left in the folder by killed runs are stale: removed."""
    check_writable(directory)
    path = os.path.join(directory, LOCK_NAME)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(errno.EBUSY, "in use by another run (tools/test_all.sh, pred_v2.py or eval_h36m.py, lock "
                          f"{LOCK_NAME}); wait for it to end or choose another folder", directory) from None
        for stale in glob.glob(os.path.join(glob.escape(directory), ".*.tmp")):
            # atomic_write's temporaries and tools/test_all.sh's work folders
            (shutil.rmtree if os.path.isdir(stale) else os.unlink)(stale)
        yield
