"""Shared fixtures for coffre's integration tests.

Every test gets real things: a SoftHSM2 token in its own temporary
directory (SOFTHSM2_CONF), a volume made by `coffrectl init` with its mount
configuration, and a real FUSE mount made by the `coffre` daemon through
that configuration (-o conf=NAME), which is always unmounted at the end
even when the test fails.  Binaries come from $COFFRE_BUILD (the meson
build directory; meson sets it when it runs this suite): the tests/bin
pair, built to read their mount configurations from CONFDIR inside the
build tree, so that the suite never writes into /etc/coffre.  Every
configuration a test leaves there is removed with its work directory.
"""
import contextlib
import json
import os
import re
import secrets
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
# The programs built with the build tree's configuration directory
# (tests/bin/meson.build), never /etc/coffre.
COFFRE = os.path.join(BUILD, "tests", "bin", "coffre")
COFFRECTL = os.path.join(BUILD, "tests", "bin", "coffrectl")
CONFDIR = os.path.join(os.path.realpath(BUILD), "tests", "etc-coffre")
USER_PIN = "1234"
SO_PIN = "5678"


def run(cmd, check=True, **kw):
    """Run a command, capturing text output; raise with its stderr on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ctl_status(mnt, as_json=False, **kw):
    """`coffrectl status MNT [--json]` of a mount that answers: its output
    (parsed with as_json); the exit status (0 healthy, 1 degraded,
    2 failing) says how it is, so any of those passes."""
    p = run([COFFRECTL, "status", mnt] + (["--json"] if as_json else []),
            check=False, **kw)
    assert p.returncode in (0, 1, 2), f"status failed ({p.returncode}): {p.stderr}"
    return json.loads(p.stdout) if as_json else p.stdout


def conf_name(prefix="it"):
    """A fresh mount configuration name ([a-z0-9][a-z0-9_-]{0,63})."""
    return f"{prefix}-{secrets.token_hex(6)}"


def conf_path(name):
    return os.path.join(CONFDIR, name + ".conf")


def volume_uuid(backing):
    """The uuid line of a backing dir's .coffre.conf (unauthenticated)."""
    with open(os.path.join(backing, ".coffre.conf")) as f:
        for line in f:
            if line.startswith("uuid = "):
                return line.split(" = ", 1)[1].strip()
    raise AssertionError(f"no uuid in {backing}/.coffre.conf")


def write_conf(name, backing, hsms, pin_file=None, bucket=None, uuid=None,
               mode=0o600):
    """Write CONFDIR/NAME.conf by hand (doc/FORMAT.md §10.2), as root would:
    backing (made absolute), the volume's uuid (read from its config unless
    given), the HSM URIs in order, optional pin_file and bucket."""
    os.makedirs(CONFDIR, mode=0o700, exist_ok=True)
    lines = [f"backing = {os.path.realpath(backing)}",
             f"uuid = {uuid or volume_uuid(backing)}"]
    lines += [f"hsm = {u}" for u in hsms]
    if pin_file:
        lines.append(f"pin_file = {os.path.realpath(pin_file)}")
    if bucket:
        lines.append(f"bucket = {os.path.realpath(bucket)}")
    path = conf_path(name)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return name


def conf_for(backing):
    """The name of the mount configuration whose backing is this directory."""
    want = os.path.realpath(backing)
    for n in sorted(os.listdir(CONFDIR)) if os.path.isdir(CONFDIR) else []:
        if not n.endswith(".conf"):
            continue
        with open(os.path.join(CONFDIR, n), errors="replace") as f:
            if f"\nbacking = {want}\n" in "\n" + f.read():
                return n[:-len(".conf")]
    raise AssertionError(f"no mount configuration for {backing}")


def remove_confs_under(root):
    """Remove every mount configuration whose backing is under root."""
    if not os.path.isdir(CONFDIR):
        return
    root = os.path.realpath(root)
    for n in os.listdir(CONFDIR):
        p = os.path.join(CONFDIR, n)
        try:
            with open(p, errors="replace") as f:
                text = f.read()
        except (IsADirectoryError, PermissionError, OSError):
            continue
        m = re.search(r"^backing = (.*)$", text, re.M)
        if m and (m[1] == root or m[1].startswith(root + "/")):
            os.unlink(p)


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
    """A coffre volume (backing dir), its mount configuration and its mount
    point."""

    def __init__(self, root, token, segment_size=None, extra_init=(), conf=None):
        self.root = root
        self.token = token
        self.backing = os.path.join(root, "backing")
        self.mnt = os.path.join(root, "mnt")
        self.log = os.path.join(root, "coffre.log")
        self.conf = conf or conf_name()
        os.makedirs(self.mnt)
        cmd = [COFFRECTL, "init", "--conf", self.conf, "--hsm", token.uri,
               "--pin-file", token.pin_file]
        if segment_size:
            cmd += ["--segment-size", str(segment_size)]
        run(cmd + list(extra_init) + [self.backing])
        self.segment_size = segment_size or 16384

    def mount_opts(self, opts="", pin_file=None, conf=True):
        o = f"pin_file={pin_file or self.token.pin_file},log_file={self.log}"
        if conf:
            o = f"conf={self.conf}," + o
        if EXTRA_OPTS:
            o += "," + EXTRA_OPTS
        if opts:
            o += "," + opts
        return o

    def conf_without_pin(self):
        """A second mount configuration of this volume with no pin_file line
        (the PIN then comes from pin_file= or a systemd credential)."""
        return write_conf(conf_name("nopin"), self.backing, [self.token.uri])

    def mount(self, opts="", pin_file=None, check=True, conf=True):
        p = run([COFFRE, self.backing, self.mnt, "-o",
                 self.mount_opts(opts, pin_file, conf)], check=False)
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


@contextlib.contextmanager
def coffre_on_default_path():
    """mount(8) hands its helpers an environment without PATH, so the shell
    of mount.fuse3 looks `coffre` up in its default path: a symlink to the
    tests' coffre there for the length of the block (only if none is
    installed)."""
    sys_link = "/usr/local/sbin/coffre"
    made_link = False
    if not os.path.lexists(sys_link):
        os.symlink(os.path.realpath(COFFRE), sys_link)
        made_link = True
    try:
        yield
    finally:
        if made_link:
            os.unlink(sys_link)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="coffre-it-")
    os.chmod(d, 0o755)   # other users must reach the mount point
    saved = os.environ.get("SOFTHSM2_CONF")
    yield d
    for mp in [p for p in mount_points() if p.startswith(d)]:
        unmount(mp)
    remove_confs_under(d)
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

