"""The mount configuration CONFDIR/NAME.conf (doc/FORMAT.md §10.2; issue 10,
case 3): the HSMs, and so the PKCS#11 modules loaded and handed the PIN,
come only from root's configuration, never from the backing dir.

* a module-path written into the backing config (edited, or even
  authenticated) is never loaded, with or without conf=, nor by coffrectl;
* conf=NAME mounts; a configuration that is group-writable, not root's, a
  symlink, a FIFO, a directory, too large, malformed, for another volume or
  another backing dir is refused at once with one clear reason;
* a volume without a configuration is refused with the `coffrectl conf
  adopt` command to run, and after running it the volume mounts.
"""
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import (ctl_status, COFFRE, COFFRECTL, CONFDIR, Volume, conf_name, conf_path,
                      is_mounted, run, unmount, volume_uuid, wait_released,
                      write_conf)

LIMIT = 30           # seconds: nothing here may take longer
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"

MARKER_SO = r"""
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
/* A "PKCS#11 module" that only records that it was loaded. */
__attribute__((constructor)) static void loaded(void)
{
	int fd = open(MARKER, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd >= 0) {
		(void)!write(fd, "loaded\n", 7);
		close(fd);
	}
}
"""


def build_marker_module(workdir, name="evil"):
    """A shared object whose constructor appends to a marker file: returns
    (path of the .so, path of the marker)."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler to build the marker module")
    src = os.path.join(workdir, name + ".c")
    so = os.path.join(workdir, name + ".so")
    marker = os.path.join(workdir, name + ".loaded")
    with open(src, "w") as f:
        f.write(MARKER_SO)
    run([cc, "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", so, src])
    return so, marker


def edit_backing_conf(vol, old, new):
    p = os.path.join(vol.backing, ".coffre.conf")
    with open(p) as f:
        text = f.read()
    assert old in text, text
    with open(p, "w") as f:
        f.write(text.replace(old, new))


def mount(vol, opts, check=False, **kw):
    p = run([COFFRE, vol.backing, vol.mnt, "-o", opts], check=False, timeout=LIMIT, **kw)
    if check:
        assert p.returncode == 0, p.stderr
        assert is_mounted(vol.mnt)
    return p


def refused(p, *words):
    """A refusal: non-zero, the words in its message, nothing mounted."""
    assert p.returncode != 0, p.stdout + p.stderr
    for w in words:
        assert w in p.stderr, f"{w!r} not in: {p.stderr}"
    return p.stderr


def write_read(vol, name, data=b"data\n"):
    with open(vol.path(name), "wb") as f:
        f.write(data)
    with open(vol.path(name), "rb") as f:
        assert f.read() == data


# --- issue 10, case 3: no code from the backing dir --------------------------------

def test_marker_module_is_detected_when_loaded(workdir, volume):
    """Control: the marker module does record a load when a command is told
    to use it (on its own command line), so its absence below means
    something."""
    so, marker = build_marker_module(workdir)
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--hsm",
             f"pkcs11:token=coffre-test?module-path={so}",
             "--pin-file", volume.token.pin_file], check=False, timeout=LIMIT)
    assert p.returncode != 0
    assert os.path.exists(marker), p.stderr


def test_module_path_edited_into_the_backing_config_is_never_loaded(workdir, volume):
    """The case of issue 10: a module-path edited into .coffre.conf.  A mount
    with conf=NAME logs into the configured HSM only and refuses the edited
    config (its MAC); a mount without conf= is refused before anything is
    loaded and offers the adopt command without the edited module; no
    coffrectl command loads it either."""
    so, marker = build_marker_module(workdir)
    volume.mount()
    write_read(volume, "before")
    volume.unmount()
    wait_released(volume)
    uri = volume.token.uri
    edit_backing_conf(volume, f"hsm = {uri}\n", f"hsm = {uri}?module-path={so}\n")

    err = refused(mount(volume, volume.mount_opts()), "does not authenticate")
    assert not is_mounted(volume.mnt)
    err = refused(mount(volume, volume.mount_opts(conf=False)), "conf=",
                  "coffrectl conf adopt ")
    assert so not in err and "module-path" not in err.split("\n")[1], err
    assert not is_mounted(volume.mnt)
    for cmd in (["hsm", "show", volume.backing, "--conf", volume.conf],
                ["key", "rotate-master", volume.backing, "--conf", volume.conf],
                ["conf", "adopt", volume.backing, conf_name(), "--hsm", uri,
                 "--pin-file", volume.token.pin_file],
                ["hsm", "show", volume.backing, "--pin-file", volume.token.pin_file]):
        p = run([COFFRECTL] + cmd, check=False, timeout=LIMIT)
        assert p.returncode != 0, (cmd, p.stdout)
    assert not os.path.exists(marker), "the module named by the backing dir was loaded"

    # Undone, the volume mounts again: the refusals were the edit's.
    edit_backing_conf(volume, f"hsm = {uri}?module-path={so}\n", f"hsm = {uri}\n")
    volume.mount()
    with open(volume.path("before"), "rb") as f:
        assert f.read() == b"data\n"
    volume.unmount()
    assert not os.path.exists(marker)


def test_authenticated_module_path_in_the_volume_is_not_loaded_either(workdir, token):
    """Even a module-path the volume's config names legitimately (its MAC
    holds) selects nothing: the library at that path is swapped for the
    marker module, and neither the mount with conf= nor coffrectl loads it;
    a mount without conf= is refused and offers the URI without it."""
    so, marker = build_marker_module(workdir)
    lib = os.path.join(workdir, "softhsm-copy.so")
    shutil.copy(SOFTHSM, lib)
    # The volume is made with the copied module named in its config (init
    # loads it: that is the operator's own choice on the command line).
    vol = Volume.__new__(Volume)
    vol.root, vol.token, vol.conf = workdir, token, conf_name()
    vol.backing = os.path.join(workdir, "backing")
    vol.mnt = os.path.join(workdir, "mnt")
    vol.log = os.path.join(workdir, "coffre.log")
    os.mkdir(vol.mnt)
    run([COFFRECTL, "init", "--conf", vol.conf, "--hsm",
         f"pkcs11:token={token.label}?module-path={lib}", "--pin-file", token.pin_file,
         vol.backing])
    with open(os.path.join(vol.backing, ".coffre.conf")) as f:
        assert f"module-path={lib}" in f.read()
    # The mount configuration names the token through p11-kit instead.
    write_conf(vol.conf, vol.backing, [token.uri], pin_file=token.pin_file)
    shutil.copy(so, lib)                     # the library is now hostile
    mount(vol, vol.mount_opts(), check=True)
    try:
        write_read(vol, "f")
        out = ctl_status(vol.mnt, timeout=LIMIT)
        assert token.uri in out and lib not in out, out
    finally:
        vol.unmount()
    wait_released(vol)
    err = refused(mount(vol, vol.mount_opts(conf=False)), "coffrectl conf adopt ")
    assert f"--hsm pkcs11:token={token.label} " in err and lib not in err, err
    run([COFFRECTL, "hsm", "show", vol.backing, "--conf", vol.conf], timeout=LIMIT)
    assert not os.path.exists(marker), "the module named by the backing dir was loaded"


# --- conf=NAME: what is accepted, what is refused ----------------------------------

def test_conf_with_module_path_mounts(workdir, volume):
    """module-path is allowed in the mount configuration (it is root's)."""
    name = write_conf(conf_name(), volume.backing,
                      [f"{volume.token.uri}?module-path={SOFTHSM}"],
                      pin_file=volume.token.pin_file)
    mount(volume, f"conf={name},log_file={volume.log}", check=True)
    try:
        write_read(volume, "x")
    finally:
        volume.unmount()


def test_conf_file_checks_refuse_clearly_and_never_hang(workdir, volume, token):
    """Each bad configuration is refused within seconds with its reason."""
    vol = volume
    good = conf_path(vol.conf)
    with open(good) as f:
        text = f.read()
    name = conf_name("bad")
    path = conf_path(name)

    def attempt(*words):
        t0 = time.monotonic()
        err = refused(mount(vol, f"conf={name},log_file={vol.log}"), *words)
        assert time.monotonic() - t0 < LIMIT
        assert not is_mounted(vol.mnt)
        assert len(err.strip().splitlines()) == 1, err
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        return err

    def put(content, mode=0o600):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(path, mode)

    attempt("no mount configuration", f"coffrectl init --conf {name}")
    put(text, 0o620)
    attempt("must be owned by root and writable by no one else")
    put(text, 0o602)
    attempt("must be owned by root and writable by no one else")
    put(text)
    os.chown(path, 65534, 0)
    attempt("must be owned by root")
    os.symlink(good, path)
    attempt("symlink")
    os.mkfifo(path, 0o600)
    attempt("not a regular file")
    os.mkdir(path, 0o700)
    attempt("not a regular file")
    put(text + "#" * 70000 + "\n")
    attempt("larger than 65536")
    put(text + "module = /usr/lib/x.so\n")
    attempt("malformed")
    put(text.replace("\nhsm = ", "\nhsm =  "))
    attempt("malformed")
    other = text.replace(volume_uuid(vol.backing), "0" * 32)
    put(other)
    attempt("not " + "0" * 32)
    # Another volume's backing dir (the uuid is then wrong too: the
    # directory check comes first).
    other_vol = Volume(os.path.join(workdir, "other"), token)
    put(text.replace(os.path.realpath(vol.backing), os.path.realpath(other_vol.backing)))
    attempt("is not the backing directory", os.path.realpath(other_vol.backing))
    refused(mount(vol, "conf=../etc/passwd"), "configuration name")
    refused(mount(vol, "conf=Bad"), "configuration name")
    assert not is_mounted(vol.mnt)

    # The directory itself: group-writable, then a symlink to a good copy.
    mode = stat.S_IMODE(os.stat(CONFDIR).st_mode)
    try:
        os.chmod(CONFDIR, 0o770)
        err = refused(mount(vol, vol.mount_opts()), "writable by no one else")
        assert CONFDIR in err, err
    finally:
        os.chmod(CONFDIR, mode)
    vol.mount()
    vol.unmount()


def test_options_win_over_the_configuration(workdir, volume):
    """pin_file= given at mount wins over the file's (here a wrong one)."""
    wrong = os.path.join(workdir, "wrong-pin")
    fd = os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"9999\n")
    os.close(fd)
    name = write_conf(conf_name(), volume.backing, [volume.token.uri], pin_file=wrong)
    refused(mount(volume, f"conf={name},log_file={volume.log}"), "PIN")
    mount(volume, f"conf={name},pin_file={volume.token.pin_file},log_file={volume.log}",
          check=True)
    volume.unmount()


