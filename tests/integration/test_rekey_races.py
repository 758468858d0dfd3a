"""`coffrectl key rekey` racing the users of the files it re-encrypts.

A re-key copies a file under its new key and swaps the copy in, while the
volume is mounted and in use.  Whatever users do to the file meanwhile
(open and write it, save a new version over it, chmod, utime, setxattr)
must be what the file holds afterwards.  The targeted tests act while the
re-key's copy exists (its temp file is in the backing directory), which
is when the races were; the last test runs re-keys in a loop against a
mixed workload and checks every file's final state after a remount.
"""
import errno
import os
import random
import stat
import subprocess
import threading
import time

from conftest import COFFRECTL, run

BIG = 32 << 20     # a copy long enough to act during it


def ctl(*args, check=True):
    return run([COFFRECTL] + list(args), check=check)


def pattern(tag, size):
    block = (tag * (4096 // len(tag) + 1))[:4096]
    return (block * (size // 4096 + 1))[:size]


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def rekey_during(vol, d, action, timeout=120):
    """Run `key rekey d`; call action() once the re-key's copy exists."""
    bdir = vol.backing_of(d)
    p = subprocess.Popen([COFFRECTL, "key", "rekey", d], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not any(n.startswith(".coffre.rekey.") for n in os.listdir(bdir)):
        assert p.poll() is None, ("the re-key ended before its copy was seen",
                                  p.communicate())
        assert time.monotonic() < deadline, "no re-key copy appeared"
        time.sleep(0.0005)
    try:
        action()
    finally:
        out, err = p.communicate(timeout=timeout)
    assert not [n for n in os.listdir(bdir) if n.startswith(".coffre.rekey.")]
    return p.returncode, out, err


def old_key_file(vol, name, data, remount=True):
    """dir/name holding data under a key the directory has rotated away
    from; remounted (nothing cached) unless told otherwise."""
    d = vol.path("dir")
    os.makedirs(d, exist_ok=True)
    put(os.path.join(d, name), data)
    ctl("key", "rotate", d)
    if remount:
        vol.remount()
    return d


def test_write_to_an_uncached_file_during_its_rekey_is_kept(mounted):
    """Race 1: the kernel holds no inode for the file when its re-key
    starts; an open and write during the copy must reach the new file."""
    data = pattern(b"old", BIG)
    d = old_key_file(mounted, "f", data)
    f = os.path.join(d, "f")

    def write():
        with open(f, "r+b") as h:
            h.write(b"WRITTEN DURING THE RE-KEY")

    rc, out, err = rekey_during(mounted, d, write)
    assert rc == 0, (out, err)
    mounted.remount()
    got = read(mounted.path("dir", "f"))
    assert len(got) == BIG
    assert got[:25] == b"WRITTEN DURING THE RE-KEY", "the write was lost"
    assert got[25:] == data[25:]


def test_save_by_rename_during_rekey_is_kept(mounted):
    """Race 3: an editor's save (write a temp file, rename it over the name)
    during the copy: the re-key must not put its copy of the old file back."""
    d = old_key_file(mounted, "f", pattern(b"old", BIG), remount=False)
    f = os.path.join(d, "f")

    def save():
        put(f + ".new", b"the saved version")
        os.rename(f + ".new", f)

    rc, out, err = rekey_during(mounted, d, save)
    assert rc == 0, (out, err)
    assert read(f) == b"the saved version"
    mounted.remount()
    assert read(mounted.path("dir", "f")) == b"the saved version", \
        "the re-key's copy replaced the saved file"


def test_metadata_changes_during_rekey_are_kept(mounted):
    """Race 4: chmod, utime and setxattr during the copy are not reverted
    by the swap, and the xattr reads back under the file's new key."""
    d = old_key_file(mounted, "f", pattern(b"old", BIG), remount=False)
    f = os.path.join(d, "f")
    os.chmod(f, 0o600)
    os.setxattr(f, "user.tag", b"before")
    times = (1_000_000_000 * 1_500_000_000, 1_000_000_000 * 1_600_000_000)

    def change():
        os.chmod(f, 0o644)
        os.utime(f, ns=times)
        os.setxattr(f, "user.tag", b"during")

    rc, out, err = rekey_during(mounted, d, change)
    assert rc == 0, (out, err)
    mounted.remount()
    f = mounted.path("dir", "f")
    st = os.stat(f)
    assert stat.S_IMODE(st.st_mode) == 0o644, "chmod reverted"
    assert st.st_mtime_ns == times[1], "utime reverted"
    assert os.getxattr(f, "user.tag") == b"during"


def test_xattrs_set_all_through_a_rekey_are_kept(mounted):
    """Race 4 (xattrs): setxattr in a loop for as long as the re-key's copy
    exists; the last value set is the one kept, readable under the new
    key."""
    d = old_key_file(mounted, "f", pattern(b"old", BIG), remount=False)
    f = os.path.join(d, "f")
    bdir = mounted.backing_of(d)
    last = [None]

    def loop():
        n = 0
        while any(x.startswith(".coffre.rekey.") for x in os.listdir(bdir)):
            last[0] = b"value %d" % n
            os.setxattr(f, "user.tag", last[0])
            n += 1

    rc, out, err = rekey_during(mounted, d, loop)
    assert rc == 0, (out, err)
    assert last[0] is not None
    assert os.getxattr(f, "user.tag") == last[0]
    mounted.remount()
    assert os.getxattr(mounted.path("dir", "f"), "user.tag") == last[0]


def test_a_file_being_created_is_left_alone(mounted):
    """A file met between its creation and its header (empty in the backing
    directory) holds nothing to re-encrypt: the re-key passes it by rather
    than failing the command."""
    d = old_key_file(mounted, "f", b"old", remount=False)
    put(os.path.join(d, "new"), b"")
    os.truncate(mounted.backing_of(os.path.join(d, "new")), 0)
    out = ctl("key", "rekey", d).stdout
    assert "re-encrypted 1 file" in out


def drop_caches():
    """Make the kernel forget unused inodes (so the daemon's go too)."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def test_rekeys_in_a_loop_against_writers_savers_and_chmods(mounted):
    """Rotate and re-key a directory over and over while its files are
    rewritten in place, saved over by rename, chmodded, utimed and given
    xattrs, and the kernel is made to forget them: after a remount every
    file is exactly what was last done to it."""
    d = mounted.path("dir")
    os.mkdir(d)
    names = [f"f{k}" for k in range(8)]
    rng = random.Random(1234)
    want = {}
    for n in names:
        want[n] = {"data": pattern(n.encode(), rng.randrange(1, 4) << 20),
                   "mode": 0o600, "mtime": None, "xattr": None}
        put(os.path.join(d, n), want[n]["data"])
    mounted.remount()
    stop = threading.Event()
    errors, rekeys = [], [0]

    def rekeyer():
        while not stop.is_set():
            p = run([COFFRECTL, "key", "rotate", d], check=False)
            if p.returncode == 0:
                p = run([COFFRECTL, "key", "rekey", d], check=False)
            if p.returncode != 0:
                errors.append(p.stderr + mounted.log_text()[-2000:])
                return
            rekeys[0] += 1

    def forgetter():
        while not stop.wait(0.3):
            drop_caches()

    threads = [threading.Thread(target=rekeyer), threading.Thread(target=forgetter)]
    for t in threads:
        t.start()
    ops = 0
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline and not errors:
            n = rng.choice(names)
            f = os.path.join(d, n)
            w = want[n]
            op = rng.randrange(5)
            if op == 0:                        # rewrite in place
                tag = b"%s-%d" % (n.encode(), ops)
                pos = rng.randrange(len(w["data"]))
                with open(f, "r+b") as h:
                    h.seek(pos)
                    h.write(tag)
                w["data"] = w["data"][:pos] + tag + w["data"][pos + len(tag):]
                w["mtime"] = None
            elif op == 1:                      # save over it by rename
                data = pattern(b"%s-saved-%d" % (n.encode(), ops),
                               rng.randrange(1, 4) << 20)
                put(f + ".tmp", data)
                os.chmod(f + ".tmp", 0o600)
                os.rename(f + ".tmp", f)
                w.update(data=data, mode=0o600, mtime=None, xattr=None)
            elif op == 2:
                w["mode"] = rng.choice([0o600, 0o640, 0o644, 0o604])
                os.chmod(f, w["mode"])
            elif op == 3:
                w["mtime"] = 1_000_000_000 * rng.randrange(1_000_000_000, 1_700_000_000)
                os.utime(f, ns=(w["mtime"], w["mtime"]))
            else:
                w["xattr"] = b"x%d" % ops
                os.setxattr(f, "user.tag", w["xattr"])
            ops += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    assert not errors, errors[:3]
    assert rekeys[0] >= 3, rekeys
    mounted.remount()
    bad = []
    for n in names:
        f = mounted.path("dir", n)
        w = want[n]
        st = os.stat(f)
        if read(f) != w["data"]:
            bad.append((n, "data"))
        if stat.S_IMODE(st.st_mode) != w["mode"]:
            bad.append((n, "mode", oct(st.st_mode), oct(w["mode"])))
        if w["mtime"] is not None and st.st_mtime_ns != w["mtime"]:
            bad.append((n, "mtime"))
        try:
            x = os.getxattr(f, "user.tag")
        except OSError as e:
            x = None if e.errno == errno.ENODATA else e
        if x != w["xattr"]:
            bad.append((n, "xattr", x, w["xattr"]))
    assert not bad, (bad, ops, rekeys[0])
    assert not [n for n in os.listdir(mounted.backing_of(d))
                if n.startswith(".coffre.rekey.")]
