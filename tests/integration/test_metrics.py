"""Metrics (issue 13): `coffrectl metrics` and -o metrics_file= in the
Prometheus text format, parsed with a real parser (Debian's
python3-prometheus-client); counters that move with real I/O, tamper and
EIO counts, an HSM taken away, the file replaced atomically and never
through a symlink, and the example alert rules."""
import os
import shutil
import threading
import time

import pytest

from conftest import COFFRE, COFFRECTL, Volume, run, volume_uuid, wait_released
from test_hsm import token_dir, two_tokens

parser = pytest.importorskip("prometheus_client.parser")

HERE = os.path.dirname(os.path.abspath(__file__))
ALERTS = os.path.join(HERE, "..", "..", "contrib", "prometheus", "coffre-alerts.yml")
PERIOD = 10                  # the metrics file's period (DESIGN.md)


def families(text):
    """{name: family} of an exposition text (raises on a malformed one)."""
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def metrics(mnt):
    return families(run([COFFRECTL, "metrics", mnt]).stdout)


def value(fams, name, suffix="", **labels):
    """The value of the one sample of family `name` (its name + suffix)
    whose labels include `labels`."""
    found = [s.value for s in fams[name].samples if s.name == name + suffix and
             all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, suffix, labels, fams[name].samples[:4])
    return found[0]


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_metrics_parse_and_count_io(workdir, token):
    vol = Volume(workdir, token)
    vol.mount()
    try:
        uuid = volume_uuid(vol.backing)
        f0 = metrics(vol.mnt)
        # Types as the names promise (the parser drops _total from
        # counters' family names).
        assert f0["coffre_fuse_requests"].type == "counter"
        assert f0["coffre_fuse_request_duration_seconds"].type == "histogram"
        assert f0["coffre_hsm_up"].type == "gauge"
        assert f0["coffre_health_level"].type == "gauge"
        info = f0["coffre_build_info"].samples[0]
        assert info.value == 1 and info.labels["volume"] == uuid and info.labels["version"]
        for fam in f0.values():
            for s in fam.samples:
                assert s.labels["volume"] == uuid, s
        assert value(f0, "coffre_health_level") == 0
        assert value(f0, "coffre_hsm_up", hsm="1", token=token.label) == 1
        # No PIN or module path anywhere.
        text = run([COFFRECTL, "metrics", vol.mnt]).stdout
        assert "softhsm" not in text and "module" not in text
        assert token.pin_file not in text and token.dir not in text
        assert "coffre_replication_pending" not in text      # no bucket

        n = 3 * 1024 * 1024 + 17
        with open(vol.path("big"), "wb") as f:
            f.write(os.urandom(n))
            f.flush()
            os.fsync(f.fileno())
        os.mkdir(vol.path("d"))
        # A request is counted when its handler returns, just after the
        # reply that lets mkdir(2) return: wait that moment out.
        deadline = time.monotonic() + 5
        f1 = metrics(vol.mnt)
        while (value(f1, "coffre_fuse_requests", "_total", op="mkdir") < 1 and
               time.monotonic() < deadline):
            time.sleep(0.05)
            f1 = metrics(vol.mnt)
        assert value(f1, "coffre_written_bytes", "_total") >= \
            value(f0, "coffre_written_bytes", "_total") + n
        w = value(f1, "coffre_fuse_requests", "_total", op="write")
        assert w >= 1
        assert value(f1, "coffre_fuse_request_duration_seconds", "_count", op="write") == w
        assert value(f1, "coffre_fuse_request_duration_seconds", "_bucket",
                     op="write", le="+Inf") == w
        assert value(f1, "coffre_fuse_request_duration_seconds", "_sum", op="write") > 0
        assert value(f1, "coffre_fuse_requests", "_total", op="mkdir") >= 1
        # mkdir sealed a new key on the HSM.
        assert value(f1, "coffre_hsm_calls", "_total", hsm="1") > \
            value(f0, "coffre_hsm_calls", "_total", hsm="1")
        # Read it back cold (after a remount nothing is in the page cache).
        vol.remount()
        with open(vol.path("big"), "rb") as f:
            assert len(f.read()) == n
        f2 = metrics(vol.mnt)
        assert value(f2, "coffre_read_bytes", "_total") >= n
        assert value(f2, "coffre_key_cache_misses", "_total") >= 1
        assert value(f2, "coffre_eio", "_total") == 0
        assert value(f2, "coffre_tamper", "_total") == 0
    finally:
        vol.unmount()


