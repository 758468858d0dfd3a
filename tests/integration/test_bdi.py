"""The mount's readahead and dirty-page share (src/fs/bdi.c): coffre sets
them on its own mount (the kernel leaves every FUSE mount at 128 KiB and
1 %), the options change or keep them, bad values are refused, and the
mount is found in /proc/self/mountinfo (src/fs/mountinfo.c) by mount point
and by source even when their names need escaping."""
import os

from conftest import COFFRE, Volume, run, unescape_mount, wait_released


def bdi_knobs(mnt):
    """(read_ahead_kb, max_ratio) of the topmost mount on mnt."""
    mnt = os.path.realpath(mnt)
    dev = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = unescape_mount(fields[4])
            if point == mnt:
                dev = fields[2]
    assert dev, f"{mnt} is not mounted"
    with open(f"/sys/class/bdi/{dev}/read_ahead_kb") as f:
        ra = int(f.read())
    with open(f"/sys/class/bdi/{dev}/max_ratio") as f:
        ratio = int(f.read())
    return ra, ratio


def test_defaults_are_set_on_the_mount(mounted):
    assert bdi_knobs(mounted.mnt) == (1024, 10)
    assert "readahead" not in mounted.log_text()


def test_options_change_the_knobs(volume):
    volume.mount("readahead_kb=4096,max_dirty_ratio=25")
    try:
        assert bdi_knobs(volume.mnt) == (4096, 25)
        volume.unmount()
        wait_released(volume)
        # 0 leaves the kernel's FUSE defaults alone.
        volume.mount("readahead_kb=0,max_dirty_ratio=0")
        assert bdi_knobs(volume.mnt) == (128, 1)
    finally:
        volume.unmount()


def test_bad_values_are_refused(volume):
    for opt, name in [("readahead_kb=abc", "readahead_kb"), ("readahead_kb=-1", "readahead_kb"),
                      ("readahead_kb=", "readahead_kb"), ("max_dirty_ratio=101", "max_dirty_ratio"),
                      ("max_dirty_ratio=10x", "max_dirty_ratio")]:
        p = volume.mount(opt, check=False)
        assert p.returncode != 0, opt
        assert name in p.stderr and "number" in p.stderr, (opt, p.stderr)
        assert not os.path.ismount(volume.mnt)


def test_mount_point_with_escaped_characters(workdir, token):
    # A backing path may hold a space and a backslash, not a tab (no control
    # character can be written in a mount configuration); the mount point
    # may.
    root = os.path.join(workdir, "odd dir\\with chars")
    os.makedirs(root)
    vol = Volume(root, token)
    os.rmdir(vol.mnt)
    vol.mnt = os.path.join(root, "mnt\twith tab")
    os.mkdir(vol.mnt)
    vol.mount()
    try:
        assert bdi_knobs(vol.mnt) == (1024, 10)
        sources = [unescape_mount(l.split()[0]) for l in open("/proc/self/mounts")
                   if l.split()[2] == "fuse.coffre"]
        assert vol.backing in sources, sources
        # The same backing elsewhere is found in the mount table, escapes and all.
        other = os.path.join(root, "mnt 2")
        os.mkdir(other)
        p = run([COFFRE, vol.backing, other, "-o", f"conf={vol.conf}"], check=False)
        assert p.returncode != 0 and "already mounted on " + vol.mnt in p.stderr, p.stderr
        with open(vol.path("f"), "wb") as f:
            f.write(b"x" * 100000)
        with open(vol.path("f"), "rb") as f:
            assert f.read() == b"x" * 100000
    finally:
        vol.unmount()
