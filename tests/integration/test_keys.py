"""The key lifecycle (DESIGN.md §3): custodians' shares, enrolling a
replacement HSM, master key rotation (live and offline), reissuing shares,
volumes made without a recovery key, and rotation refused while degraded."""
import glob
import os
import re
import shutil
import threading

from conftest import (ctl_status, COFFRECTL, Volume, conf_for, conf_name, is_mounted, run, wait_released,
                      write_pin)

P11_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


# --- helpers ---------------------------------------------------------------

def new_token(label):
    """Initialise another SoftHSM2 token (PIN 1234) in the current SOFTHSM2_CONF."""
    run(["softhsm2-util", "--init-token", "--free", "--label", label,
         "--pin", "1234", "--so-pin", "5678"])
    return f"pkcs11:token={label}"


def kill_token(token, label):
    """Destroy a token by deleting its SoftHSM2 storage directory."""
    for obj in glob.glob(os.path.join(token.dir, "tokens", "*", "token.object")):
        with open(obj, "rb") as f:
            if label.encode() in f.read():
                shutil.rmtree(os.path.dirname(obj))
                return
    raise FileNotFoundError(label)


def key_labels(label):
    """Labels of the secret key objects on the token with this label."""
    out = run(["pkcs11-tool", "--module", P11_MODULE, "--token-label", label,
               "--login", "--pin", "1234", "--list-objects", "--type", "secrkey"]).stdout
    return sorted(re.findall(r"label:\s+(\S+)", out))


def conf_bytes(vol):
    with open(os.path.join(vol.backing, ".coffre.conf"), "rb") as f:
        return f.read()


def conf_value(vol, key):
    """The value of `key = value` in the volume config (None if absent)."""
    for line in conf_bytes(vol).decode().splitlines():
        k, _, v = line.partition("=")
        if k.strip() == key:
            return v.strip()
    return None


def mk_label(vol, version):
    return f"coffre-mk-{conf_value(vol, 'uuid')}-v{version}"


def escrows(vol):
    d = os.path.join(vol.backing, ".coffre", "escrow")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def snapshot(vol):
    """Every byte of the volume's own state (config, key records, escrow)."""
    snap = {".coffre.conf": conf_bytes(vol)}
    for dirpath, _, files in os.walk(os.path.join(vol.backing, ".coffre")):
        for n in files:
            p = os.path.join(dirpath, n)
            if os.path.relpath(p, vol.backing) == os.path.join(".coffre", "lock"):
                continue
            with open(p, "rb") as f:
                snap[os.path.relpath(p, vol.backing)] = f.read()
    return snap


def share_files(d):
    return sorted(glob.glob(os.path.join(d, "share-*-of-*.txt")),
                  key=lambda p: int(re.search(r"share-(\d+)-of", p).group(1)))


def enroll(vol, uri, shares, pin_file=None):
    """hsm enroll, adding the token to the volume's mount configuration."""
    cmd = [COFFRECTL, "hsm", "enroll", vol.backing, "--hsm", uri, "--conf", vol.conf,
           "--pin-file", pin_file or vol.token.pin_file]
    for s in shares:
        cmd += ["--share", s]
    return run(cmd, check=False)


def rotate(target, pin_file, extra=()):
    """rotate-master on a mount point, or on a backing dir with its mount
    configuration's HSMs."""
    conf = ["--conf", conf_for(target)] if os.path.exists(
        os.path.join(target, ".coffre.conf")) else []
    return run([COFFRECTL, "key", "rotate-master", target, "--pin-file", pin_file]
               + conf + list(extra), check=False)


def status_json(mnt):
    return ctl_status(mnt, as_json=True)


def content(d, i):
    return (f"{d}/{i} ".encode() * (97 * (i + 1)))[: 1000 * (i + 3)]


