"""An fsx-like random exerciser: a model in memory against real files on the mount.

Each run is seeded; the seed (set COFFRE_FSX_SEED to replay one) and the last
operations are printed when the file and the model disagree.
"""
import collections
import mmap
import os
import random

import pytest

from conftest import Volume, wait_released

OPS = int(os.environ.get("COFFRE_FSX_OPS", "4000"))
COMPARE_EVERY = 50


def seed_for(name):
    s = os.environ.get("COFFRE_FSX_SEED")
    return int(s) if s else random.SystemRandom().randrange(1 << 32)


class Fsx:
    """Random operations on several files, each mirrored in a bytearray."""

    def __init__(self, vol, names, seed):
        self.vol = vol
        self.seed = seed
        self.rng = random.Random(seed)
        self.seg = vol.segment_size
        self.maxlen = 48 * self.seg + 1234
        self.names = names
        self.model = {n: bytearray() for n in names}
        self.fds = {}
        self.history = collections.deque(maxlen=40)
        self.opcount = 0
        for n in names:
            self.fds[n] = os.open(vol.path(n), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)

    # -- reporting ----------------------------------------------------------
    def fail(self, msg):
        hist = "\n  ".join(self.history)
        raise AssertionError(f"fsx seed={self.seed} op#{self.opcount}: {msg}\n"
                             f"last operations:\n  {hist}\n"
                             f"replay: COFFRE_FSX_SEED={self.seed}\n"
                             f"daemon log tail:\n{self.vol.log_text()[-2000:]}")

    def log(self, s):
        self.history.append(f"#{self.opcount} {s}")

    def compare(self, name, off, got, what):
        m = self.model[name]
        want = bytes(m[off:off + len(got)]) if off < len(m) else b""
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            self.fail(f"{what} {name} off={off}: got {len(got)} bytes, want {len(want)}; "
                      f"first difference at file offset {off + first} "
                      f"(got {got[first:first + 8].hex()} want {want[first:first + 8].hex()})")

    # -- helpers ------------------------------------------------------------
    def pick_off(self, limit):
        r = self.rng.random()
        if r < 0.3:                      # near a segment boundary
            b = self.rng.randrange(0, limit // self.seg + 2) * self.seg
            return max(0, b + self.rng.randint(-3, 3))
        return self.rng.randrange(0, max(1, limit))

    def pick_len(self):
        r = self.rng.random()
        if r < 0.4:
            return self.rng.randint(1, 100)
        if r < 0.8:
            return self.rng.randint(1, 2 * self.seg + 7)
        return self.rng.randint(1, 6 * self.seg)

    # -- operations ---------------------------------------------------------
    def op_write(self, name, far=False):
        m = self.model[name]
        if far and len(m) + self.seg < self.maxlen:
            off = self.rng.randint(len(m) + self.seg, self.maxlen)
        else:
            far = False
            off = self.pick_off(len(m) + self.seg)
        n = min(self.pick_len(), self.maxlen - off)
        if n <= 0:
            return
        data = self.rng.randbytes(n) if self.rng.random() < 0.8 else bytes([self.rng.randrange(256)]) * n
        self.log(f"write {name} off={off} len={n}{' (far)' if far else ''}")
        w = os.pwrite(self.fds[name], data, off)
        if w != n:
            self.fail(f"short write {w} of {n}")
        if off > len(m):
            m.extend(b"\0" * (off - len(m)))
        m[off:off + n] = data

    def op_read(self, name):
        m = self.model[name]
        off = self.pick_off(len(m) + 100)
        n = self.pick_len()
        self.log(f"read {name} off={off} len={n}")
        self.compare(name, off, os.pread(self.fds[name], n, off), "read")

    def op_truncate(self, name):
        m = self.model[name]
        r = self.rng.random()
        if r < 0.2:
            size = 0
        elif r < 0.5:
            size = self.rng.randrange(0, len(m) + 1)                     # down
        elif r < 0.7:
            size = self.rng.randrange(0, self.maxlen // self.seg) * self.seg  # boundary
        else:
            size = self.rng.randrange(len(m), self.maxlen + 1)           # up
        self.log(f"truncate {name} {len(m)} -> {size}")
        os.ftruncate(self.fds[name], size)
        if size < len(m):
            del m[size:]
        else:
            m.extend(b"\0" * (size - len(m)))

    def op_mapread(self, name):
        m = self.model[name]
        if not m:
            return
        off = self.rng.randrange(len(m))
        n = self.rng.randint(1, len(m) - off)
        self.log(f"mapread {name} off={off} len={n}")
        with mmap.mmap(self.fds[name], len(m), mmap.MAP_SHARED, mmap.PROT_READ) as mm:
            got = mm[off:off + n]
        self.compare(name, off, got, "mapread")

    def op_mapwrite(self, name):
        m = self.model[name]
        if not m:
            return
        off = self.rng.randrange(len(m))
        n = self.rng.randint(1, min(len(m) - off, 3 * self.seg))
        data = self.rng.randbytes(n)
        self.log(f"mapwrite {name} off={off} len={n}")
        with mmap.mmap(self.fds[name], len(m), mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE) as mm:
            mm[off:off + n] = data
            mm.flush()
        m[off:off + n] = data
        self.compare(name, off, os.pread(self.fds[name], n, off), "read after mapwrite")

    def op_fsync(self, name):
        self.log(f"fsync {name}")
        if self.rng.random() < 0.5:
            os.fsync(self.fds[name])
        else:
            os.fdatasync(self.fds[name])

    def op_evict(self, name):
        """Write back and drop the file's cached pages so reads go to the daemon."""
        self.log(f"evict {name}")
        os.fsync(self.fds[name])
        os.posix_fadvise(self.fds[name], 0, 0, os.POSIX_FADV_DONTNEED)

    def op_reopen(self, name):
        self.log(f"close/reopen {name}")
        os.close(self.fds[name])
        self.fds[name] = os.open(self.vol.path(name), os.O_RDWR)

    def full_compare(self, why):
        for name, m in self.model.items():
            st = os.fstat(self.fds[name])
            if st.st_size != len(m):
                self.fail(f"{why}: fstat size of {name} is {st.st_size}, model {len(m)}")
            if os.stat(self.vol.path(name)).st_size != len(m):
                self.fail(f"{why}: stat size of {name} differs from model {len(m)}")
            self.compare(name, 0, os.pread(self.fds[name], len(m) + 10, 0), f"full compare ({why})")

    def remount(self):
        self.log("remount")
        for fd in self.fds.values():
            os.close(fd)
        self.vol.unmount()
        wait_released(self.vol)
        self.vol.mount()
        for n in self.names:
            self.fds[n] = os.open(self.vol.path(n), os.O_RDWR)
        self.full_compare("after remount")

    def run(self, nops, remount_at=None):
        table = [(self.op_write, 30), (lambda n: self.op_write(n, far=True), 4),
                 (self.op_read, 20), (self.op_truncate, 8), (self.op_mapread, 10),
                 (self.op_mapwrite, 10), (self.op_fsync, 5), (self.op_reopen, 5),
                 (self.op_evict, 6)]
        ops = [f for f, w in table for _ in range(w)]
        for i in range(nops):
            self.opcount = i
            name = self.rng.choice(self.names)
            try:
                self.rng.choice(ops)(name)
                if i % 7 == 0 and os.fstat(self.fds[name]).st_size != len(self.model[name]):
                    self.fail(f"size of {name} {os.fstat(self.fds[name]).st_size} != model {len(self.model[name])}")
            except OSError as e:
                self.fail(f"unexpected {e!r}")
            if i % COMPARE_EVERY == COMPARE_EVERY - 1:
                self.full_compare("periodic")
            if remount_at is not None and i == remount_at:
                self.remount()
        self.full_compare("final")
        self.remount()

    def close(self):
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture(params=[4096, 16384], ids=["seg4k", "seg16k"])
def seg_mounted(request, workdir, token):
    """A fresh volume with the given segment size, mounted."""
    vol = Volume(workdir, token, segment_size=request.param)
    vol.mount()
    try:
        yield vol
    finally:
        vol.unmount()


def test_fsx_one_file(seg_mounted):
    """4,000 random writes, reads, truncates and mmap I/O on one file match the model."""
    fsx = Fsx(seg_mounted, ["fsx.bin"], seed_for("one"))
    try:
        fsx.run(OPS, remount_at=OPS // 2)
    finally:
        fsx.close()


def test_fsx_two_files_interleaved(seg_mounted):
    """Interleaved random operations on two files (one in a subdirectory) match the models."""
    os.mkdir(seg_mounted.path("sub"))
    fsx = Fsx(seg_mounted, ["a.bin", os.path.join("sub", "b.bin")], seed_for("two"))
    try:
        fsx.run(OPS, remount_at=OPS // 3)
    finally:
        fsx.close()
