"""Operating coffre like a system package (issue 13, first slice): --help
and --version, exit statuses per class, `coffrectl status` as a monitoring
plugin, log lines (stamps, the fallback file without /dev/log), and mount
safety (a mount point not empty, stacked, left by a dead daemon; the
fsname, so `mount -a` twice is idempotent; nosuid,nodev)."""
import os
import re
import shutil
import signal
import time

import pytest

from conftest import (BUILD, COFFRE, COFFRECTL, Volume, coffre_on_default_path, ctl_status,
                      is_mounted, run, unmount, wait_released, write_conf, write_pin)
from test_hsm import token_dir, two_tokens
from test_mount import daemons_for, mounts_of

# coffre/exit.h
EXIT_USAGE, EXIT_TAMPERED, EXIT_HSM, EXIT_MOUNTPOINT, EXIT_PIN, EXIT_CONFIG = 2, 65, 69, 73, 77, 78
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d coffre\[\d+\] (error|warning|notice|info): "
LOGDIR = os.path.join(os.path.realpath(BUILD), "tests", "var-log-coffre")
OPTIONS_C = os.path.join(os.path.dirname(__file__), "..", "..", "src", "fs", "options.c")


def mountinfo_line(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        lines = [l for l in f if l.split()[4] == path]
    assert len(lines) == 1, lines
    return lines[0]


def test_help_lists_every_option_and_exit_status():
    """coffre --help shows every option of the parser's table and the exit
    statuses; both programs have --version; an unknown option says so."""
    with open(OPTIONS_C) as f:
        own = re.findall(r'^\t(?:STR|NUM|FLAG)\("([a-z_]+)"', f.read(), re.M)
    assert {"bucket", "readahead_kb", "crypto_threads", "max_dirty_ratio", "max_fds",
            "max_inodes", "conf", "nonempty_ok", "log_file", "pin_file", "suid_ok",
            "dev_ok"} <= set(own)
    text = run([COFFRE, "--help"]).stdout
    for name in own:
        assert re.search(rf"^  {name}\b", text, re.M), name
    for code in ("0", "1", "2", "65", "69", "73", "74", "77", "78"):
        assert re.search(rf"^  {code} ", text, re.M), code
    assert "64" not in re.findall(r"^  (\d+) ", text, re.M)
    ctl_help = run([COFFRECTL, "--help"]).stdout
    assert "  77  the PIN is rejected" in ctl_help and "3 unknown" in ctl_help
    for prog in (COFFRE, COFFRECTL):
        p = run([prog, "--version"])
        assert re.match(r"coffre(ctl)? \d+\.\d+\.\d+ ", p.stdout), p.stdout
    p = run([COFFRECTL, "status", "/", "--jsn"], check=False)
    assert p.returncode == 3 and "unknown option --jsn" in p.stderr, p.stderr
    p = run([COFFRECTL, "hsm", "show", "/x", "--jsn", "v"], check=False)
    assert p.returncode == EXIT_USAGE and "unknown option --jsn" in p.stderr
    p = run([COFFRECTL, "hsm", "show", "/x", "--conf"], check=False)
    assert p.returncode == EXIT_USAGE and "--conf needs a value" in p.stderr
    p = run([COFFRE, "/a", "/b", "--jsn"], check=False)
    assert p.returncode == EXIT_USAGE and "unknown option '--jsn'" in p.stderr
    p = run([COFFRE, "/a", "/b", "-o", "nonempty"], check=False)
    assert p.returncode == EXIT_USAGE and "nonempty_ok" in p.stderr


def test_exit_status_per_class(volume, workdir):
    """A wrong PIN, no HSM, a refused configuration and a tampered volume
    each exit with their own status, and nothing is left mounted."""
    bad = write_pin(os.path.join(workdir, "bad-pin"), "0000")
    assert volume.mount(pin_file=bad, check=False).returncode == EXIT_PIN
    p = run([COFFRE, volume.backing, volume.mnt, "-o", "conf=no-such-conf"], check=False)
    assert p.returncode == EXIT_CONFIG, p.stderr
    nohsm = write_conf("nohsm-" + os.path.basename(workdir)[-6:].lower().replace("_", "-"),
                       volume.backing, ["pkcs11:token=nobody-here"],
                       pin_file=volume.token.pin_file)
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={nohsm}"], check=False)
    assert p.returncode == EXIT_HSM, (p.returncode, p.stderr)
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--conf", nohsm], check=False)
    assert p.returncode == EXIT_HSM, (p.returncode, p.stderr)
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--conf", volume.conf, "--pin-file",
             bad], check=False)
    assert p.returncode == EXIT_PIN, (p.returncode, p.stderr)
    # A config whose MAC no longer matches: the volume is tampered.
    conf = os.path.join(volume.backing, ".coffre.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("strict_holes = 0", "strict_holes = 1")
                if "strict_holes = 0" in text else text.replace("mac = ", "mac = 00", 1))
    p = volume.mount(check=False)
    assert p.returncode == EXIT_TAMPERED, (p.returncode, p.stderr)
    assert not is_mounted(volume.mnt)


