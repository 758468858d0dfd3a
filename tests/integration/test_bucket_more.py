"""More replication sessions: metadata of hard-linked files, a bucket that
is an rclone mount, an outage (read-only bucket) during writes, metadata-only
changes, a large renamed tree, tampering found by verify (an older copy
of one object, a bucket rolled back as a whole), and a long outage whose
backlog stays on disk (daemon memory bounded)."""
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import threading
import time

import pytest

from conftest import COFFRECTL, Volume, is_mounted, run, unmount, wait_released
from test_bucket import make_volume, status, sync
from test_verify import (Restored, assert_reported, populate, problems, restore,
                         snapshot, verify)


# ---- reading the bucket's manifest (doc/FORMAT-v1.md §11; the MAC is the
# daemon's business, here we only look at what it wrote)

def parse_manifest(path):
    """backing relpath -> entry dict, from a manifest file."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:4] == b"CFRM" and b[4] == 1
    gen, count = struct.unpack(">QQ", b[24:40])
    off, out = 40, {}
    for _ in range(count):
        (n,) = struct.unpack(">H", b[off:off + 2])
        p = b[off + 2:off + 2 + n].decode()
        off += 2 + n
        typ, mode, uid, gid, msec, mnsec, size, ino, rdev = \
            struct.unpack(">BIIIqIQQQ", b[off:off + 49])
        off += 49 + 32
        (t,) = struct.unpack(">H", b[off:off + 2])
        off += 2 + t
        (nx,) = struct.unpack(">H", b[off:off + 2])
        off += 2
        xattrs = {}
        for _ in range(nx):
            ln = b[off]
            name = b[off + 1:off + 1 + ln]
            off += 1 + ln
            (vl,) = struct.unpack(">I", b[off:off + 4])
            xattrs[name] = b[off + 4:off + 4 + vl]
            off += 4 + vl
        out[p] = {"type": typ, "mode": mode, "uid": uid, "gid": gid,
                  "mtime": msec * 10**9 + mnsec, "size": size, "ino": ino,
                  "xattrs": xattrs}
    assert len(b) == off + 32, "trailing bytes in the manifest"
    out["__generation__"] = gen
    return out


def manifest_of(bucket):
    return parse_manifest(os.path.join(bucket, ".coffre.manifest"))


def by_ino(man, ino):
    return {p: e for p, e in man.items() if p != "__generation__" and e["ino"] == ino}


def objects(root):
    """Regular files and directories under root (a bucket or a backing dir),
    without the root's .coffre* (marker, manifest, conf, key records);
    fifos, symlinks... have no bucket object."""
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            mode = os.lstat(p).st_mode
            if not rel.startswith(".coffre") and (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                out.add(rel)
    return out


def backing_objects(vol):
    return objects(vol.backing)


def contents(root):
    """relative path -> sha256 of every regular file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def assert_mirrors(vol, bucket):
    """The bucket holds the backing dir's ciphertext byte for byte."""
    back = {k: v for k, v in contents(vol.backing).items()    # FORMAT §11
            if k != ".coffre/lock" and not k.startswith((".coffre/journal", ".coffre/manifest"))}
    mirror = {k: v for k, v in contents(bucket).items()
              if k not in (".coffre.bucket", ".coffre.manifest")}
    assert back == mirror
    assert backing_objects(vol) == objects(bucket)


def fresh_snapshot(vol):
    """What a fresh mount of the (unmounted) volume shows."""
    wait_released(vol)
    vol.mount()
    try:
        return snapshot(vol.mnt)
    finally:
        vol.unmount()
        wait_released(vol)


def restored_snapshot(workdir, token, bucket, name="restored"):
    target = os.path.join(workdir, name)
    p = restore(token, bucket, target)
    assert p.returncode == 0, p.stdout + p.stderr
    r = Restored(workdir, token, target)
    r.mount()
    try:
        return snapshot(r.mnt)
    finally:
        r.unmount()


# ---- 1. hard links: metadata belongs to the inode, every name is refreshed

