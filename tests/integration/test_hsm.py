"""Several HSMs side by side: failover under load, degraded mounts, refusal
when two HSMs hold different master keys, and `coffrectl status`."""
import glob
import os
import shutil
import subprocess
import threading

from conftest import (ctl_status, COFFRE, COFFRECTL, Volume, conf_name, conf_path, is_mounted, run,
                      write_conf)


def token_dir(token, label):
    """The SoftHSM2 storage directory of the token with this label."""
    for obj in glob.glob(os.path.join(token.dir, "tokens", "*", "token.object")):
        with open(obj, "rb") as f:
            if label.encode() in f.read():
                return os.path.dirname(obj)
    raise FileNotFoundError(label)


def two_tokens(token):
    """Add a second token 'coffre-backup' beside the fixture's token."""
    run(["softhsm2-util", "--init-token", "--free", "--label", "coffre-backup",
         "--pin", "1234", "--so-pin", "5678"])
    return "pkcs11:token=coffre-backup"


def status(mnt, as_json=False):
    return ctl_status(mnt, as_json)


def test_failover_under_load_sees_no_error(workdir, token):
    """Killing the primary HSM mid-workload fails over with no error seen."""
    backup = two_tokens(token)
    vol = Volume(workdir, token, extra_init=["--hsm", backup])
    vol.mount()
    try:
        errors, done = [], threading.Event()

        def workload():
            i = 0
            while not done.is_set() or i < 40:   # at least 40 rounds
                try:
                    d = vol.path(f"dir{i}")
                    os.mkdir(d)                      # seals a new DEK on the HSM
                    with open(os.path.join(d, "f"), "wb") as f:
                        f.write(os.urandom(20000))
                    with open(os.path.join(d, "f"), "rb") as f:
                        assert len(f.read()) == 20000
                except Exception as e:  # noqa: BLE001 - any error is a failure
                    errors.append(repr(e))
                i += 1

        t = threading.Thread(target=workload)
        t.start()
        shutil.rmtree(token_dir(token, token.label))   # the primary dies
        done.set()                                     # finish the 40 rounds
        t.join(timeout=120)
        assert not t.is_alive()
        assert not errors, errors[:3]
        s = status(vol.mnt, as_json=True)
        assert s["degraded"] is True
        assert s["hsms"][0]["state"] == "down" and s["hsms"][0]["failovers"] >= 1
        assert s["hsms"][1]["state"] == "up"
        assert "failing over" in vol.log_text()
        # Everything written is still there, and cold keys unseal on the backup.
        vol.remount()
        assert len(os.listdir(vol.mnt)) >= 40
        with open(vol.path("dir3", "f"), "rb") as f:
            assert len(f.read()) == 20000
    finally:
        vol.unmount()


def test_degraded_mount_when_one_hsm_is_missing(workdir, token):
    """With one of two HSMs gone at mount time, the mount works, degraded."""
    backup = two_tokens(token)
    vol = Volume(workdir, token, extra_init=["--hsm", backup])
    vol.mount()
    with open(vol.path("before"), "w") as f:
        f.write("kept")
    os.mkdir(vol.path("sub"))
    vol.unmount()
    shutil.rmtree(token_dir(token, "coffre-backup"))
    vol.mount()
    try:
        text = status(vol.mnt)
        assert "DEGRADED" in text and "1 of 2 up" in text
        assert "DEGRADED" in vol.log_text()
        with open(vol.path("before")) as f:
            assert f.read() == "kept"
        os.mkdir(vol.path("sub", "new"))
    finally:
        vol.unmount()


def test_mount_refused_when_check_values_differ(workdir, token):
    """Two HSMs holding different master keys: the mount is refused."""
    backup = two_tokens(token)
    vol = Volume(workdir, token, extra_init=["--hsm", backup])
    # Put a different key under the same label into the backup token.
    label = run(["sh", "-c", f"grep '^uuid' {vol.backing}/.coffre.conf"]).stdout.split()[-1]
    mk = f"coffre-mk-{label}-v1"
    p11 = ["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so",
           "--token-label", "coffre-backup", "--login", "--pin", "1234"]
    run(p11 + ["--delete-object", "--type", "secrkey", "--label", mk])
    run(p11 + ["--keygen", "--key-type", "AES:32", "--label", mk, "--sensitive"])
    p = vol.mount(check=False)
    assert p.returncode != 0
    assert "different master key" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not is_mounted(vol.mnt)


def test_init_refuses_an_unknown_hsm_and_leaves_nothing(workdir, token):
    """init with an HSM that does not answer fails and makes no volume."""
    backing = os.path.join(workdir, "b2")
    name = conf_name()
    p = run([COFFRECTL, "init", "--conf", name, "--hsm", token.uri, "--hsm",
             "pkcs11:token=nope", "--pin-file", token.pin_file, backing], check=False)
    assert p.returncode != 0
    assert "nope" in p.stderr
    assert not os.path.exists(os.path.join(backing, ".coffre.conf"))
    assert not os.path.exists(conf_path(name))


def test_status_without_a_mount_fails_clearly(workdir):
    """`coffrectl status` on a directory nothing serves says so."""
    p = run([COFFRECTL, "status", workdir], check=False)
    assert p.returncode != 0 and "no coffre daemon" in p.stderr


def test_pin_from_a_systemd_credential(workdir, volume):
    """With no pin_file=, the PIN comes from $CREDENTIALS_DIRECTORY/coffre-pin."""
    creds = os.path.join(workdir, "creds")
    os.mkdir(creds, 0o700)
    shutil.copy(volume.token.pin_file, os.path.join(creds, "coffre-pin"))
    os.chmod(os.path.join(creds, "coffre-pin"), 0o600)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    # The unit's credential wins over the configuration's pin_file (here
    # a wrong PIN), not over pin_file= on the command line.
    wrong = os.path.join(workdir, "wrong-pin")
    with open(os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("9999\n")
    name = write_conf(conf_name(), volume.backing, [volume.token.uri], pin_file=wrong)
    p = run([COFFRE, volume.backing, volume.mnt, "-o",
             f"conf={name},pin_file={wrong},log_file={volume.log}"], check=False, env=env)
    assert p.returncode != 0 and "PIN" in p.stderr, p.stderr
    nopin = volume.conf_without_pin()
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={name},log_file={volume.log}"],
            check=False, env=env)
    try:
        assert p.returncode == 0, p.stderr
        assert is_mounted(volume.mnt)
        with open(volume.path("f"), "w") as f:
            f.write("unattended")
    finally:
        volume.unmount()
    # Without either, the mount says how to give the PIN.
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    p = run([COFFRE, volume.backing, volume.mnt, "-o", f"conf={nopin}"], check=False, env=env)
    assert p.returncode != 0 and "pin_file" in p.stderr
    assert not is_mounted(volume.mnt)