def write_tree(vol, dirs=("docs", "docs/deep", "photos", "src/a/b", "empty-dir")):
    """A few directories (each its own DEK) with files in them."""
    for d in dirs:
        os.makedirs(vol.path(d), exist_ok=True)
        for i in range(3):
            with open(vol.path(d, f"f{i}"), "wb") as f:
                f.write(content(d, i))
    return list(dirs)


def check_tree(vol, dirs):
    for d in dirs:
        for i in range(3):
            with open(vol.path(d, f"f{i}"), "rb") as f:
                assert f.read() == content(d, i), f"{d}/f{i}"


def two_token_volume(workdir, token, shares=True, extra=()):
    """A volume on the fixture's token and 'coffre-backup', shares in workdir/shares."""
    backup = new_token("coffre-backup")
    init = ["--hsm", backup] + list(extra)
    if shares:
        init += ["--shares-dir", os.path.join(workdir, "shares")]
    return Volume(workdir, token, extra_init=init)


def populated(vol):
    vol.mount()
    try:
        dirs = write_tree(vol)
    finally:
        vol.unmount()
        wait_released(vol)
    return dirs


# --- 1. enrolling a replacement HSM ------------------------------------------

def test_enroll_replacement_hsm_from_five_shares(workdir, token):
    """Token A dies; a new token C enrolled from 5 of 7 shares serves the data."""
    vol = two_token_volume(workdir, token)
    shares = share_files(os.path.join(workdir, "shares"))
    assert [os.path.basename(s) for s in shares] == [f"share-{i}-of-7.txt" for i in range(1, 8)]
    for s in shares:
        assert os.stat(s).st_mode & 0o777 == 0o400
    assert conf_value(vol, "recovery_key") and conf_value(vol, "shares") == "5/7"
    assert escrows(vol) == ["mk-v1"]
    dirs = populated(vol)

    kill_token(token, token.label)
    c = new_token("coffre-new")
    p = enroll(vol, c, [shares[0], shares[2], shares[3], shares[5], shares[6]])
    assert p.returncode == 0, p.stderr
    assert f"hsm = {c}" in conf_bytes(vol).decode()
    assert key_labels("coffre-new") == [mk_label(vol, 1)]

    show = run([COFFRECTL, "hsm", "show", vol.backing, "--conf", vol.conf]).stdout
    shown = show.split("\nhsm ")[1:]
    assert len(shown) == 3, show
    assert "state: down" in shown[0], show
    assert f"{c}\ntoken: coffre-new\nstate: up" in shown[2], show
    assert "sensitive: yes" in shown[2] and "extractable: no" in shown[2], show

    vol.mount()
    try:
        check_tree(vol, dirs)
        os.mkdir(vol.path("after-enroll"))
        with open(vol.path("after-enroll", "x"), "w") as f:
            f.write("new")
        s = status_json(vol.mnt)
        states = {h["uri"]: h["state"] for h in s["hsms"]}
        assert states[c] == "up", s
        assert states[token.uri] == "down", s
        assert states["pkcs11:token=coffre-backup"] == "up", s
    finally:
        vol.unmount()
    # The new token alone (backup gone too) opens everything.
    wait_released(vol)
    kill_token(token, "coffre-backup")
    vol.mount()
    try:
        check_tree(vol, dirs)
        with open(vol.path("after-enroll", "x")) as f:
            assert f.read() == "new"
    finally:
        vol.unmount()