def test_metadata_change_on_one_hard_link_refreshes_every_name(workdir, token):
    """chmod, chown, utimens and xattr changes made through one name of a
    hard-linked file reach the manifest entries of all its names."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        os.mkdir(vol.path("ward"))
        with open(vol.path("ward", "notes"), "w") as f:
            f.write("notes " * 500)
        os.link(vol.path("ward", "notes"), vol.path("hard"))
        sync(vol)
        ino = os.stat(vol.backing_of(vol.path("hard"))).st_ino
        group = by_ino(manifest_of(bucket), ino)
        assert len(group) == 2 and {e["mode"] for e in group.values()} == {0o644}

        def check(field, want):
            sync(vol)
            g = by_ino(manifest_of(bucket), ino)
            assert len(g) == 2
            got = {p: e[field] for p, e in g.items()}
            assert all(v == want for v in got.values()), (field, got)

        os.chmod(vol.path("ward", "notes"), 0o640)
        check("mode", 0o640)
        os.chown(vol.path("hard"), 1234, 5678)
        check("uid", 1234)
        check("gid", 5678)
        os.utime(vol.path("ward", "notes"), ns=(1_300_000_000_000_000_007,) * 2)
        mt = os.stat(vol.backing_of(vol.path("hard"))).st_mtime_ns
        check("mtime", mt)
        os.setxattr(vol.path("hard"), "user.colour", b"green")
        sync(vol)
        g = by_ino(manifest_of(bucket), ino)
        xs = [e["xattrs"] for e in g.values()]
        assert len(xs) == 2 and xs[0] == xs[1] and len(xs[0]) == 1, xs
        os.removexattr(vol.path("ward", "notes"), "user.colour")
        check("xattrs", {})
    finally:
        vol.unmount()
    wait_released(vol)
    assert verify(token, bucket, "--backing", vol.backing).returncode == 0
    got, links = restored_snapshot(workdir, token, bucket)
    assert ["hard", "ward/notes"] in links
    for name in ("hard", "ward/notes"):
        e = got[name]
        assert (e["mode"] & 0o7777, e["uid"], e["gid"], e["mtime"], e["xattrs"]) == \
            (0o640, 1234, 5678, 1_300_000_000_000_000_007, {})


# ---- 2. the bucket is an rclone mount

def rclone_mount(store, mnt):
    # The daemon keeps the inherited stdout/stderr: send them to a log file
    # (a pipe would never reach EOF).
    log = os.path.join(os.path.dirname(store), "rclone.log")
    with open(log, "a") as lf:
        p = subprocess.run(["rclone", "mount", f":local:{store}", mnt, "--daemon",
                            "--config", "/dev/null"], stdout=lf, stderr=lf,
                           stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0, open(log).read()
    deadline = time.monotonic() + 15
    while not is_mounted(mnt):
        assert time.monotonic() < deadline, "rclone mount did not appear"
        time.sleep(0.05)


@pytest.mark.skipif(shutil.which("rclone") is None,
                    reason="rclone not installed (scripts/install-deps.sh installs it)")
def test_round_trip_through_an_rclone_mounted_bucket(workdir, token):
    """A volume replicated to an `rclone mount` of a local store (vfs cache
    off: sequential whole-file writes) restores byte for byte, with modes,
    symlinks, hard links, xattrs, after everything was unmounted."""
    store = os.path.join(workdir, "rclone-store")
    bucket = os.path.join(workdir, "rclone-bucket")
    os.mkdir(store)
    os.mkdir(bucket)
    rclone_mount(store, bucket)
    try:
        vol = Volume(workdir, token, extra_init=["--bucket", bucket])
        vol.mount()
        try:
            populate(vol)
            with open(vol.path("ward", "beds", "alpha"), "r+b") as f:   # a rewrite
                f.seek(5000)
                f.write(os.urandom(20000))
            os.rename(vol.path("ward", "beds", "beta"), vol.path("ward", "gamma"))
            sync(vol)
            assert status(vol)["replication"]["bucket"] == "ok"
        finally:
            vol.unmount()
        wait_released(vol)
        assert_mirrors(vol, bucket)
        snap = fresh_snapshot(vol)
    finally:
        unmount(bucket)
    assert not is_mounted(bucket) and os.listdir(bucket) == []
    assert ".coffre.manifest" in os.listdir(store)
    rclone_mount(store, bucket)       # a fresh rclone: nothing cached
    try:
        p = verify(token, bucket, "--backing", vol.backing)
        assert p.returncode == 0, p.stdout + p.stderr
        got = restored_snapshot(workdir, token, bucket)
    finally:
        unmount(bucket)
    assert got == snap
    assert ["hard", "ward/notes"] in got[1]
    assert got[0]["link"]["target"] == "ward/notes"
    assert got[0]["ward/beds/alpha"]["xattrs"] == {"user.colour": b"blue"}
    assert got[0]["ward/beds"]["mode"] & 0o7777 == 0o711


# ---- 3. outage: the bucket goes read-only during a write workload

def test_read_only_bucket_during_writes_loses_nothing(workdir, token):
    """While a writer thread works, the bucket is bind-remounted read-only:
    no write fails; once it is read-write again sync completes, verify
    passes and the bucket mirrors the backing dir."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    errors, done = [], threading.Event()
    written = []

    def writer():
        try:
            for i in range(240):
                d = vol.path(f"dir{i % 6}")
                os.makedirs(d, exist_ok=True)
                p = os.path.join(d, f"file{i}")
                with open(p, "wb") as f:
                    f.write(os.urandom(2000 + 97 * i))
                if i % 7 == 0:
                    os.chmod(p, 0o600)
                if i % 11 == 0 and i:
                    os.unlink(written[-5])
                    written.remove(written[-5])
                written.append(p)
                time.sleep(0.01)
        except OSError as e:
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=writer)
    bound = False
    try:
        t.start()
        time.sleep(0.4)
        run(["mount", "--bind", bucket, bucket])
        bound = True
        # EBUSY while the worker holds a bucket file open for writing.
        deadline = time.monotonic() + 10
        while run(["mount", "-o", "remount,ro,bind", bucket, bucket],
                  check=False).returncode != 0:
            assert time.monotonic() < deadline, "cannot remount the bucket read-only"
            time.sleep(0.01)
        time.sleep(1.0)
        s = status(vol)["replication"]
        assert s["bucket"] == "error" and s["queued"] > 0, s
        p = sync(vol, timeout=2, check=False)
        assert p.returncode != 0 and "pending" in p.stderr
        t.join(60)
        assert done.is_set() and errors == []
        run(["mount", "-o", "remount,rw,bind", bucket, bucket])
        sync(vol, timeout=90)
        s = status(vol)["replication"]
        assert s["bucket"] == "ok" and s["queued"] == 0, s
        run(["umount", bucket])
        bound = False
        for p in written:
            assert os.path.getsize(p) > 0
    finally:
        t.join(60)
        vol.unmount()
        if bound:
            unmount(bucket)
    wait_released(vol)
    assert_mirrors(vol, bucket)
    p = verify(token, bucket, "--backing", vol.backing)
    assert p.returncode == 0, p.stdout + p.stderr