def test_tampered_read_counts_tamper_and_eio(workdir, token):
    vol = Volume(workdir, token, segment_size=4096)
    vol.mount()
    try:
        with open(vol.path("victim"), "wb") as f:
            f.write(os.urandom(3 * 4096))
        backing = vol.backing_of(vol.path("victim"))
        vol.unmount()
        wait_released(vol)
        with open(backing, "r+b") as f:      # one byte of segment 1's ciphertext
            f.seek(48 + 4096 + 28 + 100)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x40]))
        vol.mount()
        f0 = metrics(vol.mnt)
        with pytest.raises(OSError) as e:
            with open(vol.path("victim"), "rb") as f:
                f.read()
        assert e.value.errno == 5
        f1 = metrics(vol.mnt)
        assert value(f1, "coffre_tamper", "_total") >= value(f0, "coffre_tamper", "_total") + 1
        assert value(f1, "coffre_eio", "_total") >= value(f0, "coffre_eio", "_total") + 1
    finally:
        vol.unmount()


def test_hsm_taken_away_shows_down_and_failover(workdir, token):
    backup = two_tokens(token)
    vol = Volume(workdir, token, extra_init=["--hsm", backup])
    prom = os.path.join(workdir, "prom", "coffre.prom")
    os.makedirs(os.path.dirname(prom))
    vol.mount(f"metrics_file={prom}")
    try:
        f0 = metrics(vol.mnt)
        assert value(f0, "coffre_hsm_up", hsm="1", token=token.label) == 1
        assert value(f0, "coffre_hsm_up", hsm="2", token="coffre-backup") == 1
        shutil.rmtree(token_dir(token, token.label))     # the primary dies
        for i in range(20):                              # new DEKs: HSM calls
            os.mkdir(vol.path(f"d{i}"))
        f1 = metrics(vol.mnt)
        assert value(f1, "coffre_hsm_up", hsm="1") == 0
        assert value(f1, "coffre_hsm_failovers", "_total", hsm="1") >= 1
        assert value(f1, "coffre_hsm_up", hsm="2") == 1
        assert value(f1, "coffre_hsm_calls", "_total", hsm="2") >= 1
        assert value(f1, "coffre_hsm_call_duration_seconds", "_count", hsm="2") == \
            value(f1, "coffre_hsm_calls", "_total", hsm="2")
        assert value(f1, "coffre_health_level") == 1
        # The file says so too within a period.

        def file_shows_down():
            with open(prom) as f:
                fams = families(f.read())
            return value(fams, "coffre_hsm_up", hsm="1") == 0 and fams
        fams = wait_for(file_shows_down, PERIOD + 5, "the metrics file to show the HSM down")
        assert value(fams, "coffre_hsm_failovers", "_total", hsm="1") >= 1
    finally:
        vol.unmount()