def test_hsm_that_answers_without_the_key_is_the_hsm_status(volume, workdir):
    """A token that answers but lacks the master key exits 69 too, and the
    message says which of the two it is."""
    run(["softhsm2-util", "--init-token", "--free", "--label", "keyless",
         "--pin", "1234", "--so-pin", "5678"])
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--hsm", "pkcs11:token=keyless",
             "--pin-file", volume.token.pin_file], check=False)
    assert p.returncode == EXIT_HSM, (p.returncode, p.stderr)
    assert "none holds the master key" in p.stderr and "no HSM answers" not in p.stderr
    keyless = write_conf("keyless-" + os.path.basename(workdir)[-6:].lower().replace("_", "-"),
                         volume.backing, ["pkcs11:token=keyless"],
                         pin_file=volume.token.pin_file)
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={keyless}"], check=False)
    assert p.returncode == EXIT_HSM, (p.returncode, p.stderr)
    assert "none holds the master key" in p.stderr and not is_mounted(volume.mnt)
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--hsm", "pkcs11:token=nobody-here",
             "--pin-file", volume.token.pin_file], check=False)
    assert p.returncode == EXIT_HSM and "no HSM answers" in p.stderr, p.stderr


def test_too_many_mount_options_is_a_usage_error(volume):
    many = ",".join(["noatime"] * 700)
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={volume.conf},{many}"],
            check=False)
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stderr)
    assert "too many mount options" in p.stderr and not is_mounted(volume.mnt)


def test_mount_point_not_empty_is_refused_unless_nonempty_ok(volume):
    """A mount point with something in it is refused (73) unless
    nonempty_ok is given."""
    with open(os.path.join(volume.mnt, "hidden"), "w") as f:
        f.write("x")
    p = volume.mount(check=False)
    assert p.returncode == EXIT_MOUNTPOINT and "not empty" in p.stderr, p.stderr
    assert "nonempty_ok" in p.stderr and not is_mounted(volume.mnt)
    volume.mount("nonempty_ok")
    try:
        assert os.listdir(volume.mnt) == []
    finally:
        volume.unmount()


def test_stacking_on_a_live_coffre_mount_is_refused(mounted, workdir, token):
    """A second volume cannot be mounted on top of a live coffre mount."""
    other = os.path.join(workdir, "other")
    os.mkdir(other)
    vol2 = Volume(other, token)
    p = run([COFFRE, vol2.backing, mounted.mnt, "-o", vol2.mount_opts()], check=False)
    assert p.returncode == EXIT_MOUNTPOINT, (p.returncode, p.stderr)
    assert "already a coffre mount" in p.stderr
    assert len(mounts_of(mounted.mnt)) == 1


def test_fsname_is_backing_and_mount_a_is_idempotent(volume, workdir):
    """The fsname is the backing path, so `mount -a` of a fuse.coffre
    fstab line mounts once and then is a no-op; nosuid,nodev by default."""
    fstab = os.path.join(workdir, "fstab")
    with open(fstab, "w") as f:
        f.write(f"{volume.backing} {volume.mnt} fuse.coffre "
                f"conf={volume.conf},log_file={volume.log},_netdev,defaults 0 0\n")
    with coffre_on_default_path():
        try:
            for _ in range(2):
                p = run(["mount", "-a", "-T", fstab, "-t", "fuse.coffre"], check=False)
                assert p.returncode == 0, p.stderr
                assert len(mounts_of(volume.mnt)) == 1
            line = mountinfo_line(volume.mnt)
            assert line.split(" - ")[1].split()[:2] == ["fuse.coffre", volume.backing]
            opts = line.split()[5].split(",")
            assert "nosuid" in opts and "nodev" in opts, opts
        finally:
            unmount(volume.mnt)
    wait_released(volume)
    volume.mount("suid_ok,dev_ok")
    try:
        opts = mountinfo_line(volume.mnt).split()[5].split(",")
        assert "nosuid" not in opts and "nodev" not in opts, opts
    finally:
        volume.unmount()


