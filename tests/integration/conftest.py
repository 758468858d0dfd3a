"""Shared fixtures for coffre's integration tests.

Every test gets real things: a SoftHSM2 token in its own temporary
directory (SOFTHSM2_CONF), a volume made by `coffrectl init`, and a real
FUSE mount made by the `coffre` daemon, which is always unmounted at the end
even when the test fails.  Binaries come from $COFFRE_BUILD (the meson build
directory); meson sets it when it runs this suite.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

# Mount options added to every mount of the suite (CI runs part of it
# again with max_fds=16,max_inodes=64, so that inodes are evicted, reopened
# and pruned all along).
EXTRA_OPTS = os.environ.get("COFFRE_TEST_MOUNT_OPTS", "")
BUILD = os.environ.get("COFFRE_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
COFFRE = os.path.join(BUILD, "src", "cli", "coffre")
COFFRECTL = os.path.join(BUILD, "src", "cli", "coffrectl")
USER_PIN = "1234"
SO_PIN = "5678"


def run(cmd, check=True, **kw):
    """Run a command, capturing text output; raise with its stderr on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def unescape_mount(field):
    """A path field of /proc/self/mounts or mountinfo, octal escapes undone."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]),
                              os.fsencode(field)))


def mount_points():
    with open("/proc/self/mounts") as f:
        return [unescape_mount(line.split()[1]) for line in f]


def is_mounted(path):
    return os.path.realpath(path) in mount_points()


def unmount(path):
    """Unmount, retrying while busy; lazily as a last resort."""
    for _ in range(50):
        if not is_mounted(path):
            return
        if subprocess.run(["umount", path], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", path], capture_output=True)


class Token:
    """A SoftHSM2 token in a private directory."""

    def __init__(self, root, label="coffre-test", pin=USER_PIN):
        self.dir = os.path.join(root, "hsm-" + label)
        os.makedirs(os.path.join(self.dir, "tokens"), mode=0o700)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write(f"directories.tokendir = {self.dir}/tokens\n"
                    "objectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n")
        os.environ["SOFTHSM2_CONF"] = self.conf
        self.label = label
        self.uri = f"pkcs11:token={label}"
        run(["softhsm2-util", "--init-token", "--free", "--label", label,
             "--pin", pin, "--so-pin", SO_PIN])
        self.pin_file = write_pin(os.path.join(self.dir, "pin"), pin)


def write_pin(path, pin):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pin + "\n")
    return path


class Volume:
    """A coffre volume (backing dir) and its mount point."""

    def __init__(self, root, token, segment_size=None, extra_init=()):
        self.root = root
        self.token = token
        self.backing = os.path.join(root, "backing")
        self.mnt = os.path.join(root, "mnt")
        self.log = os.path.join(root, "coffre.log")
        os.makedirs(self.mnt)
        cmd = [COFFRECTL, "init", "--hsm", token.uri, "--pin-file", token.pin_file]
        if segment_size:
            cmd += ["--segment-size", str(segment_size)]
        run(cmd + list(extra_init) + [self.backing])
        self.segment_size = segment_size or 16384

    def mount(self, opts="", pin_file=None, check=True):
        o = f"pin_file={pin_file or self.token.pin_file},log_file={self.log}"
        if EXTRA_OPTS:
            o += "," + EXTRA_OPTS
        if opts:
            o += "," + opts
        p = run([COFFRE, self.backing, self.mnt, "-o", o], check=False)
        if check:
            assert p.returncode == 0, f"mount failed: {p.stderr}"
            assert is_mounted(self.mnt)
        return p

    def unmount(self):
        unmount(self.mnt)

    def remount(self, opts=""):
        self.unmount()
        self.mount(opts)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def backing_of(self, plain_path):
        """The ciphertext path of a mounted file (same inode number)."""
        ino = os.lstat(plain_path).st_ino
        for dirpath, dirnames, filenames in os.walk(self.backing):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                if os.lstat(p).st_ino == ino:
                    return p
        raise FileNotFoundError(plain_path)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="coffre-it-")
    os.chmod(d, 0o755)   # other users must reach the mount point
    saved = os.environ.get("SOFTHSM2_CONF")
    yield d
    for mp in [p for p in mount_points() if p.startswith(d)]:
        unmount(mp)
    if saved is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def token(workdir):
    return Token(workdir)


@pytest.fixture
def volume(workdir, token):
    """A fresh volume, not mounted."""
    return Volume(workdir, token)


@pytest.fixture
def mounted(volume):
    """A fresh volume, mounted; always unmounted afterwards."""
    volume.mount()
    try:
        yield volume
    finally:
        volume.unmount()


def wait_released(volume, timeout=10.0):
    """Wait until no daemon holds the volume lock (.coffre/lock) any more.

    `umount` returns as soon as the kernel lets go of the mount; the daemon
    then winds down on its own.  Tests that tamper with the backing dir, or
    that must not trip over that window, call this after unmounting."""
    import fcntl
    lock = os.path.join(volume.backing, ".coffre", "lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{lock} still locked {timeout}s after unmount")
        finally:
            os.close(fd)
        time.sleep(0.02)