def test_metrics_file_atomic_and_no_symlink_followed(workdir, token):
    vol = Volume(workdir, token)
    d = os.path.join(workdir, "textfile")
    os.makedirs(d)
    prom = os.path.join(d, "coffre.prom")
    vol.mount(f"metrics_file={prom}")
    try:
        wait_for(lambda: os.path.exists(prom), 5, "the metrics file")
        assert os.stat(prom).st_mode & 0o777 == 0o644
        first = os.stat(prom).st_ino
        # Readers while it is rewritten (and while the mount is busy):
        # every read is a whole file.
        seen, bad, stop = set(), [], threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    with open(prom) as f:
                        st = os.fstat(f.fileno())
                        text = f.read()
                except FileNotFoundError:
                    bad.append("missing")
                    continue
                seen.add(st.st_ino)
                try:
                    fams = families(text)
                    assert text.endswith("\n")
                    assert "coffre_key_cache_entries" in fams   # the last one
                    assert "coffre_build_info" in fams           # the first
                except Exception as e:  # noqa: BLE001
                    bad.append(repr(e)[:200])

        def busy():
            i = 0
            while not stop.is_set():
                with open(vol.path(f"f{i % 20}"), "wb") as f:
                    f.write(b"x" * 65536)
                i += 1

        threads = [threading.Thread(target=reader), threading.Thread(target=reader),
                   threading.Thread(target=busy)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(seen) >= 2, PERIOD + 5, "a rewrite")
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not bad, bad[:3]
        assert any(ino != first for ino in seen)
        # No temp file left lying about, none named *.prom.
        assert sorted(os.listdir(d)) == ["coffre.prom"]

        # A symlink planted at the path is replaced, its target untouched.
        victim = os.path.join(workdir, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.unlink(prom)
        os.symlink(victim, prom)
        wait_for(lambda: not os.path.islink(prom), PERIOD + 5, "the symlink to be replaced")
        with open(victim) as f:
            assert f.read() == "precious\n"
        with open(prom) as f:
            families(f.read())
    finally:
        vol.unmount()


def test_metrics_file_directory_symlink_not_followed(workdir, token):
    vol = Volume(workdir, token)
    real = os.path.join(workdir, "real")
    os.makedirs(real)
    link = os.path.join(workdir, "link")
    os.symlink(real, link)
    vol.mount(f"metrics_file={link}/coffre.prom")
    try:
        wait_for(lambda: "metrics file" in vol.log_text(), PERIOD + 5,
                 "the log to say the metrics file failed")
        assert os.listdir(real) == []
    finally:
        vol.unmount()


@pytest.mark.parametrize("path", ["/tmp/coffre-metrics.txt", "relative/coffre.prom",
                                  "/tmp/.prom", "/tmp/prom"])
def test_metrics_file_name_refused(volume, path):
    p = run([COFFRE, volume.backing, volume.mnt, "-o",
             volume.mount_opts(f"metrics_file={path}")], check=False)
    assert p.returncode == 2
    assert ".prom" in p.stderr and "absolute" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_metrics_with_a_bucket(workdir, token):
    bucket = os.path.join(workdir, "bucket")
    os.makedirs(bucket)
    vol = Volume(workdir, token, extra_init=["--bucket", bucket])
    vol.mount()
    try:
        with open(vol.path("a"), "wb") as f:
            f.write(b"y" * 10000)
        run([COFFRECTL, "sync", vol.mnt, "--timeout", "60"])
        fams = metrics(vol.mnt)
        assert value(fams, "coffre_replication_pending") == 0
        assert value(fams, "coffre_replication_lag_seconds") == 0
        assert value(fams, "coffre_replication_behind_bytes") == 0
        assert value(fams, "coffre_replication_errors", "_total") == 0
        assert fams["coffre_replication_lag_seconds"].type == "gauge"
    finally:
        vol.unmount()


def test_metrics_without_a_mount_fails_clearly(workdir):
    p = run([COFFRECTL, "metrics", workdir], check=False)
    assert p.returncode != 0 and "no coffre daemon" in p.stderr
    p = run([COFFRECTL, "metrics"], check=False)
    assert p.returncode == 2 and "usage" in p.stderr


def test_alert_rules_are_valid_and_name_real_metrics(workdir, token):
    yaml = pytest.importorskip("yaml")
    bucket = os.path.join(workdir, "bucket")
    os.makedirs(bucket)
    vol = Volume(workdir, token, extra_init=["--bucket", bucket])
    vol.mount()
    try:
        text = run([COFFRECTL, "metrics", vol.mnt]).stdout
    finally:
        vol.unmount()
    with open(ALERTS) as f:
        doc = yaml.safe_load(f)
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert {g["name"] for g in doc["groups"]} == {"coffre"}
    names = {r["alert"] for r in rules}
    assert {"CoffreHsmDown", "CoffreReplicationLagging", "CoffreTamperDetected",
            "CoffreUnhealthy"} <= names
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r
        assert isinstance(r["expr"], str) and r["annotations"]["summary"]
        for word in r["expr"].replace("(", " ").replace("[", " ").split():
            if word.startswith("coffre_"):
                base = word.split("{")[0]
                assert base in text, base
    by = {r["alert"]: r for r in rules}
    assert by["CoffreHsmDown"]["for"] == "5m"
    assert "600" in by["CoffreReplicationLagging"]["expr"]
    if shutil.which("promtool"):
        run(["promtool", "check", "rules", ALERTS])
