"""Round trips: what goes in through the mount comes back out, byte for byte,
after an unmount and a remount; and nothing readable is left in the backing
directory."""
import hashlib
import mmap
import os
import random
import stat

from conftest import wait_released

def remount(vol):
    """Unmount, wait for the daemon to let go of the volume, mount again."""
    vol.unmount()
    wait_released(vol)
    vol.mount()


# Markers that must never show up in the backing dir (names, contents,
# symlink targets, xattrs, the config).
NAME_MARKER = "PATIENTXMARKER"
CONTENT_MARKER = b"CONFIDENTIAL-DIAGNOSIS-7f3a9c"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def snapshot(root):
    """relative path -> (kind, mode, size, sha256) for everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISREG(st.st_mode):
                out[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_size, sha256_file(p))
            else:
                out[rel] = ("d", stat.S_IMODE(st.st_mode), None, None)
    return out


def test_big_file_and_2000_small_files_survive_remount(mounted, workdir):
    """A 100 MiB file and 2,000 small files in 200 nested dirs come back identical after a remount."""
    rng = random.Random(0xC0FFE)
    src = os.path.join(workdir, "big.src")
    with open(src, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1 << 20))
    want_big = sha256_file(src)
    with open(src, "rb") as fi, open(mounted.path("big.bin"), "wb") as fo:
        while True:
            b = fi.read(1 << 20)
            if not b:
                break
            fo.write(b)
    os.remove(src)

    modes = [0o600, 0o644, 0o640, 0o400, 0o755, 0o444]
    n = 0
    for i in range(20):
        d = mounted.path(f"ward-{i:02d}")
        os.mkdir(d)
        for j in range(10):
            sd = os.path.join(d, f"room-{j:02d}")
            os.mkdir(sd, 0o750 if j % 2 else 0o755)
            os.chmod(sd, 0o750 if j % 2 else 0o755)
            for _ in range(10):
                n += 1
                size = rng.randint(0, 40 * 1024)
                data = (CONTENT_MARKER * (size // len(CONTENT_MARKER) + 1))[:size]
                # make each file distinct
                data = bytearray(data)
                for k in range(0, size, 997):
                    data[k] = rng.randrange(256)
                p = os.path.join(sd, f"patient-record-{n:04d}.txt")
                with open(p, "wb") as f:
                    f.write(data)
                os.chmod(p, rng.choice(modes))
    assert n == 2000

    before = snapshot(mounted.mnt)
    assert before["big.bin"][2] == 100 << 20
    assert before["big.bin"][3] == want_big
    assert len([k for k, v in before.items() if v[0] == "f"]) == 2001
    remount(mounted)
    after = snapshot(mounted.mnt)
    assert after.keys() == before.keys()
    diff = [k for k in before if before[k] != after[k]]
    assert not diff, f"{len(diff)} entries differ, e.g. {diff[:3]}: {before[diff[0]]} vs {after[diff[0]]}"


def _scan_backing(backing, needles):
    """Every place in the backing dir that holds one of the needles."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(backing):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            for nd in needles:
                if nd in os.fsencode(n):
                    hits.append(("name", p, nd))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                t = os.fsencode(os.readlink(p))
                hits += [("link", p, nd) for nd in needles if nd in t]
                continue
            try:
                for xn in os.listxattr(p, follow_symlinks=False):
                    xv = os.getxattr(p, xn, follow_symlinks=False)
                    hits += [("xattr", p, nd) for nd in needles
                             if nd in os.fsencode(xn) or nd in xv]
            except OSError:
                pass
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
                hits += [("content", p, nd) for nd in needles if nd in data]
    return hits


def test_no_plaintext_name_or_content_in_backing(mounted):
    """Distinctive names, contents, symlink targets and xattrs never appear in clear in the backing dir."""
    names = []
    for i in range(30):
        d = mounted.path(f"dept-{NAME_MARKER}-{i:02d}")
        os.mkdir(d)
        for k in range(5):
            name = f"patient-record-{NAME_MARKER}-{i * 5 + k:04d}.txt"
            names.append(name)
            with open(os.path.join(d, name), "wb") as f:
                f.write(CONTENT_MARKER * (1 + 200 * k))   # from 29 bytes to ~23 KiB
    # a short name, a symlink whose target names a marker, an xattr
    with open(mounted.path(NAME_MARKER), "wb") as f:
        f.write(CONTENT_MARKER)
    os.symlink(f"dept-{NAME_MARKER}-00/{names[0]}", mounted.path("link-" + NAME_MARKER))
    os.setxattr(mounted.path(f"dept-{NAME_MARKER}-00", names[0]),
                "user." + NAME_MARKER, CONTENT_MARKER)
    os.sync()
    mounted.unmount()
    wait_released(mounted)

    needles = [NAME_MARKER.encode(), b"patient-record", b"dept-", CONTENT_MARKER,
               CONTENT_MARKER[:12]]
    hits = _scan_backing(mounted.backing, needles)
    assert not hits, f"plaintext found in the backing dir: {hits[:5]}"
    # the config holds no user data either
    with open(os.path.join(mounted.backing, ".coffre.conf"), "rb") as f:
        conf = f.read()
    assert all(nd not in conf for nd in needles)

    mounted.mount()
    with open(mounted.path(f"dept-{NAME_MARKER}-29", names[-1]), "rb") as f:
        assert f.read() == CONTENT_MARKER * 801
    assert os.readlink(mounted.path("link-" + NAME_MARKER)) == f"dept-{NAME_MARKER}-00/{names[0]}"
    assert os.getxattr(mounted.path(f"dept-{NAME_MARKER}-00", names[0]),
                       "user." + NAME_MARKER) == CONTENT_MARKER