def test_enroll_refuses_bad_share_sets_and_changes_nothing(workdir, token):
    """Too few, foreign, corrupted and duplicated shares, or a wrong PIN: refused, nothing changed."""
    vol = two_token_volume(workdir, token)
    shares = share_files(os.path.join(workdir, "shares"))
    other = Volume(os.path.join(workdir, "other"), token,
                   extra_init=["--shares-dir", os.path.join(workdir, "other-shares")])
    foreign = share_files(os.path.join(workdir, "other-shares"))
    populated(vol)
    c = new_token("coffre-new")
    before = snapshot(vol)

    def refused(p, *words):
        assert p.returncode != 0, p.stdout
        for w in words:
            assert w in p.stderr, p.stderr
        assert snapshot(vol) == before
        assert key_labels("coffre-new") == []

    refused(enroll(vol, c, shares[:4]), "need 5 shares, got 4")
    refused(enroll(vol, c, foreign[:5]), "not this volume's")
    refused(enroll(vol, c, shares[:4] + foreign[4:5]), "different splits")

    bad = os.path.join(workdir, "bad-share.txt")
    with open(shares[4]) as f:
        lines = f.read().split("\n")
    body = list(lines[1])
    body[20] = "B" if body[20] == "A" else "A"
    lines[1] = "".join(body)
    with open(bad, "w") as f:
        f.write("\n".join(lines))
    refused(enroll(vol, c, shares[:4] + [bad]), "bad-share.txt", "corrupted")

    refused(enroll(vol, c, shares[:4] + [shares[3]]), "duplicate")

    wrong = write_pin(os.path.join(workdir, "wrong-pin"), "9999")
    refused(enroll(vol, c, shares[:5], pin_file=wrong), "coffre-new", "PIN incorrect")
    refused(enroll(vol, "pkcs11:token=nope", shares[:5]), "nope")

    refused(enroll(vol, c, []), "--share")

    # While mounted the volume is locked: enroll waits for the unmount.
    vol.mount()
    try:
        refused(enroll(vol, c, shares[:5]), "in use")
    finally:
        vol.unmount()
        wait_released(vol)
    # The other volume was not touched by any of this.
    assert escrows(other) == ["mk-v1"]


def test_enroll_refused_on_a_volume_without_recovery_key(workdir, token):
    """A volume made without --shares-dir cannot enroll an HSM, and says why."""
    backup = new_token("coffre-backup")
    name = conf_name()
    p = run([COFFRECTL, "init", "--conf", name, "--hsm", token.uri, "--hsm", backup,
             "--pin-file", token.pin_file, os.path.join(workdir, "backing")])
    assert "WARNING" in p.stdout and "only copies" in p.stdout
    vol = Volume.__new__(Volume)
    vol.root, vol.token, vol.conf = workdir, token, name
    vol.backing = os.path.join(workdir, "backing")
    assert conf_value(vol, "recovery_key") is None
    assert escrows(vol) == []
    other = Volume(os.path.join(workdir, "other"), token,
                   extra_init=["--shares-dir", os.path.join(workdir, "other-shares")])
    c = new_token("coffre-new")
    before = snapshot(vol)
    p = enroll(vol, c, share_files(os.path.join(workdir, "other-shares"))[:5])
    assert p.returncode != 0
    assert "no recovery key" in p.stderr, p.stderr
    assert snapshot(vol) == before
    assert key_labels("coffre-new") == []
    assert escrows(other) == ["mk-v1"]


def test_enroll_a_replacement_token_with_the_same_label(workdir, token):
    """A dead token replaced by a new one under the same label: enroll, mount not degraded."""
    vol = two_token_volume(workdir, token)
    shares = share_files(os.path.join(workdir, "shares"))
    dirs = populated(vol)
    kill_token(token, token.label)
    new_token(token.label)
    before = conf_bytes(vol)
    p = enroll(vol, token.uri, shares[1:6])
    assert p.returncode == 0, p.stderr
    assert conf_bytes(vol) == before      # the URI is already listed
    assert key_labels(token.label) == [mk_label(vol, 1)]
    vol.mount()
    try:
        s = status_json(vol.mnt)
        assert s["degraded"] is False, s
        assert [h["state"] for h in s["hsms"]] == ["up", "up"], s
        check_tree(vol, dirs)
    finally:
        vol.unmount()


# --- 2. master key rotation ----------------------------------------------------

