"""`coffrectl verify` and `coffrectl restore`: a bucket is authenticated
object by object with the HSM's keys and checked against its manifest;
every kind of damage is reported with its path; a volume is rebuilt from
the bucket and the token alone, and reads back identically."""
import hashlib
import json
import os
import re
import shutil
import stat

import pytest

from conftest import COFFRECTL, Volume, conf_name, run, wait_released, write_pin
from test_bucket import make_volume, sync


def populate(vol):
    """A little of everything, in the mounted volume."""
    os.makedirs(vol.path("ward", "beds"))
    with open(vol.path("ward", "beds", "alpha"), "wb") as f:
        f.write(os.urandom(100000))
    with open(vol.path("ward", "beds", "beta"), "wb") as f:
        f.write(os.urandom(70000))
    with open(vol.path("ward", "notes"), "w") as f:
        f.write("notes " * 500)
    with open(vol.path("n" * 200), "w") as f:          # a long name
        f.write("long")
    open(vol.path("empty"), "w").close()
    with open(vol.path("sparse"), "wb") as f:
        f.truncate(200000)
        f.seek(150000)
        f.write(b"tail")
    os.symlink("ward/notes", vol.path("link"))
    os.symlink("t" * 3500, vol.path("longlink"))       # a sidecar target
    os.chmod(vol.path("ward", "notes"), 0o640)
    os.link(vol.path("ward", "notes"), vol.path("hard"))
    os.mkfifo(vol.path("ward", "fifo"))
    os.setxattr(vol.path("ward", "beds", "alpha"), "user.colour", b"blue")
    os.setxattr(vol.path("ward"), "user.floor", b"7")
    os.chmod(vol.path("ward", "beds"), 0o711)
    os.utime(vol.path("ward", "beds", "beta"), ns=(1_500_000_000_123_456_789,) * 2)
    os.utime(vol.path("ward", "beds"), ns=(1_400_000_000_000_000_001,) * 2)


def snapshot(root):
    """relative path -> what a user sees of it (content, type, mode, time,
    link target, hard-link groups, xattrs)."""
    out, inodes = {}, {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            e = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                 "mtime": st.st_mtime_ns, "size": st.st_size}
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    e["sha"] = hashlib.sha256(f.read()).hexdigest()
                e["xattrs"] = {x: os.getxattr(p, x) for x in os.listxattr(p)}
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISDIR(st.st_mode):
                e["xattrs"] = {x: os.getxattr(p, x) for x in os.listxattr(p)}
            out[rel] = e
    links = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return out, links


def verify(token, bucket, *extra, pin_file=None):
    return run([COFFRECTL, "verify", bucket, "--hsm", token.uri, "--pin-file",
                pin_file or token.pin_file, *extra], check=False)


def restore(token, bucket, target, *extra):
    return run([COFFRECTL, "restore", bucket, target, "--hsm", token.uri,
                "--pin-file", token.pin_file, *extra], check=False)


def problems(p):
    """The problem lines of a verify run (path: what)."""
    return [l for l in p.stdout.splitlines()
            if ": " in l and not re.match(r"\d+ (objects checked|problems?): ", l)
            and not l.startswith("OK: ")]


def assert_reported(p, path, *words):
    assert p.returncode == 74, p.stdout + p.stderr      # the bucket's (coffre/exit.h)
    lines = [l for l in problems(p) if l.startswith(path + ": ")]
    assert lines, f"{path} not reported:\n{p.stdout}"
    assert any(all(w in l for w in words) for l in lines), p.stdout
    assert "Traceback" not in p.stderr and "Sanitizer" not in p.stderr


class Restored(Volume):
    """A volume restored into a new backing dir, with its own mount point
    and the mount configuration `coffrectl conf adopt` writes for it (a
    restore writes none)."""

    def __init__(self, root, token, backing):
        self.root = root
        self.token = token
        self.backing = backing
        self.mnt = os.path.join(root, "mnt-restored")
        self.log = os.path.join(root, "restored.log")
        self.conf = conf_name("restored")
        os.makedirs(self.mnt, exist_ok=True)
        run([COFFRECTL, "conf", "adopt", backing, self.conf, "--hsm", token.uri,
             "--pin-file", token.pin_file])