def test_long_names_hide_plaintext_and_round_trip(mounted):
    """Names of 161..255 bytes (stored under a hash plus a sidecar) work and leak nothing."""
    names = [(NAME_MARKER + "-") * 17]
    names = [names[0][:n] for n in (161, 200, 255)]
    os.mkdir(mounted.path(names[0]))
    for n in names:
        with open(mounted.path(names[0], n), "wb") as f:
            f.write(CONTENT_MARKER * len(n))
    mounted.unmount()
    wait_released(mounted)
    hits = _scan_backing(mounted.backing, [NAME_MARKER.encode(), CONTENT_MARKER])
    assert not hits, f"plaintext found in the backing dir: {hits[:5]}"
    mounted.mount()
    assert sorted(os.listdir(mounted.path(names[0]))) == sorted(names)
    for n in names:
        with open(mounted.path(names[0], n), "rb") as f:
            assert f.read() == CONTENT_MARKER * len(n)


def _expected_backing_size(size, seg):
    """48-byte header, then nonce+ct+tag per segment; an empty file has one empty segment."""
    nseg = max(1, -(-size // seg))
    return 48 + nseg * 28 + size


def test_segment_boundary_sizes_round_trip(mounted):
    """Files of 0, 1, S-1, S, S+1, 2S and 3S+7 bytes, written at once or by small appends, read back exactly."""
    S = mounted.segment_size
    sizes = [0, 1, S - 1, S, S + 1, 2 * S, 3 * S + 7]
    want = {}
    for size in sizes:
        data = os.urandom(size)
        one = mounted.path(f"once-{size}")
        with open(one, "wb") as f:
            f.write(data)
        want[f"once-{size}"] = data
        # many small appends, each reaching the daemon (fsync), odd chunk size
        app = mounted.path(f"appended-{size}")
        open(app, "wb").close()
        for off in range(0, size, 1531):
            fd = os.open(app, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, data[off:off + 1531])
                os.fsync(fd)
            finally:
                os.close(fd)
        want[f"appended-{size}"] = data

    def check(when):
        for name, data in want.items():
            assert os.stat(mounted.path(name)).st_size == len(data), (when, name)
            with open(mounted.path(name), "rb") as f:
                got = f.read()
            assert got == data, f"{when}: {name} differs (len {len(got)} vs {len(data)})"

    check("before remount")
    backing = {name: mounted.backing_of(mounted.path(name)) for name in want}
    mounted.unmount()
    wait_released(mounted)
    for name, data in want.items():
        assert os.path.getsize(backing[name]) == _expected_backing_size(len(data), S), name
    mounted.mount()
    check("after remount")


def test_crypto_threads_round_trip_and_tamper(volume):
    """With crypto_threads=2, 1 MiB requests are shared with helper threads:
    32 MiB of random data (written and read in 1 MiB and odd-sized requests,
    and through O_DIRECT) comes back identical, and one flipped ciphertext
    byte deep in the file fails the read with EIO."""
    volume.mount("crypto_threads=2")
    try:
        data = os.urandom(32 << 20)
        path = volume.path("big.bin")
        with open(path, "wb") as f:
            for off in range(0, len(data), 1 << 20):
                f.write(data[off:off + (1 << 20)])
        with open(path, "r+b") as f:             # odd-sized overwrite
            f.seek(3 << 20 | 12345)
            f.write(data[:700000])
        data = data[:(3 << 20 | 12345)] + data[:700000] + data[(3 << 20 | 12345) + 700000:]
        volume.unmount()
        wait_released(volume)
        volume.mount("crypto_threads=2")
        assert sha256_file(path) == hashlib.sha256(data).hexdigest()
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            buf = mmap.mmap(-1, 1 << 20)
            os.preadv(fd, [buf], 5 << 20)
            assert bytes(buf) == data[5 << 20:6 << 20]
        finally:
            os.close(fd)
        backing = volume.backing_of(path)
        volume.unmount()
        wait_released(volume)
        seg = volume.segment_size
        at = 48 + 1500 * (seg + 28) + 100        # segment 1500, well inside
        with open(backing, "r+b") as f:
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ 0x40]))
        volume.mount("crypto_threads=2")
        with open(path, "rb") as f:
            f.seek(1500 * seg - (512 << 10))    # a 1 MiB read around it
            try:
                f.read(1 << 20)
                raise AssertionError("tampered segment read back")
            except OSError as e:
                assert e.errno == 5
        with open(path, "rb") as f:              # the rest still reads
            assert f.read(1 << 20) == data[:1 << 20]
    finally:
        volume.unmount()