def test_mount_point_of_a_dead_daemon_says_what_to_do(mounted):
    """After the daemon is killed, a new mount says how to clear the dead
    mount point (73); once cleared, it mounts."""
    (pid,) = daemons_for(mounted.backing)
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not daemons_for(mounted.backing):
            break
        time.sleep(0.05)
    with pytest.raises(OSError):
        os.listdir(mounted.mnt)
    p = mounted.mount(check=False)
    assert p.returncode == EXIT_MOUNTPOINT, (p.returncode, p.stderr)
    assert f"fusermount3 -u {mounted.mnt}" in p.stderr and "umount -l" in p.stderr
    run(["fusermount3", "-u", mounted.mnt])
    wait_released(mounted)
    mounted.mount()


def test_log_lines_are_stamped_and_status_warnings_logged(workdir, token):
    """log_file= lines carry an RFC 3339 stamp and a level; status exits 0
    healthy, 1 degraded with the warning in the log too, 3 unanswered."""
    backup = two_tokens(token)
    vol = Volume(workdir, token, extra_init=["--hsm", backup])
    vol.mount()
    try:
        p = run([COFFRECTL, "status", vol.mnt], check=False)
        assert p.returncode == 0 and "health: healthy" in p.stdout, p.stdout
        lines = vol.log_text().splitlines()
        assert lines and all(re.match(STAMP, l) for l in lines), lines
        assert any(re.match(STAMP.replace("(error|warning|notice|info)", "notice")
                            + "mounted ", l) for l in lines), lines
        shutil.rmtree(token_dir(token, token.label))     # the primary dies
        os.mkdir(vol.path("d"))                          # seals a DEK: fails over
        deadline = time.monotonic() + 30
        while "degraded: HSM 1" not in vol.log_text():
            assert time.monotonic() < deadline, vol.log_text()
            time.sleep(0.5)
        p = run([COFFRECTL, "status", vol.mnt, "--json"], check=False)
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        s = ctl_status(vol.mnt, as_json=True)
        assert s["health"] == "degraded" and s["warnings"][0].startswith("HSM 1 ")
    finally:
        vol.unmount()
    # umount returns when the kernel lets go; the daemon notices a moment
    # later and stops answering first of all.
    deadline = time.monotonic() + 10
    while True:
        p = run([COFFRECTL, "status", vol.mnt], check=False)
        if p.returncode != 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert p.returncode == 3 and "no coffre daemon" in p.stderr, (p.returncode, p.stdout)


def test_without_syslog_the_log_goes_to_logdir(volume):
    """With no /dev/log and no log_file=, the daemon logs to LOGDIR/NAME.log
    (directory 0700, file 0600) and says so at mount."""
    if os.path.exists("/dev/log"):
        pytest.skip("this machine has /dev/log: the daemon logs to syslog")
    path = os.path.join(LOGDIR, volume.conf + ".log")
    p = run([COFFRE, volume.backing, volume.mnt, "-o",
             f"conf={volume.conf},pin_file={volume.token.pin_file}"], check=False)
    try:
        assert p.returncode == 0, p.stderr
        assert f"logging to {path}" in p.stderr
        assert os.stat(LOGDIR).st_mode & 0o777 == 0o700
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as f:
            text = f.read()
        assert re.search(STAMP + "mounted ", text), text
    finally:
        unmount(volume.mnt)
        if os.path.exists(path):
            os.unlink(path)


def test_log_file_that_is_a_planted_hard_link_is_refused(volume, workdir):
    """log_file= naming a hard link to another file (planted where the
    log would go) is refused: the daemon, root, never appends to it."""
    victim = os.path.join(workdir, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    planted = os.path.join(workdir, "planted.log")
    os.link(victim, planted)
    p = run([COFFRE, volume.backing, volume.mnt, "-o",
             f"conf={volume.conf},log_file={planted}"], check=False)
    assert p.returncode != 0, p.stderr
    assert not is_mounted(volume.mnt)
    with open(victim) as f:
        assert f.read() == "precious\n"