@pytest.fixture
def synced(workdir, token):
    """A populated volume whose bucket is in sync; unmounted, lock released.
    Returns (volume, bucket, snapshot of the mount)."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        populate(vol)
        sync(vol)
    finally:
        vol.unmount()
    wait_released(vol)
    # What a fresh mount shows (no attributes cached from the writes).
    vol.mount()
    try:
        snap = snapshot(vol.mnt)
    finally:
        vol.unmount()
    wait_released(vol)
    return vol, bucket, snap


def bucket_path(vol, bucket, backing_path):
    return os.path.join(bucket, os.path.relpath(backing_path, vol.backing))


def rel(vol, backing_path):
    return os.path.relpath(backing_path, vol.backing)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


def test_clean_bucket_verifies(synced, token):
    vol, bucket, _ = synced
    p = verify(token, bucket, "--backing", vol.backing)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "OK" in p.stdout and problems(p) == []
    # --json: progress lines, then the report (the result line) last.
    j = json.loads(verify(token, bucket, "--json").stdout.splitlines()[-1])
    assert j["event"] == "result" and j["exit"] == 0
    assert j["ok"] is True and j["problems"] == [] and j["files"] >= 6
    assert j["symlinks"] == 2 and j["key_records"] >= 3
    # verify wrote nothing into the bucket (no lock file, no journal)
    assert not os.path.exists(os.path.join(bucket, ".coffre", "lock"))


def test_flipped_segment_byte(synced, token):
    vol, bucket, _ = synced
    alpha = find_by_plain_size(vol, 100000)
    flip(bucket_path(vol, bucket, alpha), 48 + 16384 + 28 + 500)   # segment 1
    assert_reported(verify(token, bucket), rel(vol, alpha), "segment 1",
                    "does not authenticate")


def test_truncated_file(synced, token):
    vol, bucket, _ = synced
    alpha = find_by_plain_size(vol, 100000)
    b = bucket_path(vol, bucket, alpha)
    os.truncate(b, os.path.getsize(b) - 10)
    p = verify(token, bucket)
    assert_reported(p, rel(vol, alpha), "does not authenticate")
    assert_reported(p, rel(vol, alpha), "size", "the manifest says")


def test_swapped_files(synced, token):
    vol, bucket, _ = synced
    alpha = bucket_path(vol, bucket, find_by_plain_size(vol, 100000))
    beta = bucket_path(vol, bucket, find_by_plain_size(vol, 70000))
    assert os.path.dirname(alpha) == os.path.dirname(beta)
    tmp = alpha + ".x"
    os.rename(alpha, tmp)
    os.rename(beta, alpha)
    os.rename(tmp, beta)
    p = verify(token, bucket)
    ra, rb = os.path.relpath(alpha, bucket), os.path.relpath(beta, bucket)
    assert_reported(p, ra, "swapped", rb)
    assert_reported(p, rb, "swapped", ra)


def test_deleted_object(synced, token):
    vol, bucket, _ = synced
    notes = find_by_plain_size(vol, 3000)
    os.unlink(bucket_path(vol, bucket, notes))
    assert_reported(verify(token, bucket), rel(vol, notes), "missing")


def test_extra_object(synced, token):
    vol, bucket, _ = synced
    with open(os.path.join(bucket, "planted"), "wb") as f:
        f.write(os.urandom(500))
    p = verify(token, bucket)
    assert_reported(p, "planted", "extra")
    assert_reported(p, "planted", "name does not decrypt")


def test_tampered_key_record(synced, token):
    vol, bucket, _ = synced
    ward = os.path.dirname(os.path.dirname(find_by_plain_size(vol, 100000)))
    with open(os.path.join(ward, ".coffre.dir"), "rb") as f:
        dir_id = f.read()[8:24].hex()
    rec = f".coffre/keys/{dir_id}.1"
    flip(os.path.join(bucket, rec), 80)                # in the sealed DEK
    p = verify(token, bucket)
    assert_reported(p, rec, "does not unseal")
    assert_reported(p, rel(vol, ward), "does not unseal")


def test_tampered_manifest(synced, token):
    vol, bucket, _ = synced
    man = os.path.join(bucket, ".coffre.manifest")
    flip(man, 60)
    assert_reported(verify(token, bucket), ".coffre.manifest", "fails authentication")


def test_rolled_back_manifest(workdir, token):
    vol, bucket = make_volume(workdir, token)
    man = os.path.join(bucket, ".coffre.manifest")
    vol.mount()
    try:
        with open(vol.path("first"), "w") as f:
            f.write("one")
        sync(vol)
        old = open(man, "rb").read()
        with open(vol.path("second"), "w") as f:
            f.write("two")
        sync(vol)
    finally:
        vol.unmount()
    wait_released(vol)
    assert verify(token, bucket, "--backing", vol.backing).returncode == 0
    with open(man, "wb") as f:
        f.write(old)
    p = verify(token, bucket, "--backing", vol.backing)
    assert_reported(p, ".coffre.manifest", "rolled back")


def test_wrong_pin_fails_cleanly(synced, token, workdir):
    vol, bucket, _ = synced
    bad = write_pin(os.path.join(workdir, "bad-pin"), "0000")
    p = verify(token, bucket, pin_file=bad)
    assert p.returncode == 77 and "cannot verify" in p.stderr   # the PIN's
    assert "Sanitizer" not in p.stderr and p.stdout == ""


def test_hsm_uri_is_never_taken_from_the_bucket(synced, token):
    """verify needs --hsm: the bucket's config does not choose the module."""
    vol, bucket, _ = synced
    p = run([COFFRECTL, "verify", bucket, "--pin-file", token.pin_file], check=False)
    assert p.returncode == 2 and "--hsm" in p.stderr