# ---- 4. metadata-only changes

def test_metadata_only_changes_reach_the_bucket_and_survive_restore(workdir, token):
    """chmod, chown, utimens and xattr changes with no content change are
    replicated without re-uploading the objects, and restore brings them
    back."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        os.makedirs(vol.path("d", "sub"))
        for n in ("a", "b", "c", "x"):
            with open(vol.path("d", n), "wb") as f:
                f.write(os.urandom(30000))
        os.symlink("d/a", vol.path("s"))
        os.setxattr(vol.path("d", "x"), "user.gone", b"soon")
        sync(vol)
        before = status(vol)["replication"]
        objs = {p: os.stat(os.path.join(bucket, p)).st_ino for p in objects(bucket)}

        os.chmod(vol.path("d", "a"), 0o600)
        os.chown(vol.path("d", "b"), 4321, 8765)
        os.utime(vol.path("d", "c"), ns=(1_234_567_890_987_654_321,) * 2)
        os.setxattr(vol.path("d", "x"), "user.kept", b"value " * 50)
        os.removexattr(vol.path("d", "x"), "user.gone")
        os.chmod(vol.path("d", "sub"), 0o750)
        os.setxattr(vol.path("d"), "user.floor", b"3")
        os.utime(vol.path("d", "sub"), ns=(1_111_111_111_000_000_000,) * 2)
        os.chown(vol.path("s"), 77, 88, follow_symlinks=False)
        sync(vol)
        after = status(vol)["replication"]
        assert after["copied"] == before["copied"], (before, after)
        # Same objects, not rewritten (a rewrite is a rename of a new file).
        assert {p: os.stat(os.path.join(bucket, p)).st_ino for p in objects(bucket)} == objs
    finally:
        vol.unmount()
    snap = fresh_snapshot(vol)
    assert snap[0]["d/a"]["mode"] & 0o7777 == 0o600
    p = verify(token, bucket, "--backing", vol.backing)
    assert p.returncode == 0, p.stdout + p.stderr
    got = restored_snapshot(workdir, token, bucket)
    assert got == snap
    e = got[0]
    assert e["d/a"]["mode"] & 0o7777 == 0o600
    assert (e["d/b"]["uid"], e["d/b"]["gid"]) == (4321, 8765)
    assert e["d/c"]["mtime"] == 1_234_567_890_987_654_321
    assert e["d/x"]["xattrs"] == {"user.kept": b"value " * 50}
    assert e["d/sub"]["mode"] & 0o7777 == 0o750
    assert e["d/sub"]["mtime"] == 1_111_111_111_000_000_000
    assert e["d"]["xattrs"] == {"user.floor": b"3"}
    assert (e["s"]["uid"], e["s"]["gid"]) == (77, 88)


# ---- 5. a large tree renamed, then deleted

def test_rename_of_a_large_tree_and_deletes_propagate(workdir, token):
    """Renaming a 30-directory, 300-file tree moves it in the bucket (old
    paths gone, new ones there); deleting part of it removes it there."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        for i in range(6):
            for j in range(5):
                d = vol.path("top", f"a{i}", f"b{j}")
                os.makedirs(d)
                for k in range(10):
                    with open(os.path.join(d, f"f{k}"), "wb") as f:
                        f.write(os.urandom(500 + k))
        sync(vol)
        old_top = os.path.relpath(vol.backing_of(vol.path("top")), vol.backing)
        old = {p for p in objects(bucket) if p.startswith(old_top + "/")}
        assert len(old) == 6 + 30 + 300 + 37     # + every .coffre.dir (top too)
        os.rename(vol.path("top"), vol.path("moved"))
        sync(vol)
        new_top = os.path.relpath(vol.backing_of(vol.path("moved")), vol.backing)
        assert new_top != old_top
        now = objects(bucket)
        assert not os.path.exists(os.path.join(bucket, old_top))
        assert not any(p == old_top or p.startswith(old_top + "/") for p in now)
        new = {p for p in now if p.startswith(new_top + "/")}
        assert len(new) == 373
        assert now == backing_objects(vol)
        man = manifest_of(bucket)
        assert not any(p == old_top or p.startswith(old_top + "/") for p in man)
        assert sum(1 for p in man if p.startswith(new_top + "/")) == 373

        gone_dir = os.path.relpath(vol.backing_of(vol.path("moved", "a2")), vol.backing)
        gone_file = os.path.relpath(vol.backing_of(vol.path("moved", "a0", "b0", "f3")),
                                    vol.backing)
        shutil.rmtree(vol.path("moved", "a2"))
        os.unlink(vol.path("moved", "a0", "b0", "f3"))
        sync(vol)
        now = objects(bucket)
        assert not any(p == gone_dir or p.startswith(gone_dir + "/") for p in now)
        assert gone_file not in now
        assert len([p for p in now if p.startswith(new_top + "/")]) == 373 - 62 - 1
        assert now == backing_objects(vol)
    finally:
        vol.unmount()
    wait_released(vol)
    assert_mirrors(vol, bucket)
    p = verify(token, bucket, "--backing", vol.backing)
    assert p.returncode == 0, p.stdout + p.stderr


