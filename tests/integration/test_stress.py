"""gocryptfs-style stress: big trees, parallel writers, readers racing a writer."""
import hashlib
import os
import random
import shutil
import stat
import subprocess
import threading

import pytest

from conftest import run, wait_released

TREE_SOURCES = ["linux", "c++", "x86_64-linux-gnu", "openssl", "asm-generic"]


def md5_tree(root):
    """relative path -> md5 (files), 'L:' + target (symlinks), 'D' (dirs)."""
    out = {}
    for dp, dn, fn in os.walk(root):
        for n in dn + fn:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "L:" + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "D"
            else:
                h = hashlib.md5()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = h.hexdigest()
    return out


@pytest.fixture(scope="module")
def source_tarball(tmp_path_factory):
    """A tarball of a few thousand header files, and their md5 map."""
    d = tmp_path_factory.mktemp("src")
    present = [s for s in TREE_SOURCES if os.path.isdir(os.path.join("/usr/include", s))]
    tarball = str(d / "tree.tar")
    run(["tar", "-C", "/usr/include", "-cf", tarball] + present)
    ref = str(d / "ref")
    os.mkdir(ref)
    run(["tar", "-C", ref, "-xf", tarball])
    sums = md5_tree(ref)
    shutil.rmtree(ref)
    assert sum(1 for v in sums.values() if v != "D" and not v.startswith("L:")) >= 2000
    return tarball, sums


def test_extract_compare_remove_twice(mounted, source_tarball):
    """Extracting a few thousand files, md5-checking all of them and rm -rf, twice over."""
    tarball, sums = source_tarball
    for round_ in range(2):
        dest = mounted.path(f"tree{round_}")
        os.mkdir(dest)
        run(["tar", "-C", dest, "-xf", tarball])
        got = md5_tree(dest)
        assert got.keys() == sums.keys(), f"round {round_}: names differ"
        bad = [k for k in sums if got[k] != sums[k]]
        assert bad == [], f"round {round_}: {len(bad)} files differ, e.g. {bad[:5]}"
        if round_ == 0:
            # once also through a cold cache
            mounted.unmount()
            wait_released(mounted)
            mounted.mount()
            got = md5_tree(dest)
            bad = [k for k in sums if got.get(k) != sums[k]]
            assert bad == [], f"after remount: {len(bad)} files differ, e.g. {bad[:5]}"
        p = subprocess.run(["rm", "-rf", dest], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert os.listdir(mounted.mnt) == []
    # nothing left behind but the filesystem's own files
    left = []
    for dp, dn, fn in os.walk(mounted.backing):
        rel = os.path.relpath(dp, mounted.backing)
        if rel == ".coffre" or rel.startswith(".coffre/"):
            continue
        left += [os.path.join(rel, n) for n in dn + fn if not n.startswith(".coffre")]
    assert left == []


def test_parallel_writers(mounted):
    """Four threads each write a 20 MiB file in 1 MiB and 4 KiB chunks; all compare equal."""
    size = 20 << 20
    datas = [random.Random(i).randbytes(size) for i in range(4)]
    errors = []

    def writer(i):
        try:
            data = datas[i]
            fd = os.open(mounted.path(f"w{i}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                off = 0
                while off < size:
                    # alternate 1 MiB and a run of 4 KiB writes
                    if (off >> 20) % 2 == 0:
                        n = min(1 << 20, size - off)
                        os.write(fd, data[off:off + n])
                        off += n
                    else:
                        end = min(off + (1 << 20), size)
                        while off < end:
                            os.write(fd, data[off:off + 4096])
                            off += 4096
                os.fsync(fd)
            finally:
                os.close(fd)
        except Exception as e:           # noqa: BLE001 - reported below
            errors.append((i, repr(e)))
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    def check(why):
        for i in range(4):
            with open(mounted.path(f"w{i}"), "rb") as f:
                got = f.read()
            assert len(got) == size, f"{why}: w{i} has {len(got)} bytes"
            assert hashlib.md5(got).digest() == hashlib.md5(datas[i]).digest(), f"{why}: w{i} differs"
    check("same mount")
    mounted.unmount()
    wait_released(mounted)
    mounted.mount()
    check("after remount")


def test_readers_and_a_writer_on_one_file(mounted):
    """Readers racing one writer on the same file never see an error or foreign bytes."""
    p = mounted.path("shared")
    blk, nblk = 4096, 512                       # 2 MiB file
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with open(p, "wb") as f:
        f.write(b"A" * blk * nblk)
    stop = threading.Event()
    problems = []
    reads = [0]

    def writer():
        rng = random.Random(1)
        fd = os.open(p, os.O_WRONLY)
        try:
            i = 0
            while not stop.is_set():
                b = rng.randrange(nblk)
                run_len = rng.choice([1, 1, 4, 64])
                ch = alphabet[i % len(alphabet):i % len(alphabet) + 1]
                os.pwrite(fd, ch * (blk * min(run_len, nblk - b)), b * blk)
                if i % 50 == 0:
                    os.fsync(fd)
                i += 1
        except OSError as e:
            problems.append(("writer", repr(e)))
        finally:
            os.close(fd)

    def reader(k):
        rng = random.Random(100 + k)
        fd = os.open(p, os.O_RDONLY)
        try:
            while not stop.is_set():
                off = rng.randrange(blk * nblk)
                n = rng.randint(1, 256 * 1024)
                got = os.pread(fd, n, off)
                want = min(n, blk * nblk - off)
                if len(got) != want:
                    problems.append((f"reader{k}", f"short read {len(got)} of {want} at {off}"))
                foreign = got.translate(None, alphabet)
                if foreign:
                    problems.append((f"reader{k}", f"foreign bytes {foreign[:8]!r} at {off}"))
                reads[0] += 1
                if rng.random() < 0.05:
                    # drop this file's clean pages so reads go to the daemon
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError as e:
            problems.append((f"reader{k}", repr(e)))
        finally:
            os.close(fd)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    stop.wait(8)
    stop.set()
    for t in threads:
        t.join()
    assert problems == [], problems[:10]
    assert reads[0] > 100
    with open(p, "rb") as f:
        final = f.read()
    mounted.unmount()
    wait_released(mounted)
    mounted.mount()
    with open(p, "rb") as f:
        assert f.read() == final
    assert "EIO" not in mounted.log_text() and "authentication" not in mounted.log_text().lower()
