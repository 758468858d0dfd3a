"""POSIX behaviour of a coffre mount, checked the way pjdfstest would.

Every expectation is what ext4 (the usual backing filesystem) does for the
same call; coffre must be indistinguishable from it through the mount.
"""
import ctypes
import errno
import os
import socket
import stat
import threading
import time

import pytest

from conftest import wait_released

libc = ctypes.CDLL(None, use_errno=True)
SYS_renameat2 = 316           # x86_64
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def renameat2(old, new, flags):
    """renameat2(2) through ctypes; raises OSError like os.rename."""
    r = libc.syscall(SYS_renameat2, AT_FDCWD, os.fsencode(old),
                     AT_FDCWD, os.fsencode(new), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def remount(vol):
    """Unmount, wait for the daemon to let go of the volume, mount again."""
    vol.unmount()
    wait_released(vol)
    vol.mount()


@pytest.fixture(autouse=True)
def umask0():
    old = os.umask(0)
    yield
    os.umask(old)


def put(path, data, mode=0o644):
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def errno_of(fn, *args, **kw):
    """The errno fn raises, or None if it succeeds."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


# ---------------------------------------------------------------- mount cycle

def test_mount_right_after_umount(mounted):
    """`umount MNT` then `coffre BACKING MNT` at once works every time."""
    put(mounted.path("f"), "x")
    for i in range(10):
        mounted.unmount()
        p = mounted.mount(check=False)
        assert p.returncode == 0, f"cycle {i}: {p.stderr.strip()}"
        assert get(mounted.path("f")) == b"x"


# ---------------------------------------------------------------- create/open

def test_create_excl_on_existing_is_eexist(mounted):
    """O_CREAT|O_EXCL on an existing file fails with EEXIST and keeps it."""
    p = mounted.path("f")
    put(p, "keep")
    assert errno_of(os.open, p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EEXIST
    os.mkdir(mounted.path("d"))
    assert errno_of(os.open, mounted.path("d"), os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644) == errno.EEXIST
    assert get(p) == b"keep"


def test_open_missing_is_enoent(mounted):
    """Opening a missing file without O_CREAT is ENOENT, also under a missing dir."""
    assert errno_of(os.open, mounted.path("nope"), os.O_RDONLY) == errno.ENOENT
    assert errno_of(os.open, mounted.path("nodir", "f"), os.O_RDWR | os.O_CREAT, 0o644) == errno.ENOENT
    assert errno_of(os.stat, mounted.path("nope")) == errno.ENOENT


def test_open_directory_for_writing_is_eisdir(mounted):
    """A directory cannot be opened for writing (EISDIR) but can be read-only."""
    d = mounted.path("d")
    os.mkdir(d)
    assert errno_of(os.open, d, os.O_WRONLY) == errno.EISDIR
    assert errno_of(os.open, d, os.O_RDWR) == errno.EISDIR
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.close(fd)


def test_path_through_regular_file_is_enotdir(mounted):
    """A path that uses a regular file as a directory is ENOTDIR."""
    put(mounted.path("f"), "x")
    assert errno_of(os.open, mounted.path("f", "g"), os.O_RDONLY) == errno.ENOTDIR
    assert errno_of(os.open, mounted.path("f", "g"), os.O_WRONLY | os.O_CREAT, 0o644) == errno.ENOTDIR
    assert errno_of(os.mkdir, mounted.path("f", "g")) == errno.ENOTDIR
    assert errno_of(os.open, mounted.path("f"), os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755, 0o777, 0o000, 0o4755, 0o2750, 0o1777])
def test_create_honours_mode_and_owner(mounted, mode):
    """With umask 0 a created file and directory get exactly the mode asked, owned by the caller."""
    f = mounted.path("f")
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.close(fd)
    st = os.stat(f)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == mode
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    d = mounted.path("d")
    os.mkdir(d, mode & 0o1777)
    st = os.stat(d)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == mode & 0o1777
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    remount(mounted)
    assert stat.S_IMODE(os.stat(f).st_mode) == mode
    assert stat.S_IMODE(os.stat(d).st_mode) == mode & 0o1777


def test_umask_is_applied(mounted):
    """The process umask is applied to create and mkdir as on ext4."""
    os.umask(0o027)
    fd = os.open(mounted.path("f"), os.O_WRONLY | os.O_CREAT, 0o666)
    os.close(fd)
    os.mkdir(mounted.path("d"), 0o777)
    assert stat.S_IMODE(os.stat(mounted.path("f")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(mounted.path("d")).st_mode) == 0o750


def test_setgid_directory_inheritance(mounted):
    """In a setgid directory new entries take its group and subdirectories keep S_ISGID."""
    d = mounted.path("shared")
    os.mkdir(d, 0o775)
    os.chown(d, -1, 4321)
    os.chmod(d, 0o2775)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o2775
    put(os.path.join(d, "f"), "x", 0o664)
    os.mkdir(os.path.join(d, "sub"), 0o775)
    os.mkfifo(os.path.join(d, "fifo"), 0o660)
    st = os.stat(os.path.join(d, "f"))
    assert st.st_gid == 4321
    assert st.st_uid == os.getuid()
    assert not st.st_mode & stat.S_ISGID
    st = os.stat(os.path.join(d, "sub"))
    assert st.st_gid == 4321
    assert st.st_mode & stat.S_ISGID
    assert os.lstat(os.path.join(d, "fifo")).st_gid == 4321
    # one level further down the inheritance continues
    put(os.path.join(d, "sub", "g"), "y")
    assert os.stat(os.path.join(d, "sub", "g")).st_gid == 4321
    remount(mounted)
    assert os.stat(os.path.join(d, "f")).st_gid == 4321
    assert os.stat(os.path.join(d, "sub")).st_mode & stat.S_ISGID


# ---------------------------------------------------------------- mkdir/rmdir

def test_mkdir_existing_is_eexist(mounted):
    """mkdir over an existing directory, file or symlink is EEXIST."""
    os.mkdir(mounted.path("d"))
    put(mounted.path("f"), "x")
    os.symlink("nowhere", mounted.path("l"))
    for n in ("d", "f", "l"):
        assert errno_of(os.mkdir, mounted.path(n)) == errno.EEXIST, n


def test_rmdir_non_empty_is_enotempty(mounted):
    """rmdir of a directory with a file or a subdirectory is ENOTEMPTY."""
    os.mkdir(mounted.path("d"))
    put(mounted.path("d", "f"), "x")
    assert errno_of(os.rmdir, mounted.path("d")) == errno.ENOTEMPTY
    os.unlink(mounted.path("d", "f"))
    os.mkdir(mounted.path("d", "sub"))
    assert errno_of(os.rmdir, mounted.path("d")) == errno.ENOTEMPTY
    os.rmdir(mounted.path("d", "sub"))
    os.rmdir(mounted.path("d"))
    assert not os.path.exists(mounted.path("d"))


def test_rmdir_of_file_is_enotdir(mounted):
    """rmdir of a regular file or symlink is ENOTDIR and keeps it."""
    put(mounted.path("f"), "x")
    os.symlink("f", mounted.path("l"))
    assert errno_of(os.rmdir, mounted.path("f")) == errno.ENOTDIR
    assert errno_of(os.rmdir, mounted.path("l")) == errno.ENOTDIR
    assert get(mounted.path("f")) == b"x"
    assert errno_of(os.rmdir, mounted.path("missing")) == errno.ENOENT


def test_unlink_of_directory_is_eisdir(mounted):
    """unlink of a directory fails (EISDIR on Linux, EPERM per POSIX) and keeps it."""
    os.mkdir(mounted.path("d"))
    assert errno_of(os.unlink, mounted.path("d")) in (errno.EISDIR, errno.EPERM)
    assert os.path.isdir(mounted.path("d"))
    assert errno_of(os.unlink, mounted.path("missing")) == errno.ENOENT


def test_directory_link_count(mounted):
    """A directory's st_nlink is 2 + its subdirectories (when reported at all)."""
    d = mounted.path("d")
    os.mkdir(d)
    base = os.stat(d).st_nlink
    if base == 1:
        # the mount does not count links for directories (like btrfs); must stay 1
        os.mkdir(os.path.join(d, "a"))
        assert os.stat(d).st_nlink == 1
        return
    assert base == 2
    for i in range(3):
        os.mkdir(os.path.join(d, f"s{i}"))
    put(os.path.join(d, "file"), "x")
    assert os.stat(d).st_nlink == 5
    os.rmdir(os.path.join(d, "s0"))
    assert os.stat(d).st_nlink == 4
    os.rename(os.path.join(d, "s1"), mounted.path("moved"))
    assert os.stat(d).st_nlink == 3
    assert os.stat(mounted.mnt).st_nlink == 4      # root: ., d, moved
    remount(mounted)
    assert os.stat(d).st_nlink == 3


def test_rmdir_then_name_reused_as_file(mounted):
    """After rmdir the same name can be a file, and then a directory again."""
    n = mounted.path("x")
    os.mkdir(n)
    put(os.path.join(n, "inner"), "gone")
    os.unlink(os.path.join(n, "inner"))
    os.rmdir(n)
    put(n, "now a file")
    assert get(n) == b"now a file"
    assert stat.S_ISREG(os.stat(n).st_mode)
    os.unlink(n)
    os.mkdir(n)
    assert os.listdir(n) == []
    remount(mounted)
    assert os.path.isdir(n) and os.listdir(n) == []


# ---------------------------------------------------------------- unlink/link

def test_hard_link_count_and_inode(mounted):
    """A hard link shares st_ino; st_nlink goes 1 -> 2 -> 1 and the data stays."""
    a, b = mounted.path("a"), mounted.path("b")
    put(a, "linked data")
    assert os.stat(a).st_nlink == 1
    os.link(a, b)
    sa, sb = os.stat(a), os.stat(b)
    assert sa.st_ino == sb.st_ino
    assert sa.st_nlink == sb.st_nlink == 2
    with open(b, "ab") as f:
        f.write(b" + more")
    assert get(a) == b"linked data + more"
    remount(mounted)
    assert os.stat(a).st_nlink == 2
    assert os.stat(a).st_ino == os.stat(b).st_ino
    os.unlink(a)
    assert os.stat(b).st_nlink == 1
    assert get(b) == b"linked data + more"
    assert errno_of(os.link, a, b) == errno.ENOENT
    assert errno_of(os.link, b, b) == errno.EEXIST


def test_hard_link_across_directories(mounted):
    """A link in another directory shows the same content, also after remount and rename."""
    os.mkdir(mounted.path("d1"))
    os.mkdir(mounted.path("d2"))
    data = os.urandom(50000)
    put(mounted.path("d1", "f"), data)
    os.link(mounted.path("d1", "f"), mounted.path("d2", "g"))
    assert get(mounted.path("d2", "g")) == data
    remount(mounted)
    assert get(mounted.path("d2", "g")) == data
    os.unlink(mounted.path("d1", "f"))
    os.rmdir(mounted.path("d1"))
    remount(mounted)
    assert get(mounted.path("d2", "g")) == data
    # writing through the surviving link still works
    with open(mounted.path("d2", "g"), "r+b") as f:
        f.seek(100)
        f.write(b"XYZ")
    remount(mounted)
    assert get(mounted.path("d2", "g")) == data[:100] + b"XYZ" + data[103:]


def test_link_to_directory_is_eperm(mounted):
    """Hard links to directories are refused with EPERM."""
    os.mkdir(mounted.path("d"))
    assert errno_of(os.link, mounted.path("d"), mounted.path("d2")) == errno.EPERM
    assert not os.path.exists(mounted.path("d2"))


# ---------------------------------------------------------------- rename

def test_rename_within_and_across_directories(mounted):
    """A file renamed in its directory and into another keeps its data (no EXDEV)."""
    data = os.urandom(40000)
    put(mounted.path("a"), data)
    os.rename(mounted.path("a"), mounted.path("b"))
    assert not os.path.exists(mounted.path("a"))
    os.mkdir(mounted.path("d"))
    os.mkdir(mounted.path("d", "e"))
    os.rename(mounted.path("b"), mounted.path("d", "e", "c"))
    assert get(mounted.path("d", "e", "c")) == data
    os.rename(mounted.path("d", "e"), mounted.path("e2"))
    assert get(mounted.path("e2", "c")) == data
    remount(mounted)
    assert sorted(os.listdir(mounted.mnt)) == ["d", "e2"]
    assert os.listdir(mounted.path("d")) == []
    assert get(mounted.path("e2", "c")) == data


def test_rename_over_existing_file(mounted):
    """Renaming over a file replaces it atomically: the target name never disappears."""
    put(mounted.path("target"), "old")
    old_ino = os.stat(mounted.path("target")).st_ino
    held = os.open(mounted.path("target"), os.O_RDONLY)   # keeps the old inode alive
    stop = threading.Event()
    misses = []

    def watch():
        while not stop.is_set():
            try:
                with open(mounted.path("target"), "rb") as f:
                    v = f.read()
                if v not in (b"old",) and not v.startswith(b"new"):
                    misses.append(v)
            except OSError as e:
                misses.append(e.errno)
    t = threading.Thread(target=watch)
    t.start()
    try:
        for i in range(100):
            put(mounted.path("tmp"), f"new{i}")
            os.rename(mounted.path("tmp"), mounted.path("target"))
    finally:
        stop.set()
        t.join()
    assert misses == []
    assert get(mounted.path("target")) == b"new99"
    try:
        assert os.stat(mounted.path("target")).st_ino != old_ino
        assert os.pread(held, 10, 0) == b"old"
    finally:
        os.close(held)
    assert sorted(os.listdir(mounted.mnt)) == ["target"]
    remount(mounted)
    assert get(mounted.path("target")) == b"new99"


def test_rename_directory_over_empty_directory(mounted):
    """A directory can replace an empty directory; its content moves with it."""
    os.mkdir(mounted.path("src"))
    put(mounted.path("src", "f"), "inside")
    os.mkdir(mounted.path("dst"))
    os.rename(mounted.path("src"), mounted.path("dst"))
    assert os.listdir(mounted.mnt) == ["dst"]
    assert get(mounted.path("dst", "f")) == b"inside"
    remount(mounted)
    assert get(mounted.path("dst", "f")) == b"inside"


def test_rename_over_non_empty_directory_is_enotempty(mounted):
    """A directory cannot replace a non-empty directory (ENOTEMPTY); both stay."""
    os.mkdir(mounted.path("src"))
    os.mkdir(mounted.path("dst"))
    put(mounted.path("dst", "f"), "keep")
    assert errno_of(os.rename, mounted.path("src"), mounted.path("dst")) in (errno.ENOTEMPTY, errno.EEXIST)
    assert get(mounted.path("dst", "f")) == b"keep"
    assert os.path.isdir(mounted.path("src"))


def test_rename_dir_over_file_is_enotdir(mounted):
    """Renaming a directory over a file is ENOTDIR."""
    os.mkdir(mounted.path("d"))
    put(mounted.path("f"), "x")
    assert errno_of(os.rename, mounted.path("d"), mounted.path("f")) == errno.ENOTDIR
    assert get(mounted.path("f")) == b"x"
    assert os.path.isdir(mounted.path("d"))


def test_rename_file_over_dir_is_eisdir(mounted):
    """Renaming a file over a directory is EISDIR."""
    os.mkdir(mounted.path("d"))
    put(mounted.path("f"), "x")
    assert errno_of(os.rename, mounted.path("f"), mounted.path("d")) == errno.EISDIR
    assert get(mounted.path("f")) == b"x"
    assert os.path.isdir(mounted.path("d"))


def test_rename_directory_into_itself_is_einval(mounted):
    """A directory cannot be moved below itself (EINVAL)."""
    os.makedirs(mounted.path("a", "b"))
    assert errno_of(os.rename, mounted.path("a"), mounted.path("a", "b", "c")) == errno.EINVAL
    assert os.path.isdir(mounted.path("a", "b"))


def test_rename_noreplace(mounted):
    """RENAME_NOREPLACE fails with EEXIST over an existing name and works otherwise."""
    put(mounted.path("a"), "A")
    put(mounted.path("b"), "B")
    with pytest.raises(OSError) as ei:
        renameat2(mounted.path("a"), mounted.path("b"), RENAME_NOREPLACE)
    assert ei.value.errno == errno.EEXIST
    assert get(mounted.path("a")) == b"A" and get(mounted.path("b")) == b"B"
    renameat2(mounted.path("a"), mounted.path("c"), RENAME_NOREPLACE)
    assert not os.path.exists(mounted.path("a"))
    assert get(mounted.path("c")) == b"A"
    remount(mounted)
    assert sorted(os.listdir(mounted.mnt)) == ["b", "c"]


def test_rename_exchange_file_and_dir_across_directories(mounted):
    """RENAME_EXCHANGE swaps a file and a directory living in two directories."""
    os.mkdir(mounted.path("d1"))
    os.mkdir(mounted.path("d2"))
    data = os.urandom(30000)
    put(mounted.path("d1", "file"), data)
    os.mkdir(mounted.path("d2", "dir"))
    put(mounted.path("d2", "dir", "inner"), "inner data")
    renameat2(mounted.path("d1", "file"), mounted.path("d2", "dir"), RENAME_EXCHANGE)

    def check():
        assert os.path.isdir(mounted.path("d1", "file"))
        assert get(mounted.path("d1", "file", "inner")) == b"inner data"
        assert os.path.isfile(mounted.path("d2", "dir"))
        assert get(mounted.path("d2", "dir")) == data
        assert os.listdir(mounted.path("d1")) == ["file"]
        assert os.listdir(mounted.path("d2")) == ["dir"]
    check()
    # new files in the moved directory still work
    put(mounted.path("d1", "file", "new"), "fresh")
    remount(mounted)
    check_after = get(mounted.path("d1", "file", "new"))
    assert check_after == b"fresh"
    check()
    with pytest.raises(OSError) as ei:
        renameat2(mounted.path("d1", "file"), mounted.path("d2", "missing"), RENAME_EXCHANGE)
    assert ei.value.errno == errno.ENOENT


def test_rename_directory_keeps_subtree(mounted):
    """A renamed directory keeps its whole subtree readable, also after remount."""
    tree = {}
    for a in range(3):
        for b in range(3):
            os.makedirs(mounted.path("top", f"a{a}", f"b{b}"))
            for c in range(3):
                rel = os.path.join(f"a{a}", f"b{b}", f"f{c}")
                tree[rel] = os.urandom(100 + 1000 * c)
                put(mounted.path("top", rel), tree[rel])
    os.symlink("a0/b0/f0", mounted.path("top", "lnk"))
    os.mkdir(mounted.path("other"))
    os.rename(mounted.path("top"), mounted.path("other", "renamed"))

    def check():
        for rel, data in tree.items():
            assert get(mounted.path("other", "renamed", rel)) == data, rel
        assert get(mounted.path("other", "renamed", "lnk")) == tree[os.path.join("a0", "b0", "f0")]
        assert not os.path.exists(mounted.path("top"))
    check()
    remount(mounted)
    check()
    # and it keeps being writable
    put(mounted.path("other", "renamed", "a1", "b2", "new"), "n")
    remount(mounted)
    assert get(mounted.path("other", "renamed", "a1", "b2", "new")) == b"n"


def test_rename_to_itself_and_between_hard_links_is_noop(mounted):
    """rename(a, a) and rename between two links of one file change nothing."""
    put(mounted.path("a"), "same")
    os.rename(mounted.path("a"), mounted.path("a"))
    assert get(mounted.path("a")) == b"same"
    os.link(mounted.path("a"), mounted.path("b"))
    os.rename(mounted.path("a"), mounted.path("b"))
    # POSIX: both names remain, the link count is unchanged
    assert sorted(os.listdir(mounted.mnt)) == ["a", "b"]
    assert os.stat(mounted.path("a")).st_nlink == 2
    assert get(mounted.path("b")) == b"same"
    os.mkdir(mounted.path("d"))
    os.rename(mounted.path("d"), mounted.path("d"))
    assert os.path.isdir(mounted.path("d"))
    remount(mounted)
    assert sorted(os.listdir(mounted.mnt)) == ["a", "b", "d"]
    assert get(mounted.path("a")) == b"same"


# ---------------------------------------------------------------- symlinks

def test_symlink_relative_and_absolute(mounted):
    """Relative and absolute symlinks read back exactly and can be followed."""
    os.mkdir(mounted.path("d"))
    put(mounted.path("d", "f"), "target data")
    os.symlink("d/f", mounted.path("rel"))
    os.symlink(mounted.path("d", "f"), mounted.path("abs"))
    os.symlink("../d/f", mounted.path("d", "up"))
    assert os.readlink(mounted.path("rel")) == "d/f"
    assert os.readlink(mounted.path("abs")) == mounted.path("d", "f")
    for n in ("rel", "abs", os.path.join("d", "up")):
        assert get(mounted.path(n)) == b"target data"
        assert stat.S_ISLNK(os.lstat(mounted.path(n)).st_mode)
    # writing through a symlink writes the target
    with open(mounted.path("rel"), "ab") as f:
        f.write(b"!")
    assert get(mounted.path("d", "f")) == b"target data!"
    remount(mounted)
    assert os.readlink(mounted.path("d", "up")) == "../d/f"
    assert get(mounted.path("abs")) == b"target data!"


def test_symlink_lstat_size_is_target_length(mounted):
    """lstat of a symlink reports the target's length in bytes."""
    for i, t in enumerate(["x", "a/b/c", "é/ü", "t" * 300]):
        p = mounted.path(f"l{i}")
        os.symlink(t, p)
        assert os.lstat(p).st_size == len(t.encode()), t
    remount(mounted)
    assert os.lstat(mounted.path("l3")).st_size == 300


def test_symlink_path_max_target(mounted):
    """A 4095-byte target round trips, also after remount, and can be unlinked."""
    target = "/".join(["abcdefghijklmno"] * 256)[:4095]
    assert len(target) == 4095
    p = mounted.path("long")
    os.symlink(target, p)
    assert os.readlink(p) == target
    assert os.lstat(p).st_size == 4095
    remount(mounted)
    assert os.readlink(p) == target
    assert os.lstat(p).st_size == 4095
    os.unlink(p)
    assert errno_of(os.lstat, p) == errno.ENOENT
    assert os.listdir(mounted.mnt) == []
    assert errno_of(os.symlink, "x" * 4096, mounted.path("toolong")) == errno.ENAMETOOLONG


def test_symlink_long_targets_do_not_leak(mounted):
    """Removing long-target symlinks leaves no sidecar behind in the backing dir."""
    def backing_files():
        out = set()
        for dp, dn, fn in os.walk(mounted.backing):
            for n in fn:
                out.add(os.path.join(dp, n))
        return out
    before = backing_files()
    for i in range(5):
        os.symlink(chr(ord("a") + i) * 4000, mounted.path(f"l{i}"))
    for i in range(5):
        assert os.readlink(mounted.path(f"l{i}")) == chr(ord("a") + i) * 4000
        os.unlink(mounted.path(f"l{i}"))
    assert backing_files() == before


def test_symlink_dangling(mounted):
    """A dangling symlink exists for lstat/readlink but open says ENOENT."""
    p = mounted.path("dangling")
    os.symlink("does/not/exist", p)
    assert os.path.lexists(p)
    assert not os.path.exists(p)
    assert errno_of(os.open, p, os.O_RDONLY) == errno.ENOENT
    assert os.readlink(p) == "does/not/exist"
    # O_CREAT through a dangling symlink creates the target (here: its dir missing)
    os.symlink("newtarget", mounted.path("d2"))
    put(mounted.path("d2"), "created via link")
    assert get(mounted.path("newtarget")) == b"created via link"
    os.unlink(p)
    assert not os.path.lexists(p)


# ---------------------------------------------------------------- mknod

def test_fifo_through_mount(mounted):
    """A fifo made in the mount carries data between a writer and a reader thread."""
    p = mounted.path("fifo")
    os.mkfifo(p, 0o640)
    st = os.lstat(p)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    payload = os.urandom(200000)
    got = []

    def reader():
        with open(p, "rb") as f:
            got.append(f.read())
    t = threading.Thread(target=reader)
    t.start()
    with open(p, "wb") as f:
        f.write(payload)
    t.join(10)
    assert not t.is_alive()
    assert got == [payload]
    remount(mounted)
    assert stat.S_ISFIFO(os.lstat(p).st_mode)


def test_unix_socket_in_mount(mounted):
    """A unix socket can be bound in the mount, connected to and shows as a socket."""
    p = mounted.path("sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(p)
        srv.listen(1)
        assert stat.S_ISSOCK(os.lstat(p).st_mode)
        cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cli.connect(p)
        conn, _ = srv.accept()
        cli.sendall(b"ping")
        assert conn.recv(4) == b"ping"
        conn.close()
        cli.close()
    finally:
        srv.close()
    os.unlink(p)
    assert not os.path.lexists(p)


@pytest.mark.parametrize("kind,dev", [(stat.S_IFCHR, (1, 3)), (stat.S_IFBLK, (7, 0)),
                                      (stat.S_IFCHR, (136, 1000))])
def test_device_nodes(mounted, kind, dev):
    """mknod of character and block devices keeps type, mode and rdev across remount."""
    p = mounted.path("dev")
    os.mknod(p, kind | 0o620, os.makedev(*dev))
    for _ in range(2):
        st = os.lstat(p)
        assert stat.S_IFMT(st.st_mode) == kind
        assert stat.S_IMODE(st.st_mode) == 0o620
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == dev
        remount(mounted)
    os.unlink(p)


# ---------------------------------------------------------------- setattr

def test_chmod_including_special_bits(mounted):
    """chmod sets every permission bit including setuid, setgid and sticky."""
    put(mounted.path("f"), "x")
    os.mkdir(mounted.path("d"))
    for m in (0o4755, 0o2755, 0o6711, 0o1777, 0o0, 0o7777, 0o644):
        os.chmod(mounted.path("f"), m)
        assert stat.S_IMODE(os.stat(mounted.path("f")).st_mode) == m
        os.chmod(mounted.path("d"), m)
        assert stat.S_IMODE(os.stat(mounted.path("d")).st_mode) == m
    os.chmod(mounted.path("f"), 0o4750)
    remount(mounted)
    assert stat.S_IMODE(os.stat(mounted.path("f")).st_mode) == 0o4750
    assert stat.S_IMODE(os.stat(mounted.path("d")).st_mode) == 0o644


def test_chown_uid_and_gid_separately(mounted):
    """chown changes only the id given (-1 leaves the other), also on symlinks (lchown)."""
    p = mounted.path("f")
    put(p, "x")
    os.chown(p, 1234, -1)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, os.getgid())
    os.chown(p, -1, 5678)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.symlink("f", mounted.path("l"))
    os.lchown(mounted.path("l"), 42, 43)
    st = os.lstat(mounted.path("l"))
    assert (st.st_uid, st.st_gid) == (42, 43)
    assert (os.stat(p).st_uid, os.stat(p).st_gid) == (1234, 5678)
    remount(mounted)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert (os.lstat(mounted.path("l")).st_uid, os.lstat(mounted.path("l")).st_gid) == (42, 43)


def test_chown_clears_setuid(mounted):
    """chown of a setuid/setgid executable clears those bits as ext4 does."""
    p = mounted.path("f")
    put(p, "x", 0o6755)
    os.chmod(p, 0o6755)
    os.chown(p, 1000, 1000)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o755


def test_utime_explicit_ns(mounted):
    """os.utime(ns=...) sets atime and mtime to the nanosecond, kept across remount."""
    p = mounted.path("f")
    put(p, "x")
    at, mt = 1_000_000_123_456_789, 1_500_000_987_654_321
    os.utime(p, ns=(at, mt))
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == (at, mt)
    os.mkdir(mounted.path("d"))
    os.utime(mounted.path("d"), ns=(at + 1, mt + 1))
    os.symlink("f", mounted.path("l"))
    os.utime(mounted.path("l"), ns=(at + 2, mt + 2), follow_symlinks=False)
    remount(mounted)
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == (at, mt)
    st = os.stat(mounted.path("d"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (at + 1, mt + 1)
    st = os.lstat(mounted.path("l"))
    assert st.st_mtime_ns == mt + 2


def test_utime_now(mounted):
    """touch-style utime (no times) sets mtime and atime to now."""
    p = mounted.path("f")
    put(p, "x")
    os.utime(p, ns=(10**9, 10**9))
    before = time.time_ns() - 10**9
    os.utime(p)
    after = time.time_ns() + 10**9
    st = os.stat(p)
    assert before <= st.st_mtime_ns <= after
    assert before <= st.st_atime_ns <= after


def test_truncate_sizes_and_contents(mounted):
    """truncate up reads zeros, down cuts, to 0 empties, and to segment boundaries works."""
    seg = mounted.segment_size
    p = mounted.path("f")
    data = os.urandom(3 * seg + 100)
    put(p, data)
    model = bytearray(data)

    def to(n):
        os.truncate(p, n)
        if n < len(model):
            del model[n:]
        else:
            model.extend(b"\0" * (n - len(model)))
        assert os.stat(p).st_size == n
        assert get(p) == bytes(model), n

    to(5 * seg + 7)           # up: zeros after the old end
    to(2 * seg)               # down onto a segment boundary
    to(2 * seg + 1)
    to(seg - 1)
    to(seg)
    to(0)
    to(100)
    to(4 * seg)
    remount(mounted)
    assert os.stat(p).st_size == 4 * seg
    assert get(p) == bytes(model)


def test_truncate_after_partial_segment_keeps_no_old_bytes(mounted):
    """Cutting inside a segment then growing again shows zeros, not the old bytes."""
    seg = mounted.segment_size
    p = mounted.path("f")
    put(p, b"\xff" * (2 * seg))
    os.truncate(p, seg // 2)
    os.truncate(p, 2 * seg)
    assert get(p) == b"\xff" * (seg // 2) + b"\0" * (2 * seg - seg // 2)
    remount(mounted)
    assert get(p) == b"\xff" * (seg // 2) + b"\0" * (2 * seg - seg // 2)


def test_ftruncate_on_open_fd(mounted):
    """ftruncate on an open fd changes the size seen by fstat, stat and reads."""
    p = mounted.path("f")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"a" * 10000)
        os.ftruncate(fd, 20000)
        assert os.fstat(fd).st_size == 20000
        assert os.pread(fd, 20000, 0) == b"a" * 10000 + b"\0" * 10000
        os.ftruncate(fd, 3)
        assert os.fstat(fd).st_size == 3
        assert os.stat(p).st_size == 3
        os.write(fd, b"b")           # offset is still 10000: leaves a hole
        assert os.fstat(fd).st_size == 10001
        os.fsync(fd)
    finally:
        os.close(fd)
    remount(mounted)
    assert get(p) == b"aaa" + b"\0" * 9997 + b"b"


def test_ctime_changes_on_chmod(mounted):
    """chmod, chown, link and rename update ctime; reading does not."""
    p = mounted.path("f")
    put(p, "x")
    c0 = os.stat(p).st_ctime_ns
    time.sleep(0.02)
    get(p)
    assert os.stat(p).st_ctime_ns == c0
    os.chmod(p, 0o600)
    c1 = os.stat(p).st_ctime_ns
    assert c1 > c0
    time.sleep(0.02)
    os.chown(p, 7, 7)
    c2 = os.stat(p).st_ctime_ns
    assert c2 > c1
    time.sleep(0.02)
    os.link(p, mounted.path("g"))
    c3 = os.stat(p).st_ctime_ns
    assert c3 > c2
    remount(mounted)
    assert os.stat(p).st_ctime_ns >= c3


# ---------------------------------------------------------------- times

def test_mtime_changes_on_write(mounted):
    """A write moves mtime forward, and that mtime survives close and remount."""
    p = mounted.path("f")
    put(p, "x")
    os.utime(p, ns=(10**18, 10**18 // 2))      # far in the past
    t0 = time.time_ns()
    with open(p, "r+b") as f:
        f.write(b"y")
    m1 = os.stat(p).st_mtime_ns
    assert m1 >= t0 - 10**9
    remount(mounted)
    m2 = os.stat(p).st_mtime_ns
    assert m2 >= t0 - 10**9
    # a directory's mtime moves when an entry is added
    os.mkdir(mounted.path("d"))
    os.utime(mounted.path("d"), ns=(10**9, 10**9))
    put(mounted.path("d", "x"), "1")
    assert os.stat(mounted.path("d")).st_mtime_ns >= t0 - 10**9


# ---------------------------------------------------------------- open flags

def test_o_append_two_fds(mounted):
    """Two O_APPEND fds writing in turn give the concatenation of all writes."""
    p = mounted.path("log")
    put(p, "start\n")
    a = os.open(p, os.O_WRONLY | os.O_APPEND)
    b = os.open(p, os.O_WRONLY | os.O_APPEND)
    expected = b"start\n"
    try:
        for i in range(200):
            fd = a if i % 2 == 0 else b
            chunk = (f"{'AB'[i % 2]}{i}:" + "z" * (i * 37 % 5000) + "\n").encode()
            os.write(fd, chunk)
            expected += chunk
    finally:
        os.close(a)
        os.close(b)
    assert get(p) == expected
    remount(mounted)
    assert get(p) == expected


def test_o_trunc_on_open(mounted):
    """O_TRUNC empties the file: size 0 and no old bytes come back."""
    p = mounted.path("f")
    put(p, os.urandom(100000))
    fd = os.open(p, os.O_RDWR | os.O_TRUNC)
    try:
        assert os.fstat(fd).st_size == 0
        os.write(fd, b"new")
    finally:
        os.close(fd)
    assert get(p) == b"new"
    remount(mounted)
    assert get(p) == b"new"
    assert os.stat(p).st_size == 3


def test_unlink_while_open(mounted):
    """An unlinked open file keeps reading and writing; the name is gone; nlink is 0."""
    p = mounted.path("f")
    data = os.urandom(70000)
    put(p, data)
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        assert not os.path.exists(p)
        assert os.listdir(mounted.mnt) == []
        assert os.fstat(fd).st_nlink == 0
        assert os.pread(fd, len(data), 0) == data
        os.pwrite(fd, b"more", len(data))
        os.fsync(fd)
        assert os.pread(fd, 10, len(data) - 6) == data[-6:] + b"more"
        # the name can be reused meanwhile
        put(p, "other")
        assert get(p) == b"other"
        assert os.pread(fd, 4, 0) == data[:4]
    finally:
        os.close(fd)
    assert get(p) == b"other"


def test_rename_over_open_file(mounted):
    """An fd on a file renamed over keeps the old content; the name shows the new file."""
    p = mounted.path("f")
    put(p, "old content")
    fd = os.open(p, os.O_RDWR)
    try:
        put(mounted.path("new"), "new content")
        os.rename(mounted.path("new"), p)
        assert get(p) == b"new content"
        assert os.pread(fd, 100, 0) == b"old content"
        os.pwrite(fd, b"OLD", 0)
        assert os.pread(fd, 100, 0) == b"OLD content"
        assert get(p) == b"new content"
        assert os.fstat(fd).st_nlink == 0
    finally:
        os.close(fd)
    remount(mounted)
    assert get(p) == b"new content"
    assert os.listdir(mounted.mnt) == ["f"]


# ---------------------------------------------------------------- fallocate / fsync

def test_posix_fallocate_extends_with_zeros(mounted):
    """posix_fallocate grows the file, the new part reads zeros and old data stays."""
    p = mounted.path("f")
    put(p, b"head")
    fd = os.open(p, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, 100000)
        assert os.fstat(fd).st_size == 100000
        assert os.pread(fd, 100000, 0) == b"head" + b"\0" * 99996
        os.posix_fallocate(fd, 10, 20)      # inside: size unchanged
        assert os.fstat(fd).st_size == 100000
    finally:
        os.close(fd)
    remount(mounted)
    assert get(p) == b"head" + b"\0" * 99996


def test_fsync_fdatasync_and_directory_fsync(mounted):
    """fsync, fdatasync and fsync of a directory fd succeed and the data is there."""
    os.mkdir(mounted.path("d"))
    p = mounted.path("d", "f")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"durable")
        os.fsync(fd)
        os.write(fd, b"!")
        os.fdatasync(fd)
    finally:
        os.close(fd)
    for d in (mounted.path("d"), mounted.mnt):
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    os.sync()
    remount(mounted)
    assert get(p) == b"durable!"


# ---------------------------------------------------------------- names

def test_statvfs_namemax(mounted):
    """statvfs reports f_namemax 255 and sane block counts."""
    sv = os.statvfs(mounted.mnt)
    assert sv.f_namemax == 255
    assert sv.f_bsize > 0 and sv.f_blocks > 0
    assert 0 < sv.f_bavail <= sv.f_blocks


def test_name_of_255_bytes(mounted):
    """A 255-byte name can be created, listed, stat'ed, renamed and unlinked."""
    n1, n2 = "a" * 255, "b" * 254 + "c"
    os.mkdir(mounted.path("d"))
    put(mounted.path("d", n1), "long")
    assert os.listdir(mounted.path("d")) == [n1]
    assert os.stat(mounted.path("d", n1)).st_size == 4
    os.rename(mounted.path("d", n1), mounted.path(n2))
    assert get(mounted.path(n2)) == b"long"
    os.mkdir(mounted.path("d", n1))
    os.symlink(n2, mounted.path("d", n1, n2))
    remount(mounted)
    assert sorted(os.listdir(mounted.mnt)) == sorted(["d", n2])
    assert os.listdir(mounted.path("d")) == [n1]
    assert os.readlink(mounted.path("d", n1, n2)) == n2
    os.unlink(mounted.path("d", n1, n2))
    os.rmdir(mounted.path("d", n1))
    os.unlink(mounted.path(n2))
    assert os.listdir(mounted.mnt) == ["d"]
    assert os.listdir(mounted.path("d")) == []


def test_name_of_256_bytes_is_enametoolong(mounted):
    """A 256-byte name is refused with ENAMETOOLONG for every kind of create."""
    n = mounted.path("x" * 256)
    assert errno_of(os.open, n, os.O_WRONLY | os.O_CREAT, 0o644) == errno.ENAMETOOLONG
    assert errno_of(os.mkdir, n) == errno.ENAMETOOLONG
    assert errno_of(os.symlink, "t", n) == errno.ENAMETOOLONG
    assert errno_of(os.mkfifo, n) == errno.ENAMETOOLONG
    assert errno_of(os.stat, n) == errno.ENAMETOOLONG
    put(mounted.path("f"), "x")
    assert errno_of(os.rename, mounted.path("f"), n) == errno.ENAMETOOLONG
    assert errno_of(os.link, mounted.path("f"), n) == errno.ENAMETOOLONG
    assert os.listdir(mounted.mnt) == ["f"]


def test_names_161_to_255_bytes_round_trip(mounted):
    """Names of 161..255 bytes (the long-name path) list, read and survive remount."""
    names = {f"{n:03d}" + "q" * (n - 3): n for n in range(161, 256)}
    os.mkdir(mounted.path("long"))
    for name, n in names.items():
        put(mounted.path("long", name), str(n))
    os.mkdir(mounted.path("long", "D" * 200))
    put(mounted.path("long", "D" * 200, "E" * 230), "deep")

    def check():
        assert sorted(os.listdir(mounted.path("long"))) == sorted(list(names) + ["D" * 200])
        for name, n in names.items():
            assert get(mounted.path("long", name)) == str(n).encode(), n
        assert get(mounted.path("long", "D" * 200, "E" * 230)) == b"deep"
    check()
    remount(mounted)
    check()
    # renames between long names and short names
    os.rename(mounted.path("long", "200" + "q" * 197), mounted.path("long", "short"))
    os.rename(mounted.path("long", "170" + "q" * 167), mounted.path("long", "L" * 250))
    remount(mounted)
    assert get(mounted.path("long", "short")) == b"200"
    assert get(mounted.path("long", "L" * 250)) == b"170"
    for name in os.listdir(mounted.path("long")):
        p = mounted.path("long", name)
        if os.path.isdir(p):
            os.unlink(os.path.join(p, "E" * 230))
            os.rmdir(p)
        else:
            os.unlink(p)
    assert os.listdir(mounted.path("long")) == []
    os.rmdir(mounted.path("long"))


def test_unicode_and_odd_names(mounted):
    """Unicode, spaces, newlines, leading dashes and dots-only-like names work."""
    names = ["é", "日本語のファイル名", "emoji 😀 file", "with\nnewline", "  spaces  ",
             "-dash", "..dots", ".hidden", "tab\there", "back\\slash", "ü" * 127,
             ".coffre", ".coffrex", "x.coffre.dir"]
    for n in names:
        put(mounted.path(n), n)
    assert sorted(os.listdir(mounted.mnt)) == sorted(names)
    remount(mounted)
    assert sorted(os.listdir(mounted.mnt)) == sorted(names)
    for n in names:
        assert get(mounted.path(n)) == n.encode()


# ---------------------------------------------------------------- xattrs

def test_xattr_basic_file_and_dir(mounted):
    """set/get/list/remove of user.* xattrs on a file and a directory."""
    put(mounted.path("f"), "x")
    os.mkdir(mounted.path("d"))
    for p in (mounted.path("f"), mounted.path("d")):
        assert os.listxattr(p) == []
        os.setxattr(p, "user.color", b"blue")
        os.setxattr(p, "user.empty", b"")
        os.setxattr(p, "user." + "n" * 200, b"\0\1\2")
        assert os.getxattr(p, "user.color") == b"blue"
        assert os.getxattr(p, "user.empty") == b""
        assert sorted(os.listxattr(p)) == sorted(["user.color", "user.empty", "user." + "n" * 200])
        os.setxattr(p, "user.color", b"red")
        assert os.getxattr(p, "user.color") == b"red"
        os.removexattr(p, "user.empty")
        assert sorted(os.listxattr(p)) == sorted(["user.color", "user." + "n" * 200])
        assert errno_of(os.removexattr, p, "user.empty") == errno.ENODATA
    remount(mounted)
    for p in (mounted.path("f"), mounted.path("d")):
        assert os.getxattr(p, "user.color") == b"red"
        assert os.getxattr(p, "user." + "n" * 200) == b"\0\1\2"


def test_xattr_create_replace_flags(mounted):
    """XATTR_CREATE on an existing name is EEXIST; XATTR_REPLACE on a missing one is ENODATA."""
    p = mounted.path("f")
    put(p, "x")
    os.setxattr(p, "user.a", b"1", os.XATTR_CREATE)
    assert errno_of(os.setxattr, p, "user.a", b"2", os.XATTR_CREATE) == errno.EEXIST
    assert os.getxattr(p, "user.a") == b"1"
    assert errno_of(os.setxattr, p, "user.b", b"2", os.XATTR_REPLACE) == errno.ENODATA
    assert os.listxattr(p) == ["user.a"]
    os.setxattr(p, "user.a", b"3", os.XATTR_REPLACE)
    assert os.getxattr(p, "user.a") == b"3"
    assert errno_of(os.getxattr, p, "user.missing") == errno.ENODATA


def test_xattr_size_query_and_erange(mounted):
    """getxattr with a too-small buffer is ERANGE (size probing works)."""
    p = mounted.path("f")
    put(p, "x")
    os.setxattr(p, "user.v", b"v" * 1000)
    buf = ctypes.create_string_buffer(10)
    r = libc.getxattr(os.fsencode(p), b"user.v", None, 0)
    assert r == 1000
    r = libc.getxattr(os.fsencode(p), b"user.v", buf, 10)
    assert r == -1 and ctypes.get_errno() == errno.ERANGE
    r = libc.listxattr(os.fsencode(p), None, 0)
    assert r == len(b"user.v\0")


def backing_xattr_limit(directory, size):
    """Whether the backing filesystem itself takes a value of this size."""
    probe = os.path.join(directory, "xattr-probe")
    with open(probe, "w"):
        pass
    try:
        os.setxattr(probe, "user.probe", b"\0" * size)
        return True
    except OSError:
        return False
    finally:
        os.unlink(probe)


def test_xattr_large_value(mounted):
    """A large xattr value round trips where the backing filesystem can hold
    it (tmpfs, ext4 with ea_inode); elsewhere it fails cleanly, as on ext4."""
    p = mounted.path("f")
    put(p, "x")
    small = os.urandom(3000)
    os.setxattr(p, "user.medium", small)
    assert os.getxattr(p, "user.medium") == small
    v = os.urandom(60 * 1024)
    # 28 bytes of nonce and tag ride along with the value.
    if backing_xattr_limit(mounted.root, len(v) + 28):
        os.setxattr(p, "user.big", v)
        assert os.getxattr(p, "user.big") == v
        remount(mounted)
        assert os.getxattr(p, "user.big") == v
    else:
        assert errno_of(os.setxattr, p, "user.big", v) in (errno.ENOSPC, errno.E2BIG)
        assert errno_of(os.getxattr, p, "user.big") == errno.ENODATA
        assert os.listxattr(p) == ["user.medium"]
        remount(mounted)
        assert os.getxattr(p, "user.medium") == small


def test_xattr_other_namespaces_not_stored(mounted):
    """trusted.* and security.* xattrs fail and nothing is stored."""
    p = mounted.path("f")
    put(p, "x")
    for name in ("trusted.secret", "security.label", "bogus.ns"):
        assert errno_of(os.setxattr, p, name, b"v") is not None, name
        assert name not in os.listxattr(p)
        assert errno_of(os.getxattr, p, name) is not None, name
    remount(mounted)
    assert os.listxattr(p) == []


def test_xattr_follows_hard_link_and_rename(mounted):
    """xattrs are seen through a hard link in another directory and after renames."""
    os.mkdir(mounted.path("d1"))
    os.mkdir(mounted.path("d2"))
    put(mounted.path("d1", "f"), "x")
    os.setxattr(mounted.path("d1", "f"), "user.k", b"v1")
    os.link(mounted.path("d1", "f"), mounted.path("d2", "g"))
    assert os.getxattr(mounted.path("d2", "g"), "user.k") == b"v1"
    os.setxattr(mounted.path("d2", "g"), "user.k2", b"v2")
    os.rename(mounted.path("d1", "f"), mounted.path("d2", "h"))
    os.mkdir(mounted.path("d1", "sub"))
    os.setxattr(mounted.path("d1", "sub"), "user.dir", b"dv")
    os.rename(mounted.path("d1", "sub"), mounted.path("d2", "sub2"))
    remount(mounted)
    assert os.getxattr(mounted.path("d2", "h"), "user.k2") == b"v2"
    assert os.getxattr(mounted.path("d2", "g"), "user.k") == b"v1"
    assert os.getxattr(mounted.path("d2", "sub2"), "user.dir") == b"dv"


def test_xattr_not_plaintext_in_backing(mounted):
    """Neither the xattr name nor its value is readable in the backing file's xattrs."""
    p = mounted.path("f")
    put(p, "x")
    os.mkdir(mounted.path("d"))
    name, value = "user.patientname", b"JohnDoeSecretValue"
    os.setxattr(p, name, value)
    os.setxattr(mounted.path("d"), name, value)
    for bp in (mounted.backing_of(p), mounted.backing_of(mounted.path("d"))):
        names = os.listxattr(bp)
        assert names, bp            # stored somewhere here, encrypted
        for n in names:
            assert "patientname" not in n
            assert value not in os.getxattr(bp, n)
    with open(mounted.backing_of(p), "rb") as f:
        assert value not in f.read()


# ---------------------------------------------------------------- readdir

def test_readdir_3000_entries(mounted):
    """A directory of 3,000 entries lists exactly them; scandir gives the right d_type."""
    d = mounted.path("big")
    os.mkdir(d)
    expected = {}
    for i in range(3000):
        n = f"entry-{i:05d}" + ("x" * (i % 50))
        if i % 10 == 0:
            os.mkdir(os.path.join(d, n))
            expected[n] = "dir"
        elif i % 10 == 1:
            os.symlink("target", os.path.join(d, n))
            expected[n] = "link"
        elif i % 10 == 2:
            os.mkfifo(os.path.join(d, n))
            expected[n] = "fifo"
        else:
            put(os.path.join(d, n), b"")
            expected[n] = "file"

    def check():
        names = os.listdir(d)
        assert len(names) == len(set(names)) == 3000
        assert set(names) == set(expected)
        assert not any(".coffre" in n for n in names)
        seen = {}
        with os.scandir(d) as it:
            for e in it:
                if e.is_symlink():
                    seen[e.name] = "link"
                elif e.is_dir(follow_symlinks=False):
                    seen[e.name] = "dir"
                elif e.is_file(follow_symlinks=False):
                    seen[e.name] = "file"
                else:
                    seen[e.name] = "fifo" if stat.S_ISFIFO(e.stat(follow_symlinks=False).st_mode) else "?"
        assert seen == expected
    check()
    remount(mounted)
    check()
    assert not any(".coffre" in n for n in os.listdir(mounted.mnt))


def test_readdir_while_changing(mounted):
    """Listing a directory while other threads create and delete entries never fails."""
    d = mounted.path("busy")
    os.mkdir(d)
    for i in range(300):
        put(os.path.join(d, f"stable{i}"), b"")
    stop = threading.Event()
    errors = []

    def churn(k):
        i = 0
        while not stop.is_set():
            n = os.path.join(d, f"tmp{k}-{i}")
            try:
                put(n, b"x")
                if i % 3 == 0:
                    os.rename(n, n + "r")
                    n += "r"
                os.unlink(n)
            except OSError as e:
                errors.append(("churn", e))
            i += 1
    threads = [threading.Thread(target=churn, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.time() + 4
        rounds = 0
        while time.time() < deadline:
            names = os.listdir(d)
            stable = [n for n in names if n.startswith("stable")]
            if len(stable) != 300:
                errors.append(("list", len(stable)))
            if len(names) != len(set(names)):
                errors.append(("dups", len(names)))
            rounds += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert rounds > 5
    assert sorted(os.listdir(d)) == sorted(f"stable{i}" for i in range(300))