# ---- 6. tampering that verify must report

def test_older_copy_of_an_object_is_reported(workdir, token):
    """An object put back to an older, valid ciphertext of the same file is
    reported by verify."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        with open(vol.path("ledger"), "wb") as f:
            f.write(b"balance: 100\n" * 3000)
        with open(vol.path("other"), "w") as f:
            f.write("untouched")
        sync(vol)
        rel_ledger = os.path.relpath(vol.backing_of(vol.path("ledger")), vol.backing)
        obj = os.path.join(bucket, rel_ledger)
        old = open(obj, "rb").read()
        with open(vol.path("ledger"), "r+b") as f:          # same size, new content
            f.write(b"balance: 999\n" * 3000)
        sync(vol)
        assert open(obj, "rb").read() != old
    finally:
        vol.unmount()
    wait_released(vol)
    assert verify(token, bucket, "--backing", vol.backing).returncode == 0
    with open(obj, "wb") as f:
        f.write(old)
    p = verify(token, bucket, "--backing", vol.backing)
    assert_reported(p, rel_ledger, "content differs")
    assert len(problems(p)) == 1, p.stdout


def test_bucket_rolled_back_as_a_whole_is_reported(workdir, token):
    """A bucket replaced by a copy of an earlier synced state (every object
    valid, the manifest consistent with them) is reported as rolled back
    when checked against the live backing dir."""
    vol, bucket = make_volume(workdir, token)
    saved = os.path.join(workdir, "bucket-copy")
    vol.mount()
    try:
        os.mkdir(vol.path("ward"))
        for n in ("one", "two", "three"):
            with open(vol.path("ward", n), "w") as f:
                f.write(n * 1000)
        sync(vol)
        shutil.copytree(bucket, saved, symlinks=True)
        with open(vol.path("ward", "one"), "w") as f:
            f.write("changed")
        os.unlink(vol.path("ward", "two"))
        with open(vol.path("four"), "w") as f:
            f.write("new")
        sync(vol)
    finally:
        vol.unmount()
    wait_released(vol)
    assert verify(token, bucket, "--backing", vol.backing).returncode == 0
    shutil.rmtree(bucket)
    shutil.copytree(saved, bucket, symlinks=True)
    p = verify(token, bucket, "--backing", vol.backing)
    assert_reported(p, ".coffre.manifest", "rolled back")


# ---- 7. a long outage costs disk, not memory (issue 14)

def daemon_pid(mnt):
    """The daemon serving mnt: the process whose command line names it."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if mnt.encode() in args and os.path.basename(args[0]) == b"coffre":
            return int(p)
    raise LookupError(mnt)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError("VmRSS")


