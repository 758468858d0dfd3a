"""The backing dir and the bucket are hostile (issue 10): a FIFO, socket,
device, directory or symlink planted at any name coffre itself opens
(config, directory files, key records, escrow, journal, manifest, lock,
the state directory, the bucket's marker and manifest, an entry) while the
volume is unmounted never stalls the mount or the daemon, never sends it
outside the backing dir, and never makes a file read anything but its
true bytes or EIO.

Each case copies one populated template volume (backing dir and bucket),
plants one thing, then mounts under a time limit, walks and reads the
whole tree under a time limit, and unmounts; a canary directory outside,
which every planted symlink points into, must stay untouched.  Every
(name, kind) pair runs (about 10 s); COFFRE_HOSTILE_CASES=N runs a seeded
sample of N.

Known limit of format 1, closed by format 2 (DESIGN.md, issue 10): a FIFO
or device planted in place of a file's ciphertext shows through the mount
as a FIFO or device (format 1 stores plaintext special files as such), so
a reader that opens it blocking waits; the daemon itself never does."""
import os
import random
import shutil
import socket
import stat
import subprocess

import pytest

from conftest import (COFFRE, COFFRECTL, Volume, conf_name, conf_path, is_mounted,
                      remove_confs_under, run, unmount, volume_uuid, write_conf)

KINDS = ["fifo", "socket", "chardev", "dir", "symlink"]
TRUE = {"keep.txt": b"keep me " * 500, "sub/deep.bin": bytes(range(256)) * 300}
LIMIT = 30          # seconds for a mount, a walk, an unmount


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A populated volume with a bucket, synced and unmounted; returns
    (root, token, names) where names maps a label to a path under root."""
    from conftest import Token
    saved = os.environ.get("SOFTHSM2_CONF")
    root = str(tmp_path_factory.mktemp("hostile"))
    os.chmod(root, 0o755)
    token = Token(root)
    bucket = os.path.join(root, "bucket")
    os.mkdir(bucket)
    vol = Volume(root, token, extra_init=["--bucket", bucket, "--shares-dir",
                                          os.path.join(root, "shares")])
    vol.mount()
    try:
        os.makedirs(vol.path("sub"))
        for rel, data in TRUE.items():
            with open(vol.path(rel), "wb") as f:
                f.write(data)
        os.symlink("keep.txt", vol.path("link"))
        os.symlink("x" * 3500, vol.path("long"))     # a target in a sidecar
        run([COFFRECTL, "sync", vol.mnt, "--timeout", "60"])
        entry = os.path.relpath(vol.backing_of(vol.path("keep.txt")), vol.backing)
        subdir = os.path.relpath(vol.backing_of(vol.path("sub")), vol.backing)
    finally:
        vol.unmount()
    b = vol.backing
    keyrecs = sorted(os.listdir(os.path.join(b, ".coffre", "keys")))
    names = {
        "conf": "backing/.coffre.conf",
        "rootdir": "backing/.coffre.dir",
        "subdir": f"backing/{subdir}/.coffre.dir",
        "state": "backing/.coffre",
        "keys": "backing/.coffre/keys",
        "keyrec": f"backing/.coffre/keys/{keyrecs[0]}",
        "journal": "backing/.coffre/journal",
        "manifest": "backing/.coffre/manifest",
        "lock": "backing/.coffre/lock",
        "entry": f"backing/{entry}",
        "marker": "bucket/.coffre.bucket",
        "bucket_manifest": "bucket/.coffre.manifest",
    }
    for d in ("escrow", "symlinks"):
        p = os.path.join(b, ".coffre", d)
        names[d] = f"backing/.coffre/{d}/{sorted(os.listdir(p))[0]}"
    yield root, token, names
    remove_confs_under(root)
    if saved is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved
    shutil.rmtree(root, ignore_errors=True)


def cases():
    pairs = [(n, k) for n in ["conf", "rootdir", "subdir", "state", "keys", "keyrec",
                              "journal", "manifest", "lock", "entry", "marker",
                              "bucket_manifest", "escrow", "symlinks"]
             for k in KINDS]
    want = int(os.environ.get("COFFRE_HOSTILE_CASES", "0"))
    if want and want < len(pairs):
        pairs = random.Random(10).sample(pairs, want)
    return pairs


def plant(path, kind, outside):
    """Replace whatever is at path by kind (a symlink points outside)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        cwd = os.getcwd()              # sun_path holds 108 bytes: bind relative
        os.chdir(os.path.dirname(path))
        try:
            s = socket.socket(socket.AF_UNIX)
            s.bind(os.path.basename(path))
            s.close()
        finally:
            os.chdir(cwd)
    elif kind == "chardev":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))   # /dev/null
    elif kind == "dir":
        os.mkdir(path)
    else:
        os.symlink(outside, path)


def snapshot(d):
    out = {}
    for dp, dns, fns in os.walk(d):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            data = open(p, "rb").read() if stat.S_ISREG(st.st_mode) else b""
            out[os.path.relpath(p, d)] = (st.st_mode, st.st_uid, st.st_size, data)
    return out


# Reads every regular file; a planted FIFO or device shows through as one
# in format 1 (format 2 stores only regular files and directories): it is
# opened non-blocking and not read, so the walk itself never waits on it.
WALK = r"""
import os, stat, sys
root, out = sys.argv[1], {}
for dp, dns, fns in os.walk(root):
    for n in fns:
        p = os.path.join(dp, n)
        if os.path.islink(p):
            try:
                out["readlink:" + os.path.relpath(p, root)] = os.readlink(p).encode().hex()
            except OSError as e:
                out["readlink:" + os.path.relpath(p, root)] = "errno:%d" % e.errno
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    data = b""
                    while True:
                        b = os.read(fd, 1 << 16)
                        if not b:
                            break
                        data += b
                    out[os.path.relpath(p, root)] = data.hex()
                else:
                    out[os.path.relpath(p, root)] = "type"
            finally:
                os.close(fd)
        except OSError as e:
            out[os.path.relpath(p, root)] = "errno:%d" % e.errno
print(repr(out))
"""


