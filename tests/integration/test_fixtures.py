"""Example volumes of every on-disk format version still mount and read.

tests/fixtures/v<N>.tar.gz was made by tests/fixtures/make_fixture.py with
the binaries that wrote format version N (a SoftHSM2 token holding the
master key, the backing dir with its xattrs, and expected.json).  Today's
binaries must mount it and find every file's bytes, every name, symlink
target, xattr and hard link as it was, and keep working on it.
"""
import glob
import hashlib
import json
import os
import sys

import pytest

from conftest import COFFRE, COFFRECTL, USER_PIN, conf_name, is_mounted, run, unmount, write_pin

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_fixture import tree  # noqa: E402

FIXTURES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..",
                                         "fixtures", "v*.tar.gz")))


def check_tree(mnt, expected):
    got = tree(mnt)
    assert sorted(got) == sorted(expected)
    for rel, want in expected.items():
        assert got[rel] == want, rel


@pytest.mark.parametrize("fixture", FIXTURES, ids=os.path.basename)
def test_old_volume_mounts_and_reads(workdir, fixture):
    run(["tar", "--xattrs", "--xattrs-include=user.*", "-C", workdir, "-xzf",
         fixture])
    tokens = os.path.join(workdir, "hsm-coffre-test", "tokens")
    conf = os.path.join(workdir, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                "log.level = ERROR\nslots.removable = false\n")
    os.environ["SOFTHSM2_CONF"] = conf
    pin = write_pin(os.path.join(workdir, "pin"), USER_PIN)
    with open(os.path.join(workdir, "expected.json")) as f:
        expected = json.load(f)
    backing, mnt = os.path.join(workdir, "backing"), os.path.join(workdir, "mnt")
    os.makedirs(mnt)
    log = os.path.join(workdir, "coffre.log")

    # A volume of an older build: it moves over with `conf adopt`, taking
    # the HSM from the command line.
    name = conf_name("fixture")
    run([COFFRECTL, "conf", "adopt", backing, name, "--hsm", "pkcs11:token=coffre-test",
         "--pin-file", pin])

    def mount():
        run([COFFRE, backing, mnt, "-o", f"conf={name},log_file={log}"])
        assert is_mounted(mnt)

    mount()
    try:
        check_tree(mnt, expected)
        # Still a working volume: new files, renames, removals.
        with open(os.path.join(mnt, "dir", "new.txt"), "w") as f:
            f.write("written today\n")
        os.rename(os.path.join(mnt, "big.bin"), os.path.join(mnt, "dir", "big.bin"))
        os.unlink(os.path.join(mnt, "hard-link"))
    finally:
        unmount(mnt)
    mount()
    try:
        with open(os.path.join(mnt, "dir", "new.txt")) as f:
            assert f.read() == "written today\n"
        with open(os.path.join(mnt, "dir", "big.bin"), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == expected["big.bin"]["sha256"]
        assert os.stat(os.path.join(mnt, "hello.txt")).st_nlink == 1
    finally:
        unmount(mnt)
    with open(log) as f:
        text = f.read()
    assert "authenticat" not in text and "bad file header" not in text, text


def test_there_is_a_fixture_of_the_current_format():
    """Format version 1 is the current one; each version keeps its fixture."""
    names = [os.path.basename(p) for p in FIXTURES]
    assert "v1.tar.gz" in names