def test_live_rotation_under_load(workdir, token):
    """rotate-master on a mount point while files are written: no error, v1 gone everywhere."""
    vol = two_token_volume(workdir, token)
    vol.mount()
    try:
        dirs = write_tree(vol)
        for i in range(30):
            os.makedirs(vol.path("many", f"d{i}"))
            with open(vol.path("many", f"d{i}", "f"), "wb") as f:
                f.write(content("many", i % 5))
        v1 = mk_label(vol, 1)

        # A wrong PIN is refused by the daemon and changes nothing.
        before = snapshot(vol)
        wrong = write_pin(os.path.join(workdir, "wrong-pin"), "9999")
        p = rotate(vol.mnt, wrong)
        assert p.returncode != 0 and "PIN" in p.stderr, (p.stdout, p.stderr)
        assert snapshot(vol) == before
        assert key_labels(token.label) == [v1]

        errors, done, written = [], threading.Event(), []

        def workload():
            i = 0
            while not done.is_set() or i < 40:
                try:
                    d = vol.path("load", f"w{i}")
                    os.makedirs(d)
                    with open(os.path.join(d, "f"), "wb") as f:
                        f.write(content("load", i % 7))
                    with open(vol.path("many", f"d{i % 30}", f"extra{i}"), "wb") as f:
                        f.write(content("extra", i % 3))
                    with open(os.path.join(d, "f"), "rb") as f:
                        assert f.read() == content("load", i % 7)
                    written.append(i)
                except Exception as e:  # noqa: BLE001 - any error is a failure
                    errors.append(repr(e))
                i += 1

        t = threading.Thread(target=workload)
        t.start()
        try:
            p = rotate(vol.mnt, token.pin_file)
        finally:
            done.set()
            t.join(timeout=120)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert "v2" in p.stdout
        assert not errors, errors[:3]
        assert len(written) >= 40

        v2 = mk_label(vol, 2)
        assert conf_value(vol, "mk_version") == "2"
        assert key_labels(token.label) == [v2]
        assert key_labels("coffre-backup") == [v2]
        assert escrows(vol) == ["mk-v2"]
        check_tree(vol, dirs)
        os.mkdir(vol.path("after-rotation"))
        with open(vol.path("after-rotation", "f"), "w") as f:
            f.write("after")
        assert "rotated to v2" in vol.log_text()
    finally:
        vol.unmount()
        wait_released(vol)

    # Cold keys now unseal under v2 only.
    vol.mount()
    try:
        check_tree(vol, dirs)
        for i in range(30):
            with open(vol.path("many", f"d{i}", "f"), "rb") as f:
                assert f.read() == content("many", i % 5)
        for i in written:
            with open(vol.path("load", f"w{i}", "f"), "rb") as f:
                assert f.read() == content("load", i % 7)
            with open(vol.path("many", f"d{i % 30}", f"extra{i}"), "rb") as f:
                assert f.read() == content("extra", i % 3)
        with open(vol.path("after-rotation", "f")) as f:
            assert f.read() == "after"
        os.mkdir(vol.path("after-rotation", "sub"))
    finally:
        vol.unmount()


def test_offline_rotation_twice_and_wrong_pin(workdir, token):
    """rotate-master on the backing dir: v2 then v3, data intact; a wrong PIN changes nothing."""
    vol = two_token_volume(workdir, token)
    dirs = populated(vol)
    before = snapshot(vol)
    wrong = write_pin(os.path.join(workdir, "wrong-pin"), "9999")
    p = rotate(vol.backing, wrong)
    assert p.returncode != 0 and "PIN" in p.stderr, p.stderr
    assert snapshot(vol) == before
    assert key_labels(token.label) == [mk_label(vol, 1)]

    for version in (2, 3):
        p = rotate(vol.backing, token.pin_file)
        assert p.returncode == 0, p.stderr
        assert f"rotated to v{version}" in p.stdout
        assert conf_value(vol, "mk_version") == str(version)
        assert key_labels(token.label) == [mk_label(vol, version)]
        assert key_labels("coffre-backup") == [mk_label(vol, version)]
        assert escrows(vol) == [f"mk-v{version}"]
        vol.mount()
        try:
            check_tree(vol, dirs)
            os.mkdir(vol.path(f"made-at-v{version}"))
            with open(vol.path(f"made-at-v{version}", "f"), "w") as f:
                f.write(str(version))
        finally:
            vol.unmount()
            wait_released(vol)
    vol.mount()
    try:
        for version in (2, 3):
            with open(vol.path(f"made-at-v{version}", "f")) as f:
                assert f.read() == str(version)
    finally:
        vol.unmount()


