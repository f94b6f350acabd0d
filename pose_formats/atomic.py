"""Write-then-rename, so an interrupted run never leaves a truncated file that a later step reads as whole."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Yield a file object for a temporary file beside `path`; rename it to `path` on success only."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; results are ordinary files
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
