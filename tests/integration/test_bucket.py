"""Replication to a bucket directory: a user's session with a healthy
bucket, an outage (bucket not mounted), a daemon killed with -9."""
import hashlib
import os
import shutil
import signal
import subprocess
import time

from conftest import ctl_status, COFFRE, COFFRECTL, Volume, conf_name, conf_path, is_mounted, run, unmount


def tree(root):
    """relative path -> sha256 of every regular file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            if os.path.islink(p):
                continue                 # symlinks travel in the manifest
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def make_volume(workdir, token):
    bucket = os.path.join(workdir, "bucket")
    os.mkdir(bucket)
    vol = Volume(workdir, token, extra_init=["--bucket", bucket])
    return vol, bucket


def status(vol):
    return ctl_status(vol.mnt, as_json=True)


def sync(vol, timeout=60, check=True):
    return run([COFFRECTL, "sync", vol.mnt, "--timeout", str(timeout)], check=check)


def test_bucket_holds_the_backing_ciphertext(workdir, token):
    """After sync the bucket holds every backing object byte for byte, and no
    plaintext name or content."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        os.makedirs(vol.path("ward-7", "beds"))
        with open(vol.path("ward-7", "beds", "patient-MARKER.txt"), "w") as f:
            f.write("diagnosis-MARKER " * 100)
        with open(vol.path("big"), "wb") as f:
            f.write(os.urandom(3 << 20))
        os.symlink("somewhere", vol.path("link"))
        os.rename(vol.path("ward-7"), vol.path("ward-8"))
        sync(vol)
        back = {k: v for k, v in tree(vol.backing).items()
                if not k.startswith(".coffre/") or k.startswith((".coffre/keys", ".coffre/escrow"))}
        mirror = {k: v for k, v in tree(bucket).items()
                  if k not in (".coffre.bucket", ".coffre.manifest")}
        assert back == mirror
        s = status(vol)["replication"]
        assert s["bucket"] == "ok" and s["queued"] == 0
        # Every replicated path has its manifest entry (objects, the
        # symlink, which has none, and directories); none is left only in
        # memory after sync.
        ndirs = sum(len(d) for _, d, _ in os.walk(vol.backing))
        assert len(back) + 1 <= s["manifest_entries"] <= len(back) + 1 + ndirs, s
        assert s["manifest_in_memory"] == 0
        for d, dirs, files in os.walk(bucket):
            for n in dirs + files:
                assert "MARKER" not in n and "ward" not in n
                p = os.path.join(d, n)
                if os.path.isfile(p):
                    with open(p, "rb") as f:
                        assert b"MARKER" not in f.read()
    finally:
        vol.unmount()


def test_outage_never_blocks_writes_and_catches_up(workdir, token):
    """With the bucket's marker gone (an unmounted s3fs mount point), writes
    succeed, nothing is written there, status says so, sync times out; when
    the bucket is back, everything arrives."""
    vol, bucket = make_volume(workdir, token)
    marker = os.path.join(bucket, ".coffre.bucket")
    saved = open(marker, "rb").read()
    os.unlink(marker)
    vol.mount()
    try:
        for i in range(20):
            with open(vol.path(f"f{i}"), "wb") as f:
                f.write(os.urandom(10000))
        p = sync(vol, timeout=2, check=False)
        assert p.returncode != 0 and "pending" in p.stderr
        s = status(vol)["replication"]
        assert s["bucket"] != "ok" and s["queued"] > 0
        assert os.listdir(bucket) == []          # an outage is never filled
        with open(marker, "wb") as f:
            f.write(saved)
        sync(vol, timeout=60)
        assert status(vol)["replication"]["queued"] == 0
        names = [n for n in os.listdir(bucket) if not n.startswith(".coffre")]
        assert len(names) == 20
    finally:
        vol.unmount()


def test_sigkill_loses_no_replication_work(workdir, token):
    """Work noted before the daemon is killed -9 reaches the bucket after the
    next mount."""
    vol, bucket = make_volume(workdir, token)
    marker = os.path.join(bucket, ".coffre.bucket")
    saved = open(marker, "rb").read()
    os.unlink(marker)                               # hold the work back
    vol.mount()
    for i in range(10):
        with open(vol.path(f"kept{i}"), "wb") as f:
            f.write(os.urandom(5000))
    pid = int(subprocess.check_output(["pgrep", "-f", f"coffre {vol.backing} "]).split()[0])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    unmount(vol.mnt)
    with open(marker, "wb") as f:
        f.write(saved)
    vol.mount()
    try:
        sync(vol, timeout=60)
        names = [n for n in os.listdir(bucket) if not n.startswith(".coffre")]
        assert len(names) == 10
    finally:
        vol.unmount()


def test_deletes_propagate(workdir, token):
    """Unlinked files and removed directories leave the bucket too."""
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        os.makedirs(vol.path("d", "e"))
        with open(vol.path("d", "e", "f"), "w") as f:
            f.write("x")
        sync(vol)
        before = len(tree(bucket))
        os.unlink(vol.path("d", "e", "f"))
        os.rmdir(vol.path("d", "e"))
        os.rmdir(vol.path("d"))
        sync(vol)
        left = [k for k in tree(bucket) if not k.startswith(".coffre")]
        assert left == [] and len(tree(bucket)) < before
    finally:
        vol.unmount()


def test_init_refuses_a_non_empty_bucket(workdir, token):
    """A bucket directory that holds something else is refused at init."""
    bucket = os.path.join(workdir, "full")
    os.mkdir(bucket)
    open(os.path.join(bucket, "other-data"), "w").close()
    name = conf_name()
    p = run([COFFRECTL, "init", "--conf", name, "--hsm", token.uri, "--pin-file",
             token.pin_file, "--bucket", bucket, os.path.join(workdir, "b")], check=False)
    assert p.returncode != 0 and "bucket" in p.stderr
    assert not os.path.exists(os.path.join(workdir, "b", ".coffre.conf"))
    assert not os.path.exists(conf_path(name))