def test_interrupted_rotation_resumes(workdir, token):
    """An offline rotation killed mid-rewrap leaves a mountable volume; running it again finishes."""
    import signal
    import subprocess
    import time
    vol = two_token_volume(workdir, token)
    vol.mount()
    try:
        dirs = write_tree(vol)
        for i in range(100):
            os.mkdir(vol.path(f"d{i}"))
            with open(vol.path(f"d{i}", "f"), "w") as f:
                f.write(f"file {i}")
    finally:
        vol.unmount()
        wait_released(vol)
    keys = os.path.join(vol.backing, ".coffre", "keys")
    inodes = {n: os.stat(os.path.join(keys, n)).st_ino for n in os.listdir(keys)}

    def rewrapped():
        n = 0
        for name, ino in inodes.items():
            try:
                n += os.stat(os.path.join(keys, name)).st_ino != ino
            except FileNotFoundError:
                pass
        return n

    proc = subprocess.Popen([COFFRECTL, "key", "rotate-master", vol.backing,
                             "--conf", vol.conf, "--pin-file", token.pin_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while rewrapped() < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = rewrapped()
    assert 5 <= done < len(inodes), f"not interrupted mid-rewrap ({done}/{len(inodes)})"
    assert conf_value(vol, "mk_version") == "1"
    assert key_labels(token.label) == [mk_label(vol, 1), mk_label(vol, 2)]

    # Half-rewrapped: every directory still opens.
    vol.mount()
    try:
        check_tree(vol, dirs)
        for i in range(100):
            with open(vol.path(f"d{i}", "f")) as f:
                assert f.read() == f"file {i}"
    finally:
        vol.unmount()
        wait_released(vol)

    p = rotate(vol.backing, token.pin_file)
    assert p.returncode == 0, p.stderr
    assert "resuming" in p.stderr, p.stderr
    assert conf_value(vol, "mk_version") == "2"
    assert key_labels(token.label) == [mk_label(vol, 2)]
    assert key_labels("coffre-backup") == [mk_label(vol, 2)]
    assert escrows(vol) == ["mk-v2"]
    vol.mount()
    try:
        check_tree(vol, dirs)
        for i in range(100):
            with open(vol.path(f"d{i}", "f")) as f:
                assert f.read() == f"file {i}"
    finally:
        vol.unmount()


# --- 3. every HSM lost after rotations ------------------------------------------

def test_all_hsms_lost_after_rotation_enroll_brings_back_rotated_key(workdir, token):
    """After rotations, both HSMs die; a fresh token enrolled from 5 shares gets v3 back."""
    vol = two_token_volume(workdir, token)
    shares = share_files(os.path.join(workdir, "shares"))
    vol.mount()
    try:
        dirs = write_tree(vol)
        p = rotate(vol.mnt, token.pin_file)
        assert p.returncode == 0, p.stderr
        os.mkdir(vol.path("at-v2"))
        with open(vol.path("at-v2", "f"), "w") as f:
            f.write("v2 dir")
    finally:
        vol.unmount()
        wait_released(vol)
    p = rotate(vol.backing, token.pin_file)
    assert p.returncode == 0, p.stderr
    assert conf_value(vol, "mk_version") == "3"
    assert escrows(vol) == ["mk-v3"]

    kill_token(token, token.label)
    kill_token(token, "coffre-backup")
    fresh = new_token("coffre-fresh")
    p = vol.mount(check=False)
    assert p.returncode != 0 and not is_mounted(vol.mnt)
    p = enroll(vol, fresh, shares[2:7])
    assert p.returncode == 0, p.stderr
    assert key_labels("coffre-fresh") == [mk_label(vol, 3)]
    vol.mount()
    try:
        check_tree(vol, dirs)
        with open(vol.path("at-v2", "f")) as f:
            assert f.read() == "v2 dir"
        s = status_json(vol.mnt)
        assert {h["uri"]: h["state"] for h in s["hsms"]}[fresh] == "up"
    finally:
        vol.unmount()


# --- 5. reissuing shares ---------------------------------------------------------

def test_shares_reissue_retires_the_old_shares(workdir, token):
    """After reissue 2-of-3 the old shares are refused and the new ones enroll an HSM."""
    vol = two_token_volume(workdir, token)
    old = share_files(os.path.join(workdir, "shares"))
    dirs = populated(vol)
    new_dir = os.path.join(workdir, "new-shares")

    def reissue(shares, out):
        cmd = [COFFRECTL, "shares", "reissue", vol.backing, "--conf", vol.conf,
               "--pin-file", token.pin_file,
               "--shares-dir", out, "--shares", "3", "--threshold", "2"]
        for s in shares:
            cmd += ["--share", s]
        return run(cmd, check=False)

    before = snapshot(vol)
    p = reissue(old[:4], new_dir)
    assert p.returncode != 0 and "need 5 shares, got 4" in p.stderr, p.stderr
    assert snapshot(vol) == before
    assert share_files(new_dir) == []

    p = reissue(old[1:6], new_dir)
    assert p.returncode == 0, p.stderr
    new = share_files(new_dir)
    assert [os.path.basename(s) for s in new] == [f"share-{i}-of-3.txt" for i in (1, 2, 3)]
    assert all(os.stat(s).st_mode & 0o777 == 0o400 for s in new)
    assert conf_value(vol, "shares") == "2/3"
    assert conf_value(vol, "recovery_key") != before[".coffre.conf"].decode().split(
        "recovery_key = ")[1].split("\n")[0]
    assert conf_value(vol, "mk_version") == "1"
    assert escrows(vol) == ["mk-v1"]

    kill_token(token, token.label)
    c = new_token("coffre-new")
    before = snapshot(vol)
    p = enroll(vol, c, old[:5])
    assert p.returncode != 0 and "not this volume's" in p.stderr, p.stderr
    assert snapshot(vol) == before and key_labels("coffre-new") == []
    p = enroll(vol, c, [new[0]])
    assert p.returncode != 0 and "need 2 shares, got 1" in p.stderr, p.stderr
    p = enroll(vol, c, [new[2], new[0]])
    assert p.returncode == 0, p.stderr
    assert key_labels("coffre-new") == [mk_label(vol, 1)]
    kill_token(token, "coffre-backup")
    vol.mount()
    try:
        check_tree(vol, dirs)
    finally:
        vol.unmount()


# --- 6. adding a recovery key later ------------------------------------------------

def test_rotation_with_shares_dir_adds_a_recovery_key(workdir, token):
    """A volume made without shares gets a recovery key from rotate-master --shares-dir."""
    backing = os.path.join(workdir, "backing")
    name = conf_name()
    p = run([COFFRECTL, "init", "--conf", name, "--hsm", token.uri, "--pin-file",
             token.pin_file, backing], check=False)
    assert p.returncode == 0, p.stderr
    assert "WARNING" in p.stdout and "only copies of the master key" in p.stdout
    vol = Volume.__new__(Volume)
    vol.root, vol.token, vol.backing, vol.conf = workdir, token, backing, name
    vol.mnt = os.path.join(workdir, "mnt")
    vol.log = os.path.join(workdir, "coffre.log")
    os.makedirs(vol.mnt)
    assert conf_value(vol, "recovery_key") is None
    dirs = populated(vol)

    # --shares-dir is for an unmounted volume only.
    vol.mount()
    try:
        before = snapshot(vol)
        p = rotate(vol.mnt, token.pin_file, ["--shares-dir", os.path.join(workdir, "x")])
        assert p.returncode != 0 and "unmounted" in p.stderr, p.stderr
        assert snapshot(vol) == before
    finally:
        vol.unmount()
        wait_released(vol)

    sdir = os.path.join(workdir, "shares")
    p = rotate(backing, token.pin_file, ["--shares-dir", sdir])
    assert p.returncode == 0, p.stderr
    shares = share_files(sdir)
    assert len(shares) == 7
    assert conf_value(vol, "recovery_key") and conf_value(vol, "shares") == "5/7"
    assert conf_value(vol, "mk_version") == "2"
    assert escrows(vol) == ["mk-v2"]
    assert key_labels(token.label) == [mk_label(vol, 2)]

    kill_token(token, token.label)
    c = new_token("coffre-new")
    p = enroll(vol, c, shares[:5])
    assert p.returncode == 0, p.stderr
    vol.mount()
    try:
        check_tree(vol, dirs)
    finally:
        vol.unmount()


def test_rotation_into_a_dir_holding_shares_keeps_the_volume_recoverable(workdir, token):
    """rotate-master --shares-dir onto the current shares' dir fails without losing recovery."""
    vol = two_token_volume(workdir, token)
    sdir = os.path.join(workdir, "shares")
    old = share_files(sdir)
    dirs = populated(vol)
    before = snapshot(vol)
    p = rotate(vol.backing, token.pin_file, ["--shares-dir", sdir])
    assert p.returncode != 0, p.stdout   # the share files exist: cannot write there
    assert share_files(sdir) == old
    # Failing must leave the volume as it was: the old shares still recover it.
    # (Rewrapped key records are fine: the rotation is resumable.)
    assert conf_bytes(vol) == before[".coffre.conf"], \
        "a failed rotation committed a new config (new recovery key, no shares)"
    assert escrows(vol) == ["mk-v1"]
    kill_token(token, token.label)
    kill_token(token, "coffre-backup")
    c = new_token("coffre-new")
    p = enroll(vol, c, old[:5])
    assert p.returncode == 0, p.stderr
    vol.mount()
    try:
        check_tree(vol, dirs)
    finally:
        vol.unmount()


# --- 7. rotation needs every HSM ------------------------------------------------------

def test_rotation_refused_while_an_hsm_is_down(workdir, token):
    """With one of two HSMs dead, rotate-master (offline and live) refuses and changes nothing."""
    vol = two_token_volume(workdir, token)
    dirs = populated(vol)
    kill_token(token, "coffre-backup")
    before = snapshot(vol)
    v1 = mk_label(vol, 1)

    p = rotate(vol.backing, token.pin_file)
    assert p.returncode != 0
    assert "coffre-backup" in p.stderr and "every HSM" in p.stderr, p.stderr
    assert snapshot(vol) == before
    assert key_labels(token.label) == [v1]

    vol.mount()
    try:
        p = rotate(vol.mnt, token.pin_file)
        assert p.returncode != 0
        assert "every HSM" in p.stderr, (p.stdout, p.stderr)
        assert key_labels(token.label) == [v1]
        check_tree(vol, dirs)
        os.mkdir(vol.path("still-works"))
    finally:
        vol.unmount()
        wait_released(vol)
    after = snapshot(vol)
    assert after[".coffre.conf"] == before[".coffre.conf"]
    assert escrows(vol) == ["mk-v1"]
    vol.mount()
    try:
        check_tree(vol, dirs)
    finally:
        vol.unmount()
