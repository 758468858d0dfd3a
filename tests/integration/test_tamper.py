"""Tampering with the backing dir while the volume is unmounted: every
change is caught (EIO, a skipped entry or a refused mount), never turned into
wrong plaintext, and the rest of the volume keeps working."""
import errno
import os

import pytest

from conftest import Volume, is_mounted, wait_released

S = 4096                      # segment size of the volumes made here
HDR = 48
SEG = S + 28                  # stored size of a full segment


def seg_off(i):
    return HDR + i * SEG


@pytest.fixture
def vol(workdir, token):
    """A fresh volume with 4 KiB segments, not mounted (unmounted after the test)."""
    v = Volume(workdir, token, segment_size=S)
    yield v
    v.unmount()


def down(v):
    v.unmount()
    wait_released(v)
    assert not is_mounted(v.mnt)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def outcome(path, offset=None, length=None):
    """'EIO' if opening or reading fails with EIO; the data if the read works;
    any other error is re-raised."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        if e.errno == errno.EIO:
            return "EIO"
        raise
    try:
        if offset is None:
            chunks = []
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        return os.pread(fd, length, offset)
    except OSError as e:
        if e.errno == errno.EIO:
            return "EIO"
        raise
    finally:
        os.close(fd)


def assert_eio(path, what, offset=None, length=None):
    r = outcome(path, offset, length)
    assert r == "EIO", f"{what}: read gave {len(r)} bytes instead of EIO"


def flip(path, pos, mask=0xFF):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ mask]))


def test_single_byte_flips_in_header_and_segments_give_eio(vol):
    """Flipping any header byte, or a nonce/ciphertext/tag byte of any segment, makes the read fail with EIO."""
    size = 2 * S + 1000                          # segments of 4096, 4096, 1000
    lens = [SEG, SEG, 1000 + 28]
    positions = [(f"header byte {p}", p) for p in range(HDR)]
    for i, ln in enumerate(lens):
        o = seg_off(i)
        positions += [(f"seg {i} nonce first", o), (f"seg {i} nonce last", o + 11),
                      (f"seg {i} ct first", o + 12), (f"seg {i} ct last", o + ln - 17),
                      (f"seg {i} tag first", o + ln - 16), (f"seg {i} tag last", o + ln - 1)]
    # an empty file is a header and one sealed empty segment: flip those too
    empty = [(f"empty file: header byte {p}", p) for p in (0, 4, 8, 12, 27, 31, 32, 47)]
    empty += [("empty file: nonce first", HDR), ("empty file: nonce last", HDR + 11),
              ("empty file: tag first", HDR + 12), ("empty file: tag last", HDR + 27)]
    n_full = len(positions)
    positions += empty
    # one file per flip, so that one mount checks them all
    vol.mount()
    datas, backing = {}, {}
    for k, (what, pos) in enumerate(positions):
        name = f"f{k:03d}"
        datas[name] = os.urandom(size) if k < n_full else b""
        write(vol.path(name), datas[name])
        backing[name] = vol.backing_of(vol.path(name))
    write(vol.path("control"), b"untouched" * 1000)
    down(vol)
    assert os.path.getsize(backing["f000"]) == seg_off(2) + lens[2]
    assert os.path.getsize(backing[f"f{n_full:03d}"]) == HDR + 28

    for k, (what, pos) in enumerate(positions):
        flip(backing[f"f{k:03d}"], pos)
    vol.mount()
    # The first EIO is logged with the ciphertext path; the flood that
    # follows is rate-limited (a burst per interval, then a count).
    assert outcome(vol.path("f060")) == "EIO"
    assert os.path.basename(backing["f060"]) in vol.log_text(), "EIO not logged with the ciphertext path"
    wrong = []
    for k, (what, pos) in enumerate(positions):
        name = f"f{k:03d}"
        r = outcome(vol.path(name))
        if r != "EIO":
            wrong.append((what, "same data" if r == datas[name] else f"{len(r)} bytes of other data"))
    assert read(vol.path("control")) == b"untouched" * 1000
    assert not wrong, f"{len(wrong)} flips not detected: {wrong[:8]}"
    logged = vol.log_text().count(vol.backing + "/")
    assert 0 < logged < len(positions), f"{logged} lines for {len(positions)} bad files: not rate-limited"

    # put every byte back: all files read correctly again
    down(vol)
    for k, (what, pos) in enumerate(positions):
        flip(backing[f"f{k:03d}"], pos)
    vol.mount()
    for name, data in datas.items():
        assert read(vol.path(name)) == data, name


def test_truncated_ciphertext_gives_eio(vol):
    """A file cut by one segment, down to its header, or mid-segment reads EIO; other files still read."""
    vol.mount()
    data = os.urandom(2 * S + 1000)
    names = ["cut-one-segment", "cut-to-header", "cut-to-empty-size", "cut-one-byte"]
    bk = {}
    for n in names:
        write(vol.path(n), data)
        bk[n] = vol.backing_of(vol.path(n))
    three_full = os.urandom(3 * S)
    write(vol.path("full-cut-one-segment"), three_full)
    bk["full-cut-one-segment"] = vol.backing_of(vol.path("full-cut-one-segment"))
    write(vol.path("control"), data)
    down(vol)

    os.truncate(bk["cut-one-segment"], seg_off(2))
    os.truncate(bk["cut-to-header"], HDR)
    os.truncate(bk["cut-to-empty-size"], HDR + 28)
    os.truncate(bk["cut-one-byte"], os.path.getsize(bk["cut-one-byte"]) - 1)
    os.truncate(bk["full-cut-one-segment"], seg_off(2))
    vol.mount()
    assert read(vol.path("control")) == data
    wrong = []
    for n in bk:
        try:
            os.stat(vol.path(n))
        except OSError as e:
            assert e.errno == errno.EIO, (n, e)
        r = outcome(vol.path(n))
        if r != "EIO":
            full = three_full if n.startswith("full") else data
            wrong.append((n, f"read {len(r)} bytes" + (", a prefix of the original" if full.startswith(r) else "")))
    assert not wrong, f"truncations not detected: {wrong}"


def test_segment_appended_from_another_file_gives_eio(vol):
    """Appending the matching segment of another file (same segment size and index) reads EIO."""
    vol.mount()
    a, b = os.urandom(3 * S), os.urandom(4 * S)
    write(vol.path("a"), a)
    write(vol.path("b"), b)
    write(vol.path("control"), b"c" * 5000)
    ba, bb = vol.backing_of(vol.path("a")), vol.backing_of(vol.path("b"))
    down(vol)
    with open(bb, "rb") as f:
        f.seek(seg_off(3))
        foreign = f.read(SEG)
    assert len(foreign) == SEG
    with open(ba, "ab") as f:
        f.write(foreign)
    vol.mount()
    assert_eio(vol.path("a"), "a + b's segment 3")
    assert_eio(vol.path("a"), "a's grafted segment 3", offset=3 * S, length=S)
    assert read(vol.path("b")) == b
    assert read(vol.path("control")) == b"c" * 5000


def test_swapped_or_replaced_segments_give_eio(vol):
    """Swapping two segments of a file, or putting another file's segment in place, reads EIO."""
    vol.mount()
    d = {n: os.urandom(3 * S) for n in ("swap01", "swap12", "donor", "graft")}
    bk = {}
    for n, data in d.items():
        write(vol.path(n), data)
        bk[n] = vol.backing_of(vol.path(n))
    write(vol.path("control"), b"c" * 5000)
    down(vol)

    def segs(path):
        with open(path, "rb") as f:
            raw = f.read()
        return raw[:HDR], [raw[seg_off(i):seg_off(i) + SEG] for i in range((len(raw) - HDR + SEG - 1) // SEG)]

    h, s = segs(bk["swap01"])
    with open(bk["swap01"], "wb") as f:
        f.write(h + s[1] + s[0] + s[2])
    # swap12: the last segment (flagged last) changes place with segment 1
    h, s = segs(bk["swap12"])
    with open(bk["swap12"], "wb") as f:
        f.write(h + s[0] + s[2] + s[1])
    # graft: segment 1 replaced by the donor's segment 1 (same index, other key)
    _, sd = segs(bk["donor"])
    with open(bk["graft"], "r+b") as f:
        f.seek(seg_off(1))
        f.write(sd[1])
    vol.mount()
    assert_eio(vol.path("swap01"), "segments 0 and 1 swapped")
    assert_eio(vol.path("swap01"), "segment 0 after swap", offset=0, length=S)
    assert_eio(vol.path("swap12"), "segments 1 and 2 swapped")
    assert_eio(vol.path("graft"), "donor's segment 1 grafted")
    assert read(vol.path("donor")) == d["donor"]
    assert read(vol.path("control")) == b"c" * 5000


def test_entry_moved_to_another_backing_dir_is_hidden(vol):
    """A ciphertext entry moved into another backing directory shows up in neither listing."""
    vol.mount()
    os.mkdir(vol.path("d1"))
    os.mkdir(vol.path("d2"))
    write(vol.path("d1", "moved"), b"m" * 100)
    write(vol.path("d1", "stays"), b"s" * 100)
    write(vol.path("d2", "other"), b"o" * 100)
    src = vol.backing_of(vol.path("d1", "moved"))
    dst_dir = vol.backing_of(vol.path("d2"))
    down(vol)
    dst = os.path.join(dst_dir, os.path.basename(src))
    os.rename(src, dst)
    vol.mount()
    assert os.listdir(vol.path("d1")) == ["stays"]
    assert os.listdir(vol.path("d2")) == ["other"]
    assert not os.path.exists(vol.path("d1", "moved"))
    assert not os.path.exists(vol.path("d2", "moved"))
    assert read(vol.path("d1", "stays")) == b"s" * 100
    assert read(vol.path("d2", "other")) == b"o" * 100
    assert os.path.basename(src) in vol.log_text(), "skipped entry not logged"


def test_flipped_byte_in_entry_name_is_skipped(vol):
    """An entry whose encrypted name was altered is left out of the listing; the others are listed."""
    vol.mount()
    for i in range(5):
        write(vol.path(f"n{i}"), bytes([65 + i]) * 10)
    bk = vol.backing_of(vol.path("n2"))
    down(vol)
    name = os.path.basename(bk)
    mid = len(name) // 2
    c = name[mid]
    new = name[:mid] + ("B" if c != "B" else "C") + name[mid + 1:]
    os.rename(bk, os.path.join(os.path.dirname(bk), new))
    vol.mount()
    assert sorted(os.listdir(vol.mnt)) == ["n0", "n1", "n3", "n4"]
    for i in (0, 1, 3, 4):
        assert read(vol.path(f"n{i}")) == bytes([65 + i]) * 10


def bump_hex(v, i):
    """v with its i-th hex digit changed."""
    return v[:i] + ("0" if v[i] != "0" else "1") + v[i + 1:]


@pytest.mark.parametrize("key,edit", [
    ("segment_size", lambda v: "8192" if v != "8192" else "16384"),
    ("kcv", lambda v: bump_hex(v, 3)),
    ("root_id", lambda v: bump_hex(v, 5)),
    ("mac", lambda v: bump_hex(v, 63)),
])
def test_tampered_config_refuses_mount(vol, key, edit):
    """An edited .coffre.conf makes the mount fail with one line and nothing mounted."""
    vol.mount()
    write(vol.path("f"), b"data")
    down(vol)
    conf = os.path.join(vol.backing, ".coffre.conf")
    orig = read(conf).decode()
    lines = orig.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(key + " = "):
            val = line[len(key) + 3:]
            lines[i] = f"{key} = {edit(val)}"
            break
    else:
        pytest.fail(f"no {key} line in {orig}")
    tampered = "\n".join(lines)
    assert tampered != orig
    with open(conf, "w") as f:
        f.write(tampered)
    p = vol.mount(check=False)
    assert p.returncode != 0
    assert not is_mounted(vol.mnt)
    msg = p.stderr.strip()
    assert msg and "\n" not in msg, f"want one line, got {p.stderr!r}"
    # put the config back: the volume mounts and reads
    wait_released(vol)
    with open(conf, "w") as f:
        f.write(orig)
    vol.mount()
    assert read(vol.path("f")) == b"data"


def test_tampered_key_record_gives_eio_for_that_directory_only(vol):
    """A sealed DEK record with a flipped byte makes its directory EIO; the rest works and the daemon lives."""
    vol.mount()
    os.mkdir(vol.path("sub"))
    os.mkdir(vol.path("elsewhere"))
    write(vol.path("sub", "f"), b"secret" * 100)
    write(vol.path("elsewhere", "h"), b"fine" * 100)
    write(vol.path("g"), b"top" * 100)
    dir_file = os.path.join(vol.backing_of(vol.path("sub")), ".coffre.dir")
    down(vol)
    dir_id = read(dir_file)[8:24].hex()
    rec = os.path.join(vol.backing, ".coffre", "keys", f"{dir_id}.1")
    assert os.path.getsize(rec) == 108
    flip(rec, 48 + 12 + 7, 0x01)                 # inside the sealed DEK
    vol.mount()
    try:
        os.listdir(vol.path("sub"))
    except OSError as e:
        assert e.errno == errno.EIO, e
    for _ in range(2):                           # a second try is not served from a bad cache
        assert_eio(vol.path("sub", "f"), "file in the directory with a bad key record")
    with pytest.raises(OSError) as ei:
        write(vol.path("sub", "new"), b"x")
    assert ei.value.errno == errno.EIO
    assert read(vol.path("g")) == b"top" * 100
    assert read(vol.path("elsewhere", "h")) == b"fine" * 100
    os.mkdir(vol.path("fresh"))
    write(vol.path("fresh", "k"), b"k")
    assert read(vol.path("fresh", "k")) == b"k"
    assert sorted(os.listdir(vol.mnt)) == ["elsewhere", "fresh", "g", "sub"]
    assert is_mounted(vol.mnt)


def test_extension_interrupted_between_its_two_writes_is_accepted_and_repaired(vol):
    """A stale 'last' flag on segment 0 followed by valid segments (crash residue) reads fine and heals on write."""
    vol.mount()
    old = os.urandom(S)                          # exactly one segment, flagged last
    write(vol.path("f"), old)
    write(vol.path("control"), b"c" * 100)
    bk = vol.backing_of(vol.path("f"))
    down(vol)
    assert os.path.getsize(bk) == HDR + SEG
    with open(bk, "rb") as f:
        f.seek(HDR)
        seg0_flagged_last = f.read(SEG)

    vol.mount()
    more = os.urandom(2 * S - 100)
    with open(vol.path("f"), "ab") as f:
        f.write(more)
    down(vol)
    assert os.path.getsize(bk) == HDR + 2 * SEG + (S - 100 + 28)
    with open(bk, "r+b") as f:                   # the state between the two writes
        f.seek(HDR)
        f.write(seg0_flagged_last)

    vol.mount()
    want = old + more
    assert os.stat(vol.path("f")).st_size == len(want)
    assert outcome(vol.path("f")) == want
    fd = os.open(vol.path("f"), os.O_WRONLY)
    os.pwrite(fd, b"Z", S // 2)
    os.fsync(fd)
    os.close(fd)
    want = want[:S // 2] + b"Z" + want[S // 2 + 1:]
    down(vol)
    vol.mount()
    assert outcome(vol.path("f")) == want
    assert read(vol.path("control")) == b"c" * 100
