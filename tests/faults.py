"""Helpers for the fault tests (tests/test_faults_*.py, docs/faults.md): a command run with a full disk
or with a read-only folder, and the checks every fault must pass (one line, no traceback, no debris)."""
import fcntl
import os
import resource
import shutil
import subprocess
import time

import pytest

from conftest import REPO, VENV
from pose_formats.atomic import LOCK_NAME

# Written files stop growing here: writes past it fail as on a full disk (Python ignores SIGXFSZ, so
# the write returns EFBIG instead of killing the process).
FULL_DISK_BYTES = 1024


def venv_env():
    """The environment of a command run as after `. .venv/bin/activate` (caffe, python3 from the venv)."""
    return {**os.environ, "PATH": os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"]}


def run(args, full_disk=False, read_only=None):
    """Run a command from the repo root with the venv first on PATH; full_disk: writes past
    FULL_DISK_BYTES fail; read_only: a folder the command sees read-only (for root, whom file modes do
    not stop, a read-only bind mount in a private mount namespace)."""
    args = [str(a) for a in args]
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (FULL_DISK_BYTES, FULL_DISK_BYTES))) \
        if full_disk else None
    if read_only is not None:
        if os.geteuid() != 0:
            os.chmod(read_only, 0o555)
        elif shutil.which("unshare") and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0:
            args = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(read_only), *args]
        else:
            pytest.skip("running as root without unshare -m: no way to make a folder read-only")
    try:
        return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=venv_env(), timeout=900,
                              preexec_fn=limit)
    finally:
        if read_only is not None and os.geteuid() != 0:
            os.chmod(read_only, 0o755)


def assert_one_line_error(done, *named):
    """Failed with one line on stderr, no traceback, naming each of `named`."""
    assert done.returncode != 0, done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for name in named:
        assert str(name) in done.stderr, (name, done.stderr)


def hidden_debris(folder):
    """Temporary files and folders left in `folder` (the lock file is not debris)."""
    return sorted(n for n in os.listdir(folder) if n.startswith(".") and n != LOCK_NAME)


def wait_until_unlocked(folder, seconds=60):
    """Wait until no process holds the lock of `folder`: after a SIGKILL of a process group the group
    leader is reaped first, and its children (which hold the lock too) close it a moment later."""
    deadline = time.time() + seconds
    with open(os.path.join(folder, LOCK_NAME), "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.time() > deadline:
                    raise AssertionError(f"{folder}: still locked {seconds} s after its run was killed")
                time.sleep(0.1)