# --- conf adopt -----------------------------------------------------------------

def test_adopt_an_existing_volume_then_mount(workdir, volume):
    """A volume without a configuration (made before them) is refused with
    the adopt command; running that command (with the PIN file) makes the
    configuration from the HSM on its command line, and the volume mounts
    with everything in it."""
    volume.mount()
    write_read(volume, "kept", b"kept across the move\n")
    volume.unmount()
    wait_released(volume)
    os.unlink(conf_path(volume.conf))            # an "old" volume
    err = refused(mount(volume, f"pin_file={volume.token.pin_file}"),
                  "coffrectl conf adopt ")
    line = [ln for ln in err.splitlines() if "coffrectl conf adopt " in ln][0].strip()
    argv = line.split()
    assert argv[:3] == ["coffrectl", "conf", "adopt"], line
    assert argv[3] == os.path.realpath(volume.backing)
    assert argv[argv.index("--hsm") + 1] == volume.token.uri
    assert argv[argv.index("--pin-file") + 1] == volume.token.pin_file
    name = argv[4]
    p = run([COFFRECTL] + argv[1:], timeout=LIMIT)
    assert f"-o conf={name}" in p.stdout, p.stdout
    try:
        with open(conf_path(name)) as f:
            conf = f.read()
        assert f"backing = {os.path.realpath(volume.backing)}\n" in conf
        assert f"uuid = {volume_uuid(volume.backing)}\n" in conf
        assert f"hsm = {volume.token.uri}\n" in conf
        assert stat.S_IMODE(os.stat(conf_path(name)).st_mode) == 0o600
        mount(volume, f"conf={name},log_file={volume.log}", check=True)
        with open(volume.path("kept"), "rb") as f:
            assert f.read() == b"kept across the move\n"
        volume.unmount()
    finally:
        os.unlink(conf_path(name))


