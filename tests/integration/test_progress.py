"""Progress of long commands (DESIGN.md "Progress"): `key rekey -r` over a
tree, with `--json` lines and on a terminal (a pty), and the other long
commands' JSON lines: rotate-master and shred through the daemon, verify
and restore on their own."""
import json
import os
import pty
import select
import subprocess

from conftest import COFFRECTL, run
from test_bucket import make_volume, sync
from test_dirkeys import read, put
from test_verify import populate


def ctl(*args, check=True, **kw):
    return run([COFFRECTL] + list(args), check=check, **kw)


def json_lines(stdout):
    """The JSON lines of a --json run: its progress events and its result
    (last).  `done` never goes down within a phase."""
    events = [json.loads(line) for line in stdout.splitlines()]
    assert events and events[-1]["event"] == "result", stdout
    progress = events[:-1]
    assert all(e["event"] == "progress" for e in progress), stdout
    last = {}
    for e in progress:
        assert set(e) == {"event", "phase", "unit", "done", "total"}, e
        assert e["done"] >= last.get(e["phase"], 0), stdout
        assert e["total"] is None or e["done"] <= e["total"], e
        last[e["phase"]] = e["done"]
    return progress, events[-1]


def make_tree(vol, top, n_dirs=12, per_dir=25):
    """n_dirs nested directories under top (a/b/c chains and siblings),
    per_dir files each: {plain path: content}."""
    files = {}
    dirs = [top]
    for i in range(1, n_dirs):
        parent = dirs[(i - 1) // 2]             # a binary tree: depth ~4
        dirs.append(os.path.join(parent, f"d{i}"))
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        for j in range(per_dir):
            p = os.path.join(d, f"f{j}")
            data = f"{p} {j}\n".encode() * (1 + j * 40)
            put(p, data)
            files[p] = data
    return dirs, files


def rotate_all(dirs):
    """key rotate every directory: (dir id hex, new version) by directory."""
    return {d: int(ctl("key", "rotate", d).stdout.split("key version ")[1].split(";")[0])
            for d in dirs}


def backing_paths(vol, paths):
    """Each plain path's ciphertext path (one walk of the backing dir).
    Taken before a rekey: it replaces the backing file (a new inode) at the
    same name."""
    by_ino = {}
    for d, dirnames, filenames in os.walk(vol.backing):
        for n in filenames:
            by_ino[os.lstat(os.path.join(d, n)).st_ino] = os.path.join(d, n)
    return {p: by_ino[os.lstat(p).st_ino] for p in paths}


def backing_key(bpath):
    """(dir id hex, DEK version) in a ciphertext header (as header_key)."""
    with open(bpath, "rb") as f:
        h = f.read(48)
    return h[12:28].hex(), int.from_bytes(h[28:32], "big")


def test_rekey_recursive_json_moves_every_file_to_its_directorys_new_key(mounted):
    top = mounted.path("tree")
    dirs, files = make_tree(mounted, top)
    assert len(files) == 300
    bpaths = backing_paths(mounted, files)
    before = {p: backing_key(bpaths[p]) for p in files}
    versions = rotate_all(dirs)
    assert set(versions.values()) == {2}
    # A hard link inside keeps its key and is reported, as without -r.
    os.link(os.path.join(dirs[3], "f0"), os.path.join(top, "linked"))

    # Without -r: the top directory's files only.
    out = ctl("key", "rekey", top).stdout
    assert "re-encrypted 25 files" in out and "hard-linked" in out
    assert backing_key(bpaths[os.path.join(dirs[1], "f1")])[1] == 1

    p = ctl("key", "rekey", "-r", top, "--json")
    progress, result = json_lines(p.stdout)
    assert result["ok"] is True and result["exit"] == 0, p.stdout
    assert "re-encrypted 274 files" in result["message"], result
    assert "hard-linked" in result["message"]
    assert progress and progress[-1]["phase"] == "rekey"
    assert progress[-1]["unit"] == "files"
    assert progress[-1]["done"] == progress[-1]["total"] == 301
    assert p.stderr == ""
    for path, data in files.items():
        d = os.path.dirname(path)
        dir_id, v = backing_key(bpaths[path])
        if path == os.path.join(dirs[3], "f0"):
            assert v == 1                       # the hard-linked one
        else:
            assert (dir_id, v) == (before[path][0], versions[d]), path
        assert read(path) == data, path
    mounted.remount()
    for path, data in files.items():
        assert read(path) == data, path


def test_rekey_progress_on_a_terminal_is_redrawn_then_cleared(mounted):
    top = mounted.path("tty")
    dirs, files = make_tree(mounted, top, n_dirs=6, per_dir=40)
    rotate_all(dirs)
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([COFFRECTL, "key", "rekey", "-r", top],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=slave)
        os.close(slave)
        slave = -1
        seen = b""
        while True:
            r, _, _ = select.select([master], [], [], 60)
            assert r, "no progress within 60 s"
            try:
                chunk = os.read(master, 4096)
            except OSError:                     # EIO: the pty closed
                break
            if not chunk:
                break
            seen += chunk
        out = proc.stdout.read().decode()
        assert proc.wait(60) == 0
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert "re-encrypted 240 files" in out
    assert seen.count(b"\rrekey: ") >= 2, seen     # the first and the last
    assert b"\rrekey: 240/240 files" in seen, seen
    assert b"\n" not in seen, seen
    assert seen.endswith(b"\r\x1b[K"), seen          # cleared at the end


def test_no_progress_off_a_terminal_without_json(mounted):
    top = mounted.path("quiet")
    dirs, _ = make_tree(mounted, top, n_dirs=2, per_dir=10)
    rotate_all(dirs)
    p = ctl("key", "rekey", "-r", top)
    assert p.stderr == "" and p.stdout.startswith("re-encrypted 20 files"), p


def test_rotate_master_and_shred_json_through_the_daemon(mounted):
    dirs, _ = make_tree(mounted, mounted.path("s"), n_dirs=4, per_dir=5)
    p = ctl("key", "rotate-master", mounted.mnt, "--pin-file",
            mounted.token.pin_file, "--json")
    progress, result = json_lines(p.stdout)
    assert result["ok"] and "rotated to v2" in result["message"], p.stdout
    assert progress and {e["phase"] for e in progress} == {"rewrap"}
    assert progress[-1]["done"] == progress[-1]["total"] >= 5

    p = ctl("key", "shred", dirs[0], "--pin-file", mounted.token.pin_file,
            "--yes", "--json")
    progress, result = json_lines(p.stdout)
    assert result["ok"] and "shredded" in result["message"], p.stdout
    phases = [e["phase"] for e in progress]
    assert phases[0] == "rekey" and phases[-1] == "rewrap", phases
    assert "destroys its keys" in p.stderr    # the check, off stdout

    # A refusal is a result line too.
    p = ctl("key", "rekey", "-r", mounted.path("missing"), "--json", check=False)
    assert p.returncode == 1
    _, result = json_lines(p.stdout)
    assert result["ok"] is False and result["exit"] == 1, p.stdout
    assert "not a directory inside a coffre mount" in result["message"]
    # The daemon's refusal too.
    os.mkdir(mounted.path("gone"))
    p = run([COFFRECTL, "key", "shred", mounted.mnt, "--pin-file",
             mounted.token.pin_file, "--yes", "--json"], check=False)
    _, result = json_lines(p.stdout)
    assert p.returncode == 1 and result["ok"] is False, p.stdout
    assert "root" in result["message"], result


def test_verify_and_restore_json(workdir, token):
    vol, bucket = make_volume(workdir, token)
    vol.mount()
    try:
        populate(vol)
        sync(vol)
    finally:
        vol.unmount()
    p = ctl("verify", bucket, "--hsm", token.uri, "--pin-file", token.pin_file,
            "--json")
    progress, result = json_lines(p.stdout)
    assert result["ok"] is True and result["exit"] == 0 and result["files"] >= 6
    assert progress and {e["phase"] for e in progress} == {"verify"}
    assert progress[-1]["unit"] == "bytes"
    assert progress[-1]["done"] == progress[-1]["total"] > 0

    target = os.path.join(workdir, "restored")
    p = ctl("restore", bucket, target, "--hsm", token.uri, "--pin-file",
            token.pin_file, "--json")
    progress, result = json_lines(p.stdout)
    assert result["ok"] is True and "restored" in result["message"], p.stdout
    phases = [e["phase"] for e in progress]
    assert phases[0] == "verify" and phases[-1] == "copy", phases
    assert progress[-1]["done"] == progress[-1]["total"] > 0
