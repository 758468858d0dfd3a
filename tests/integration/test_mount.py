"""Mounting: the PIN, the token, the master key object, the volume lock,
fstab, allow_other and bad command lines."""
import json
import os
import re
import subprocess
import sys
import textwrap
import time

from conftest import COFFRE, COFFRECTL, Token, coffre_on_default_path, is_mounted, run, wait_released, write_pin

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def one_line(p):
    msg = p.stderr.strip()
    assert msg and "\n" not in msg, f"want a one-line reason, got {p.stderr!r}"
    return msg


def mounts_of(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return [line for line in f if path in line.split()[1]]


def conf_value(volume, key):
    with open(os.path.join(volume.backing, ".coffre.conf")) as f:
        for line in f:
            if line.startswith(key + " = "):
                return line.rstrip("\n").split(" = ", 1)[1]
    raise KeyError(key)


def mk_label(volume):
    return f"coffre-mk-{conf_value(volume, 'uuid')}-v1"


def pkcs11_tool(token, *args):
    return run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--login", "--pin", "1234",
                "--token-label", token.label, *args], check=False)


def daemons_for(backing):
    """pids of coffre processes serving this backing dir."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"coffre" and os.fsencode(backing) in argv:
            pids.append(int(pid))
    return pids


def write_read(volume, name="probe", data=b"still here\n"):
    with open(volume.path(name), "wb") as f:
        f.write(data)
    with open(volume.path(name), "rb") as f:
        assert f.read() == data


def test_wrong_pin_fails_then_right_pin_mounts(volume, workdir):
    """A wrong PIN fails the mount with one line about the PIN and mounts nothing; the right PIN then works."""
    bad = write_pin(os.path.join(workdir, "bad-pin"), "0000")
    p = volume.mount(pin_file=bad, check=False)
    assert p.returncode != 0
    assert "pin" in one_line(p).lower()
    assert not mounts_of(volume.mnt)
    assert not daemons_for(volume.backing)
    volume.mount()
    try:
        write_read(volume)
    finally:
        volume.unmount()


def test_missing_token_fails_with_one_line(volume, workdir):
    """With only another token present, the mount fails with one line and mounts nothing."""
    saved = os.environ["SOFTHSM2_CONF"]
    Token(workdir, label="somebody-else")       # points SOFTHSM2_CONF at the new, empty token
    assert os.environ["SOFTHSM2_CONF"] != saved
    p = volume.mount(check=False)
    assert p.returncode != 0
    msg = one_line(p)
    assert "coffre-test" in msg or "token" in msg.lower(), msg
    assert not mounts_of(volume.mnt)
    os.environ["SOFTHSM2_CONF"] = saved
    wait_released(volume)
    volume.mount()
    volume.unmount()


def test_deleted_master_key_object_fails_mount(volume):
    """With the master key object deleted from the token, the mount fails with one line."""
    label = mk_label(volume)
    listed = pkcs11_tool(volume.token, "--list-objects", "--type", "secrkey")
    assert label in listed.stdout, listed.stdout + listed.stderr
    d = pkcs11_tool(volume.token, "--delete-object", "--type", "secrkey", "--label", label)
    assert d.returncode == 0, d.stderr
    assert label not in pkcs11_tool(volume.token, "--list-objects", "--type", "secrkey").stdout
    p = volume.mount(check=False)
    assert p.returncode != 0
    one_line(p)
    assert not mounts_of(volume.mnt)


def test_second_mount_of_same_backing_is_refused(mounted, workdir):
    """Mounting the same backing dir twice is refused, saying where it is
    mounted, while the first mount keeps working."""
    write_read(mounted, "before")
    mnt2 = os.path.join(workdir, "mnt2")
    os.mkdir(mnt2)
    p = run([COFFRE, mounted.backing, mnt2, "-o", f"conf={mounted.conf}"], check=False)
    assert p.returncode != 0
    # Refused at once from the mount table, naming where it is mounted.
    assert f"already mounted on {os.path.realpath(mounted.mnt)}" in one_line(p)
    assert not is_mounted(mnt2)
    assert os.listdir(mnt2) == []
    write_read(mounted, "after")
    assert sorted(os.listdir(mounted.mnt)) == ["after", "before"]


def test_unmount_then_immediate_mount_works(volume):
    """`umount` followed at once by a new mount succeeds (the old daemon's lock must not refuse it)."""
    volume.mount()
    failures = []
    for i in range(20):
        write_read(volume, f"f{i}")
        volume.unmount()
        p = volume.mount(check=False)
        if p.returncode != 0:
            failures.append(p.stderr.strip())
            wait_released(volume)
            volume.mount()
    volume.unmount()
    assert not failures, f"{len(failures)} immediate remounts refused (of 20): {failures[0]}"


def test_master_key_is_sensitive_and_unreadable(volume):
    """`coffrectl hsm show` reports a sensitive, non-extractable key, and pkcs11-tool cannot read its value."""
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--conf", volume.conf])
    attrs = dict(re.findall(r"^([a-z_ ]+): (.*)$", p.stdout, re.M))
    assert attrs.get("master key") == mk_label(volume), p.stdout
    assert attrs.get("sensitive") == "yes", p.stdout
    assert attrs.get("extractable") == "no", p.stdout
    assert attrs.get("value_readable") == "no", p.stdout
    label = mk_label(volume)
    assert label in pkcs11_tool(volume.token, "--list-objects", "--type", "secrkey").stdout
    r = pkcs11_tool(volume.token, "--read-object", "--type", "secrkey", "--label", label)
    assert r.returncode != 0, f"key value was readable: {r.stdout!r}"


def test_fstab_entry_mounts_through_mount_fuse3(volume, workdir):
    """A fuse.coffre fstab line mounts with `mount -T` and unmounts with `umount`."""
    bindir = os.path.join(workdir, "bin")
    os.mkdir(bindir)
    os.symlink(os.path.realpath(COFFRE), os.path.join(bindir, "coffre"))
    fstab = os.path.join(workdir, "fstab")
    with open(fstab, "w") as f:
        f.write(f"{volume.backing} {volume.mnt} fuse.coffre "
                f"conf={volume.conf},log_file={volume.log},_netdev,defaults 0 0\n")
    env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
    with coffre_on_default_path():
        try:
            p = run(["mount", "-T", fstab, volume.mnt], check=False, env=env)
            assert p.returncode == 0, f"mount -T failed: {p.stderr}"
            assert is_mounted(volume.mnt)
            (line,) = mounts_of(volume.mnt)
            assert line.split()[2] == "fuse.coffre", line
            write_read(volume, "via-fstab")
            p = run(["umount", volume.mnt], check=False)
            assert p.returncode == 0, p.stderr
            assert not is_mounted(volume.mnt)
            wait_released(volume)
            volume.mount()
            with open(volume.path("via-fstab"), "rb") as f:
                assert f.read() == b"still here\n"
        finally:
            volume.unmount()


PROBE = textwrap.dedent("""
    import errno, json, os, sys
    out = {}
    def attempt(key, fn):
        try:
            out[key] = ["ok", fn()]
        except OSError as e:
            out[key] = ["err", errno.errorcode.get(e.errno, str(e.errno))]
    mnt = sys.argv[1]
    def rd(p):
        with open(p, "rb") as f:
            return f.read().decode()
    def wr(p):
        with open(p, "ab") as f:
            f.write(b"x")
        return "written"
    attempt("stat_root", lambda: oct(os.stat(mnt).st_mode))
    if len(sys.argv) > 2:
        attempt("read_a", lambda: rd(os.path.join(mnt, "d", "a")))
        attempt("read_b", lambda: rd(os.path.join(mnt, "d", "b")))
        attempt("write_b", lambda: wr(os.path.join(mnt, "d", "b")))
        attempt("create", lambda: wr(os.path.join(mnt, "d", "new")))
        attempt("mkdir", lambda: os.mkdir(os.path.join(mnt, "d", "newdir")))
    print(json.dumps(out))
""")


def as_nobody(*args):
    def drop():
        os.setgid(65534)
        os.setgroups([])
        os.setuid(65534)
    p = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                       text=True, preexec_fn=drop, cwd="/")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_allow_other_enforces_permissions(volume):
    """With allow_other another user gets exactly what the modes allow; without it, not even a stat of the root."""
    volume.mount("allow_other")
    try:
        d = volume.path("d")
        os.mkdir(d, 0o755)
        os.chmod(d, 0o755)
        for name, mode in (("a", 0o600), ("b", 0o644)):
            p = volume.path("d", name)
            with open(p, "w") as f:
                f.write(f"content of {name}\n")
            os.chown(p, 1000, 1000)
            os.chmod(p, mode)
        r = as_nobody(volume.mnt, "full")
        assert r["stat_root"][0] == "ok", r
        assert r["read_a"] == ["err", "EACCES"], r
        assert r["read_b"] == ["ok", "content of b\n"], r
        assert r["write_b"] == ["err", "EACCES"], r
        assert r["create"] == ["err", "EACCES"], r
        assert r["mkdir"] == ["err", "EACCES"], r
        assert sorted(os.listdir(d)) == ["a", "b"]
        with open(volume.path("d", "b")) as f:
            assert f.read() == "content of b\n"
    finally:
        volume.unmount()
    wait_released(volume)
    volume.mount()
    try:
        r = as_nobody(volume.mnt)
        assert r["stat_root"] == ["err", "EACCES"], r
    finally:
        volume.unmount()


def test_missing_mountpoint_fails_cleanly(volume, workdir):
    """A mount point that does not exist fails the mount and leaves no daemon or lock behind."""
    missing = os.path.join(workdir, "no-such-dir")
    p = run([COFFRE, volume.backing, missing, "-o", f"conf={volume.conf}"], check=False)
    assert p.returncode != 0
    assert not os.path.exists(missing)
    assert not mounts_of(workdir)
    time.sleep(0.2)
    assert not daemons_for(volume.backing)
    volume.mount()          # the volume lock was not left held
    volume.unmount()
    one_line(p)


def test_no_pin_option_says_how_to_give_it(volume):
    """Without pin_file the mount fails and says how to give the PIN."""
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    nopin = volume.conf_without_pin()
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={nopin}"], check=False, env=env)
    assert p.returncode != 0
    assert "pin_file=" in p.stderr, p.stderr
    assert not is_mounted(volume.mnt)
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={nopin},log_file={volume.log}"],
            check=False, env=env)
    assert p.returncode != 0
    assert "pin_file=" in p.stderr, p.stderr
    assert not is_mounted(volume.mnt)