def test_adopt_checks_the_hsms_and_the_name(workdir, volume, token):
    """adopt refuses an HSM that does not answer or lacks the master key, an
    existing name (unless --force), a bad name; it writes nothing then."""
    name = conf_name("adopt")
    base = [COFFRECTL, "conf", "adopt", volume.backing, name, "--pin-file",
            token.pin_file]
    p = run(base + ["--hsm", "pkcs11:token=nope"], check=False, timeout=LIMIT)
    assert p.returncode != 0 and "nope" in p.stderr, p.stderr
    run(["softhsm2-util", "--init-token", "--free", "--label", "empty",
         "--pin", "1234", "--so-pin", "5678"])
    p = run(base + ["--hsm", token.uri, "--hsm", "pkcs11:token=empty"], check=False,
            timeout=LIMIT)
    assert p.returncode != 0 and "pkcs11:token=empty" in p.stderr, p.stderr
    p = run(base + ["--conf", volume.conf], check=False)
    assert p.returncode == 2
    assert not os.path.exists(conf_path(name))
    p = run(base[:4] + ["Not-A-Name", "--hsm", token.uri, "--pin-file", token.pin_file],
            check=False)
    assert p.returncode != 0 and "configuration name" in p.stderr
    # The volume's own name is taken: refused, then replaced with --force.
    before = open(conf_path(volume.conf)).read()
    p = run(base[:4] + [volume.conf, "--hsm", token.uri, "--pin-file", token.pin_file],
            check=False)
    assert p.returncode != 0 and "--force" in p.stderr
    assert open(conf_path(volume.conf)).read() == before
    run(base[:4] + [volume.conf, "--hsm", f"{token.uri}?module-path={SOFTHSM}",
                    "--pin-file", token.pin_file, "--force"], timeout=LIMIT)
    assert f"module-path={SOFTHSM}" in open(conf_path(volume.conf)).read()
    volume.mount()
    volume.unmount()