def test_long_outage_backlog_lives_on_disk(workdir, token):
    """16,000 files are created while the bucket is read-only: the daemon's
    memory stays bounded (the backlog past the in-memory window of 8192
    paths is in the journal on disk: RSS stops growing once the window is
    full; it grew by about 350 bytes a path when memory held them all),
    status counts the whole backlog, and once the bucket is back every file
    reaches it."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    n_files, n_dirs = 16000, 16
    bound = False
    try:
        for d in range(n_dirs):
            os.mkdir(vol.path(f"d{d:02d}"))
        sync(vol)
        pid = daemon_pid(vol.mnt)
        run(["mount", "--bind", bucket, bucket])
        bound = True
        run(["mount", "-o", "remount,ro,bind", bucket, bucket])

        def forget():
            # The kernel forgets its cached inodes (the daemon's inode
            # table shrinks with them): what stays is the replicator's.
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")

        forget()
        base = peak = rss_kib(pid)
        samples = []
        for i in range(n_files):
            with open(vol.path(f"d{i % n_dirs:02d}", f"file-{i:05d}"), "wb") as f:
                f.write(b"x" * (i % 300))
            if i % 2000 == 1999:
                forget()
                peak = max(peak, rss_kib(pid))
                samples.append(peak - base)
        s = status(vol)["replication"]
        assert s["bucket"] == "error", s
        assert s["queued"] >= n_files, s
        assert s["in_memory"] <= 8192 + 16, s      # the window; .coffre...
        journal = os.path.getsize(os.path.join(vol.backing, ".coffre", "journal"))
        assert journal == s["journal_bytes"] and journal > 0, s
        print(f"\nRSS growth (KiB) every 2000 files: {samples}; "
              f"queued {s['queued']}, in memory {s['in_memory']}; "
              f"journal {journal} bytes")
        assert peak - base < 30 * 1024, samples
        # From 10,000 files on (the window full, the backlog's path set
        # allocated) memory stays flat: 6,000 more paths held in memory
        # would take 2 MiB.
        assert samples[-1] - samples[4] < 1024, samples
        run(["mount", "-o", "remount,rw,bind", bucket, bucket])
        sync(vol, timeout=120)
        s = status(vol)["replication"]
        assert s["bucket"] == "ok" and s["queued"] == 0, s
        run(["umount", bucket])
        bound = False
    finally:
        vol.unmount()
        if bound:
            unmount(bucket)
    wait_released(vol)
    assert_mirrors(vol, bucket)