def mount_restored(workdir, token, target):
    r = Restored(workdir, token, target)
    r.mount()
    return r


def test_restore_reads_identically(synced, token, workdir):
    vol, bucket, snap = synced
    target = os.path.join(workdir, "restored")
    p = restore(token, bucket, target)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not os.path.exists(os.path.join(target, ".coffre.bucket"))
    assert not os.path.exists(os.path.join(target, ".coffre.manifest"))
    assert os.path.exists(os.path.join(target, ".coffre", "manifest"))
    assert "bucket =" not in open(os.path.join(target, ".coffre.conf")).read()
    r = mount_restored(workdir, token, target)
    try:
        got = snapshot(r.mnt)
    finally:
        r.unmount()
    assert got == snap
    assert ["hard", "ward/notes"] in got[1]
    assert stat.S_ISFIFO(got[0]["ward/fifo"]["mode"])
    assert got[0]["ward/beds/alpha"]["xattrs"] == {"user.colour": b"blue"}


def test_restore_refuses_a_bad_bucket(synced, token, workdir):
    vol, bucket, _ = synced
    alpha = find_by_plain_size(vol, 100000)
    flip(bucket_path(vol, bucket, alpha), 48 + 100)
    target = os.path.join(workdir, "restored")
    p = restore(token, bucket, target)
    assert p.returncode == 74 and "refusing" in p.stderr
    assert rel(vol, alpha) in p.stderr
    assert not os.path.exists(target) or os.listdir(target) == []


def test_restore_refuses_a_non_empty_target(synced, token, workdir):
    vol, bucket, _ = synced
    p = restore(token, bucket, vol.backing)
    assert p.returncode == 1 and "not empty" in p.stderr


def test_restore_after_the_backing_dir_is_gone(synced, token, workdir):
    vol, bucket, snap = synced
    shutil.rmtree(vol.backing)
    target = os.path.join(workdir, "from-bucket")
    p = restore(token, bucket, target)
    assert p.returncode == 0, p.stdout + p.stderr
    r = mount_restored(workdir, token, target)
    try:
        got = snapshot(r.mnt)
        with open(r.path("ward", "notes")) as f:
            assert f.read() == "notes " * 500
    finally:
        r.unmount()
    assert got == snap


# ---- helpers that find backing objects without the mount

def find_by_plain_size(vol, size):
    """The backing path of the only file whose plaintext has this size."""
    seg = vol.segment_size
    want = 48 + size + 28 * max(1, -(-size // seg))
    hits = []
    for d, dirs, files in os.walk(vol.backing):
        dirs[:] = [x for x in dirs if x != ".coffre"]
        for n in files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if not n.startswith(".coffre") and stat.S_ISREG(st.st_mode) \
                    and st.st_size == want:
                hits.append(p)
    assert len(hits) >= 1, f"no file of {size} bytes"
    return sorted(hits)[0]


def test_whole_bucket_rollback_is_caught_by_the_hsm_without_the_backing(workdir, token):
    """The HSMs remember the last manifest generation: a bucket rolled back
    to an earlier synced state is reported even when no backing dir is given."""
    bucket = os.path.join(workdir, "bucket")
    os.mkdir(bucket)
    vol = Volume(workdir, token, extra_init=["--bucket", bucket])
    vol.mount()
    try:
        with open(vol.path("a"), "w") as f:
            f.write("first")
        run([COFFRECTL, "sync", vol.mnt, "--timeout", "60"])
        old = os.path.join(workdir, "bucket-old")
        shutil.copytree(bucket, old)
        with open(vol.path("b"), "w") as f:
            f.write("second")
        run([COFFRECTL, "sync", vol.mnt, "--timeout", "60"])
    finally:
        vol.unmount()
    ok = run([COFFRECTL, "verify", bucket, "--hsm", token.uri, "--pin-file",
              token.pin_file], check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    shutil.rmtree(bucket)
    shutil.copytree(old, bucket)
    p = run([COFFRECTL, "verify", bucket, "--hsm", token.uri, "--pin-file",
             token.pin_file], check=False)
    assert p.returncode != 0
    assert "rolled back" in p.stdout + p.stderr and "HSMs" in p.stdout + p.stderr