def test_adopt_keeps_the_volume_bucket_and_works_mounted(workdir, token):
    """The bucket comes from the (authenticated) volume config unless
    --bucket is given; adopt works on a mounted volume (no lock)."""
    bucket = os.path.join(workdir, "bucket")
    os.mkdir(bucket)
    vol = Volume(workdir, token, extra_init=["--bucket", bucket])
    vol.mount()
    try:
        name = conf_name("adopt")
        run([COFFRECTL, "conf", "adopt", vol.backing, name, "--hsm", token.uri,
             "--pin-file", token.pin_file], timeout=LIMIT)
        with open(conf_path(name)) as f:
            assert f"bucket = {os.path.realpath(bucket)}\n" in f.read()
        other = os.path.join(workdir, "elsewhere")
        os.mkdir(other)
        run([COFFRECTL, "conf", "adopt", vol.backing, name, "--hsm", token.uri,
             "--pin-file", token.pin_file, "--bucket", other, "--force"], timeout=LIMIT)
        with open(conf_path(name)) as f:
            assert f"bucket = {os.path.realpath(other)}\n" in f.read()
    finally:
        vol.unmount()


def test_coffrectl_takes_hsms_from_conf_or_command_line_only(workdir, volume):
    """Commands that open a volume need --conf NAME or --hsm; --conf checks
    that BACKING is its backing dir; both at once is a usage error."""
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--pin-file",
             volume.token.pin_file], check=False)
    assert p.returncode == 2 and "--conf NAME" in p.stderr and "--hsm" in p.stderr
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--conf", volume.conf,
             "--hsm", volume.token.uri], check=False)
    assert p.returncode == 2 and "not both" in p.stderr
    other = os.path.join(workdir, "elsewhere")
    os.mkdir(other)
    p = run([COFFRECTL, "hsm", "show", other, "--conf", volume.conf], check=False)
    assert p.returncode != 0 and "not the backing directory" in p.stderr
    # --conf also gives the PIN file
    p = run([COFFRECTL, "hsm", "show", volume.backing, "--conf", volume.conf])
    assert "state: up" in p.stdout
    p = run([COFFRECTL, "init", "--hsm", volume.token.uri, "--pin-file",
             volume.token.pin_file, os.path.join(workdir, "b2")], check=False)
    assert p.returncode == 2 and "--conf NAME" in p.stderr
    p = run([COFFRECTL, "init", "--conf", volume.conf, "--hsm", volume.token.uri,
             "--pin-file", volume.token.pin_file, os.path.join(workdir, "b3")],
            check=False)
    assert p.returncode != 0 and "exists already" in p.stderr
    assert not os.path.exists(os.path.join(workdir, "b3"))


