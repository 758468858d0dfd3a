"""The README's disaster recovery, end to end: the server, its backing disk
and every HSM are lost; the bucket and five custodians bring it all back."""
import glob
import os
import shutil

from conftest import COFFRE, COFFRECTL, Volume, conf_name, is_mounted, run


def test_everything_but_the_bucket_and_the_custodians_is_lost(workdir, token):
    """Bucket + 5 of 7 shares + a blank token = the whole volume again."""
    bucket = os.path.join(workdir, "bucket")
    shares = os.path.join(workdir, "shares")
    os.mkdir(bucket)
    vol = Volume(workdir, token,
                 extra_init=["--bucket", bucket, "--shares-dir", shares])
    vol.mount()
    try:
        os.makedirs(vol.path("records", "2026"))
        want = {}
        for i in range(30):
            p = vol.path("records", "2026", f"patient-{i:04d}.txt")
            data = os.urandom(1000 + 997 * i)
            with open(p, "wb") as f:
                f.write(data)
            want[os.path.relpath(p, vol.mnt)] = data
        os.symlink("2026/patient-0001.txt", vol.path("records", "latest"))
        os.setxattr(vol.path("records", "2026", "patient-0002.txt"), "user.ward", b"7")
        run([COFFRECTL, "sync", vol.mnt, "--timeout", "60"])
    finally:
        vol.unmount()

    # The disaster: backing dir and every token gone.
    shutil.rmtree(vol.backing)
    for d in glob.glob(os.path.join(token.dir, "tokens", "*")):
        shutil.rmtree(d)
    run(["softhsm2-util", "--init-token", "--free", "--label", "fresh",
         "--pin", "1234", "--so-pin", "5678"])
    fresh = "pkcs11:token=fresh"

    # 0. enroll the blank token from five shares against a copy of the bucket
    staging = os.path.join(workdir, "staging")
    shutil.copytree(bucket, staging, symlinks=True)
    five = sorted(glob.glob(os.path.join(shares, "share-*")))[:5]
    # (no --conf: the staging copy is not mounted; nothing else is opened)
    cmd = [COFFRECTL, "hsm", "enroll", staging, "--hsm", fresh,
           "--pin-file", token.pin_file]
    for s in five:
        cmd += ["--share", s]
    run(cmd)
    # 1. verify, 2. restore, 3. mount
    run([COFFRECTL, "verify", bucket, "--hsm", fresh, "--pin-file", token.pin_file])
    restored = os.path.join(workdir, "restored")
    p = run([COFFRECTL, "restore", bucket, restored, "--hsm", fresh,
             "--pin-file", token.pin_file])
    assert "coffrectl conf adopt " + restored in p.stdout, p.stdout
    # 4. its mount configuration, from the HSM given here, then mount
    name = conf_name("restored")
    run([COFFRECTL, "conf", "adopt", restored, name, "--hsm", fresh,
         "--pin-file", token.pin_file])
    mnt = os.path.join(workdir, "mnt2")
    os.mkdir(mnt)
    p = run([COFFRE, restored, mnt, "-o", f"conf={name}"], check=False)
    assert p.returncode == 0, p.stderr
    try:
        for rel, data in want.items():
            with open(os.path.join(mnt, rel), "rb") as f:
                assert f.read() == data, rel
        assert os.readlink(os.path.join(mnt, "records", "latest")) == "2026/patient-0001.txt"
        assert os.getxattr(os.path.join(mnt, "records", "2026", "patient-0002.txt"),
                           "user.ward") == b"7"
    finally:
        run(["umount", mnt], check=False)
    assert not is_mounted(mnt)
