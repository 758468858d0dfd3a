"""Directory keys: rotation, re-keying and crypto-shredding, as an operator
would run them with `coffrectl key ...` on a live mount."""
import errno
import glob
import os
import shutil

from conftest import COFFRECTL, run


def ctl(*args, check=True, **kw):
    return run([COFFRECTL] + list(args), check=check, **kw)


def records(vol):
    return sorted(os.listdir(os.path.join(vol.backing, ".coffre", "keys")))


def header_key(vol, path):
    """(dir id hex, DEK version) named by a file's ciphertext header."""
    with open(vol.backing_of(path), "rb") as f:
        h = f.read(48)
    return h[12:28].hex(), int.from_bytes(h[28:32], "big")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return None


def test_rotate_then_rekey_moves_every_file_to_the_new_key(mounted):
    """key rotate gives new files a new key; key rekey moves the old ones."""
    d = mounted.path("ward")
    os.mkdir(d)
    put(os.path.join(d, "old"), b"before rotation" * 1000)
    os.setxattr(os.path.join(d, "old"), "user.tag", b"kept")
    dir_id, v = header_key(mounted, os.path.join(d, "old"))
    assert v == 1
    out = ctl("key", "rotate", d).stdout
    assert "version 2" in out
    assert f"{dir_id}.2" in records(mounted)
    put(os.path.join(d, "new"), b"after rotation")
    assert header_key(mounted, os.path.join(d, "new")) == (dir_id, 2)
    assert header_key(mounted, os.path.join(d, "old")) == (dir_id, 1)
    # A file held open across the rekey keeps working.
    with open(os.path.join(d, "old"), "rb") as held:
        out = ctl("key", "rekey", d).stdout
        assert "re-encrypted 1 file" in out
        assert held.read() == b"before rotation" * 1000
    assert header_key(mounted, os.path.join(d, "old")) == (dir_id, 2)
    assert read(os.path.join(d, "old")) == b"before rotation" * 1000
    assert os.getxattr(os.path.join(d, "old"), "user.tag") == b"kept"
    mounted.remount()
    assert read(mounted.path("ward", "old")) == b"before rotation" * 1000
    assert read(mounted.path("ward", "new")) == b"after rotation"
    assert os.getxattr(mounted.path("ward", "old"), "user.tag") == b"kept"
    assert not glob.glob(os.path.join(mounted.backing, "**", ".coffre.rekey.*"),
                         recursive=True)


def test_rekey_skips_hard_links_and_says_so(mounted):
    """A hard-linked file keeps its key (replacing it would split its links)."""
    os.mkdir(mounted.path("a"))
    os.mkdir(mounted.path("b"))
    put(mounted.path("b", "f"), b"linked")
    os.link(mounted.path("b", "f"), mounted.path("a", "f"))
    out = ctl("key", "rekey", mounted.path("a")).stdout
    assert "hard-linked" in out
    assert os.stat(mounted.path("a", "f")).st_nlink == 2
    assert read(mounted.path("a", "f")) == b"linked"


def test_shred_kills_the_tree_and_spares_the_rest(mounted, tmp_path):
    """key shred: files inside (one moved in) read EIO for good, a record put
    back does not unseal, other directories are unaffected."""
    s = mounted.path("S")
    os.makedirs(os.path.join(s, "sub"))
    os.mkdir(mounted.path("other"))
    put(os.path.join(s, "f1"), b"secret one")
    put(os.path.join(s, "sub", "f2"), b"secret two")
    put(mounted.path("other", "moved-in"), b"came from elsewhere")
    os.rename(mounted.path("other", "moved-in"), os.path.join(s, "moved-in"))
    put(mounted.path("other", "keep"), b"unaffected")
    put(os.path.join(s, "leaver"), b"made in S")
    os.rename(os.path.join(s, "leaver"), mounted.path("other", "leaver"))
    s_id, _ = header_key(mounted, os.path.join(s, "f1"))
    saved = os.path.join(tmp_path, "old-record")
    shutil.copy(os.path.join(mounted.backing, ".coffre", "keys", f"{s_id}.1"), saved)

    check = ctl("key", "shred", s, "--pin-file", mounted.token.pin_file,
                check=False, input="no\n")
    assert check.returncode != 0 and "not shredded" in check.stderr
    assert "1 file outside" in check.stdout
    assert read(os.path.join(s, "f1")) == b"secret one"

    out = ctl("key", "shred", s, "--pin-file", mounted.token.pin_file, "--yes").stdout
    assert "shredded" in out and "master key rotated to v2" in out
    assert "1 stray file re-encrypted" in out
    assert not [r for r in records(mounted) if r.startswith(s_id)]
    assert read(mounted.path("other", "keep")) == b"unaffected"

    mounted.remount()
    assert errno_of(os.listdir, mounted.path("S")) == errno.EIO
    assert errno_of(read, mounted.path("other", "leaver")) == errno.EIO
    assert read(mounted.path("other", "keep")) == b"unaffected"
    # An old copy of the record (a backup) was sealed under the destroyed
    # master key: putting it back does not bring the directory back.
    mounted.unmount()
    shutil.copy(saved, os.path.join(mounted.backing, ".coffre", "keys", f"{s_id}.1"))
    mounted.mount()
    assert errno_of(os.listdir, mounted.path("S")) == errno.EIO
    assert read(mounted.path("other", "keep")) == b"unaffected"
    assert "cannot unseal" in mounted.log_text()


def test_shred_refuses_a_tree_it_cannot_list_whole(mounted):
    """A subdirectory whose id cannot be read (its .coffre.dir gone) would
    keep its keys: the shred refuses, destroys nothing, and says why."""
    s = mounted.path("T")
    os.makedirs(os.path.join(s, "sub"))
    put(os.path.join(s, "sub", "f"), b"inside")
    put(os.path.join(s, "g"), b"top")
    sub_backing = mounted.backing_of(os.path.join(s, "sub"))
    before = sorted(records(mounted))
    os.rename(os.path.join(sub_backing, ".coffre.dir"),
              os.path.join(sub_backing, ".coffre.dir.away"))
    p = ctl("key", "shred", s, "--pin-file", mounted.token.pin_file, "--yes",
            check=False)
    assert p.returncode != 0, p.stdout
    assert "shredded" not in p.stdout
    assert sorted(records(mounted)) == before
    os.rename(os.path.join(sub_backing, ".coffre.dir.away"),
              os.path.join(sub_backing, ".coffre.dir"))
    assert read(os.path.join(s, "g")) == b"top"


def test_shred_needs_the_pin_and_refuses_the_root(mounted, workdir):
    """A wrong PIN or the root directory: nothing is shredded."""
    os.mkdir(mounted.path("d"))
    put(mounted.path("d", "f"), b"x")
    bad = os.path.join(workdir, "bad-pin")
    with open(bad, "w") as f:
        f.write("0000\n")
    os.chmod(bad, 0o600)
    p = ctl("key", "shred", mounted.path("d"), "--pin-file", bad, "--yes", check=False)
    assert p.returncode != 0 and "PIN rejected" in p.stderr
    assert read(mounted.path("d", "f")) == b"x"
    p = ctl("key", "shred", mounted.mnt, "--pin-file", mounted.token.pin_file,
            "--yes", check=False)
    assert p.returncode != 0 and "root" in p.stderr
    assert read(mounted.path("d", "f")) == b"x"


def test_key_commands_outside_a_mount_fail_clearly(workdir):
    """Directory key commands name what is wrong when DIR is not in a mount."""
    p = ctl("key", "rotate", workdir, check=False)
    assert p.returncode != 0 and "not a directory inside a coffre mount" in p.stderr