def test_enroll_rewrites_the_configuration(workdir, token):
    """hsm enroll --conf NAME adds the new token to the configuration
    (atomically, mode 0600); the mount then uses it."""
    shares = os.path.join(workdir, "shares")
    vol = Volume(workdir, token, extra_init=["--shares-dir", shares])
    run(["softhsm2-util", "--init-token", "--free", "--label", "second",
         "--pin", "1234", "--so-pin", "5678"])
    five = sorted(os.path.join(shares, n) for n in os.listdir(shares))[:5]
    cmd = [COFFRECTL, "hsm", "enroll", vol.backing, "--hsm", "pkcs11:token=second",
           "--conf", vol.conf, "--pin-file", token.pin_file]
    for s in five:
        cmd += ["--share", s]
    run(cmd, timeout=LIMIT)
    with open(conf_path(vol.conf)) as f:
        lines = [ln for ln in f.read().splitlines() if ln.startswith("hsm = ")]
    assert lines == [f"hsm = {token.uri}", "hsm = pkcs11:token=second"]
    assert stat.S_IMODE(os.stat(conf_path(vol.conf)).st_mode) == 0o600
    assert not [n for n in os.listdir(CONFDIR) if n.startswith(".coffre.tmp")]
    vol.mount()
    try:
        s = ctl_status(vol.mnt)
        assert "pkcs11:token=second" in s, s
    finally:
        vol.unmount()


def test_help_names_the_configuration(workdir):
    p = run([COFFRE, "--help"])
    assert "conf=NAME" in p.stdout and CONFDIR in p.stdout
    p = run([COFFRECTL, "--help"])
    assert "conf adopt BACKING NAME" in p.stdout and CONFDIR in p.stdout


# --- the mountpoint line -----------------------------------------------------------

def conf_lines(name):
    with open(conf_path(name)) as f:
        return f.read().splitlines()


def test_init_mountpoint_then_mount_by_name_alone(workdir, token):
    """init --mountpoint writes the line; `coffre -o conf=NAME` with no
    SOURCE or MOUNTPOINT mounts there."""
    mnt = os.path.join(workdir, "by-name")
    os.mkdir(mnt)
    vol = Volume(workdir, token, extra_init=["--mountpoint", mnt])
    assert f"mountpoint = {os.path.realpath(mnt)}" in conf_lines(vol.conf)
    p = run([COFFRE, "-o", f"conf={vol.conf},pin_file={token.pin_file},"
             f"log_file={vol.log}"], check=False, timeout=LIMIT)
    try:
        assert p.returncode == 0, p.stderr
        assert is_mounted(mnt) and not is_mounted(vol.mnt)
        with open(os.path.join(mnt, "f"), "w") as f:
            f.write("here")
    finally:
        unmount(mnt)
    assert os.listdir(mnt) == []


def test_adopt_mountpoint_written_kept_on_force_and_replaced(workdir, volume):
    """adopt --mountpoint writes the line; adopt --force without it keeps
    the line; with another, replaces it; the volume mounts by name."""
    name = conf_name("mp")
    base = [COFFRECTL, "conf", "adopt", volume.backing, name, "--hsm",
            volume.token.uri, "--pin-file", volume.token.pin_file]
    other = os.path.join(workdir, "other-mnt")
    os.mkdir(other)
    run(base + ["--mountpoint", other], timeout=LIMIT)
    assert f"mountpoint = {os.path.realpath(other)}" in conf_lines(name)
    run(base + ["--force"], timeout=LIMIT)
    assert f"mountpoint = {os.path.realpath(other)}" in conf_lines(name)
    run(base + ["--force", "--mountpoint", volume.mnt], timeout=LIMIT)
    lines = conf_lines(name)
    assert f"mountpoint = {os.path.realpath(volume.mnt)}" in lines
    assert not [ln for ln in lines if ln.startswith("mountpoint") and "other" in ln]
    p = run([COFFRE, "-o", f"conf={name},log_file={volume.log}"], check=False,
            timeout=LIMIT)
    try:
        assert p.returncode == 0, p.stderr
        assert is_mounted(volume.mnt) and not is_mounted(other)
        write_read(volume, "g")
    finally:
        volume.unmount()