def new_case(template, tmp_path, victim):
    """A copy of the template's backing dir and bucket under tmp_path, and
    a canary directory outside holding the file victim (its text).
    Returns (case, outside, snapshot of outside)."""
    root, token, _ = template
    os.environ["SOFTHSM2_CONF"] = token.conf
    case = str(tmp_path)
    os.chmod(case, 0o755)
    for d in ("backing", "bucket"):
        shutil.copytree(os.path.join(root, d), os.path.join(case, d), symlinks=True)
    outside = os.path.join(case, "outside")
    os.makedirs(os.path.join(outside, "keys"))
    with open(os.path.join(outside, "victim"), "w") as f:
        f.write(victim)
    os.chmod(os.path.join(outside, "victim"), 0o644)
    return case, outside, snapshot(outside)


@pytest.mark.parametrize("name,kind", cases())
def test_planted_object_never_stalls_or_misleads(template, tmp_path, name, kind):
    root, token, names = template
    case, outside, before = new_case(template, tmp_path, "victim")
    target = outside if kind == "symlink" and name in ("state", "keys") else \
        os.path.join(outside, "victim")
    plant(os.path.join(case, names[name]), kind, target)
    mnt = os.path.join(case, "mnt")
    os.mkdir(mnt)
    log = os.path.join(case, "coffre.log")
    # The template's uuid: the case's own config may be the planted object.
    conf = write_conf(conf_name("hostile"), os.path.join(case, "backing"), [token.uri],
                      uuid=volume_uuid(os.path.join(root, "backing")))
    try:
        p = subprocess.run([COFFRE, os.path.join(case, "backing"), mnt, "-o",
                            f"conf={conf},pin_file={token.pin_file},log_file={log},"
                            f"bucket={os.path.join(case, 'bucket')}"],
                           capture_output=True, text=True, timeout=LIMIT)
        print(f"{name}/{kind}: mount rc {p.returncode}: {p.stderr.strip()[:120]}")
        if p.returncode == 0:
            assert is_mounted(mnt)
            w = subprocess.run(["python3", "-c", WALK, mnt], capture_output=True,
                               text=True, timeout=LIMIT)
            got = eval(w.stdout) if w.returncode == 0 else {}
            print(f"  walk: " + ", ".join(f"{k}={v[:12]}" for k, v in sorted(got.items())))
            for rel, data in list(TRUE.items()) + [("readlink:long", b"x" * 3500),
                                                   ("readlink:link", b"keep.txt")]:
                if rel in got and got[rel] != "type" and not got[rel].startswith("errno:"):
                    assert bytes.fromhex(got[rel]) == data, f"{rel} read wrong bytes"
            # The daemon still answers (nothing stalled it).
            subprocess.run([COFFRECTL, "status", mnt], capture_output=True,
                           timeout=LIMIT)
        else:
            assert p.stderr.strip() or open(log).read().strip(), \
                "refused without saying why"
    finally:
        if is_mounted(mnt):
            # A stalled daemon would hold the unmount: end it first.
            subprocess.run(["pkill", "-KILL", "-f", f"coffre {case}/backing"],
                           capture_output=True)
            unmount(mnt)
        os.unlink(conf_path(conf))
    assert snapshot(outside) == before, "something outside the backing dir changed"


@pytest.mark.parametrize("target", ["@../../../outside/victim", "@../keys",
                                    "@" + "0" * 31 + "/", "@" + "A" * 32,
                                    "@" + "0" * 33, "@/etc/passwd"])
def test_sidecar_id_never_leaves_its_folder(template, tmp_path, target):
    """Issue 10, case 2: the id after '@' in a backing symlink names a
    sidecar under .coffre/symlinks; one that is not exactly 32 lowercase
    hex is refused (EIO), so readlink, lstat and unlink of the plaintext
    link never reach, size or delete a file outside that folder."""
    root, token, names = template
    case, outside, before = new_case(template, tmp_path, "victim" * 1000)
    # the backing symlink whose target is "@<sidecar id>": point it elsewhere
    back = os.path.join(case, "backing")
    links = [os.path.join(d, n) for d, _, ns in os.walk(back) for n in ns
             if os.path.islink(os.path.join(d, n)) and
             os.readlink(os.path.join(d, n)).startswith("@")]
    assert len(links) == 1, links
    os.unlink(links[0])
    os.symlink(target, links[0])
    mnt = os.path.join(case, "mnt")
    os.mkdir(mnt)
    conf = write_conf(conf_name("sidecar"), back, [token.uri])
    try:
        subprocess.run([COFFRE, back, mnt, "-o",
                        f"conf={conf},pin_file={token.pin_file},"
                        f"bucket={os.path.join(case, 'bucket')}"],
                       check=True, capture_output=True, timeout=LIMIT)
        with pytest.raises(OSError) as e:
            os.readlink(os.path.join(mnt, "long"))
        assert e.value.errno == 5
        st = os.lstat(os.path.join(mnt, "long"))
        assert st.st_size != 6000                      # the victim's size never shows
        try:
            os.unlink(os.path.join(mnt, "long"))
        except OSError:
            pass
        assert open(os.path.join(mnt, "keep.txt"), "rb").read() == TRUE["keep.txt"]
    finally:
        if is_mounted(mnt):
            unmount(mnt)
        os.unlink(conf_path(conf))
    assert snapshot(outside) == before, "a file outside was read, changed or removed"
