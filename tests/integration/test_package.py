"""The Debian package (debian/): built from a copy of the tree with
dpkg-buildpackage (nocheck, binary only), lintian-clean, its payload
checked, and a volume mounted with only its files, build/ off the PATH:
coffrectl init, then one fstab line through mount(8) and the package's
/sbin/mount.fuse.coffre, `mount -a` twice (the second a no-op).

dpkg-buildpackage writes beside the source tree, so the copy lives in a
temp dir (coffre-deb-*/coffre-VERSION) with the outputs next to it.  The
.deb is unpacked with `dpkg -x` into a throwaway root; as on a merged-/usr
Debian 12, where dpkg's unpack follows /sbin -> usr/sbin, the root's sbin
is folded into usr/sbin.  The packaged programs read /etc/coffre, so the
mounts run in a private mount namespace (installed.in_namespace) where the
root's usr/sbin is /usr/sbin and the root's etc is an overlay upper layer
over /etc: coffrectl's NAME.conf lands in the root's etc/coffre (0700 from
the package), never in the system's /etc.
"""
import os
import re
import shutil
import tempfile
import time

import pytest

from conftest import Token, run, workdir  # noqa: F401
from installed import in_namespace, installed_files

SRC = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The package step's share of CI (issue 13): the build must stay under it.
BUILD_BUDGET_S = 600


def project_version():
    with open(os.path.join(SRC, "meson.build")) as f:
        return re.search(r"^\s*version:\s*'([^']+)'", f.read(), re.M)[1]


def copy_tree(dest):
    """The tree's files (tracked and untracked, not ignored: no build
    directories) copied to dest; every file when this is no git tree."""
    p = run(["git", "-C", SRC, "ls-files", "-z", "-co", "--exclude-standard"], check=False)
    if p.returncode != 0:
        shutil.copytree(SRC, dest, symlinks=True,
                        ignore=shutil.ignore_patterns("build*", ".git", "__pycache__"))
        return
    for rel in filter(None, p.stdout.split("\0")):
        src = os.path.join(SRC, rel)
        if not os.path.lexists(src):          # deleted, not yet committed
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)


class Package:
    """The package built from a copy of the tree, in a temp dir."""

    def __init__(self):
        if not shutil.which("dpkg-buildpackage"):
            pytest.skip("dpkg-buildpackage is missing (dpkg-dev; "
                        "scripts/install-deps.sh installs it)")
        self.version = project_version()
        self.dir = tempfile.mkdtemp(prefix="coffre-deb-")
        self.src = os.path.join(self.dir, f"coffre-{self.version}")
        copy_tree(self.src)
        start = time.monotonic()
        p = run(["dpkg-buildpackage", "-us", "-uc", "-b"], check=False, cwd=self.src,
                env=dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count()}"))
        self.build_seconds = time.monotonic() - start
        assert p.returncode == 0, f"dpkg-buildpackage failed:\n{p.stdout[-4000:]}\n{p.stderr}"
        arch = run(["dpkg-architecture", "-qDEB_HOST_ARCH"]).stdout.strip()
        self.deb = os.path.join(self.dir, f"coffre_{self.version}_{arch}.deb")
        self.changes = os.path.join(self.dir, f"coffre_{self.version}_{arch}.changes")
        assert os.path.isfile(self.deb) and os.path.isfile(self.changes), os.listdir(self.dir)
        self.root = os.path.join(self.dir, "root")

    def unpack(self):
        """dpkg -x into self.root, sbin folded into usr/sbin (merged /usr)."""
        run(["dpkg", "-x", self.deb, self.root])
        sbin, usr_sbin = os.path.join(self.root, "sbin"), os.path.join(self.root, "usr/sbin")
        for n in os.listdir(sbin):
            os.rename(os.path.join(sbin, n), os.path.join(usr_sbin, n))
        os.rmdir(sbin)
        os.symlink("usr/sbin", sbin)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def package():
    pkg = Package()
    print(f"\ndpkg-buildpackage: {pkg.build_seconds:.0f} s")
    yield pkg
    pkg.remove()


def test_build_time_and_version(package):
    assert package.build_seconds < BUILD_BUDGET_S, package.build_seconds
    # debian/changelog follows meson's project version (a native package:
    # no Debian revision).
    changelog = run(["dpkg-parsechangelog", "-l", os.path.join(SRC, "debian/changelog"),
                     "-S", "Version"]).stdout.strip()
    assert changelog == package.version
    assert run(["dpkg-deb", "-f", package.deb, "Version"]).stdout.strip() == package.version


def test_lintian_clean(package):
    if not shutil.which("lintian"):
        pytest.skip("lintian is missing (scripts/install-deps.sh installs it)")
    # Warnings left are overridden, each with its reason, in
    # debian/coffre.lintian-overrides.
    p = run(["lintian", "--info", "--fail-on", "error,warning", package.deb,
             package.changes], check=False)
    tags = [line for line in p.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert p.returncode == 0 and not tags, p.stdout + p.stderr


def test_payload(package):
    listing = run(["dpkg-deb", "-c", package.deb]).stdout.splitlines()
    entries = {line.split()[5].lstrip(".").rstrip("/"): line.split()[0] for line in listing}
    for f in installed_files("sbin"):
        f = "/" + f + (".gz" if "/man/" in f else "")     # dh_compress
        assert f in entries, f
    for f in ["/usr/sbin/coffre", "/usr/sbin/coffrectl", "/sbin/mount.fuse.coffre"]:
        assert entries[f] == "-rwxr-xr-x", (f, entries[f])
    assert "/usr/share/man/man8/mount.fuse.coffre.8.gz" in entries
    # /etc/coffre: root's alone, and empty (the package ships no NAME.conf:
    # coffrectl writes them; no conffiles).
    assert entries["/etc/coffre"] == "drwx------"
    assert not [e for e in entries if e.startswith("/etc/coffre/")]
    # No maintainer scripts, no conffiles: the template unit is neither
    # enabled nor started (dh_installsystemd --no-enable --no-start).
    names = run(["sh", "-c", f"dpkg-deb --ctrl-tarfile {package.deb} | tar -t"]).stdout.split()
    assert sorted(names) == ["./", "./control", "./md5sums"], names
    fields = run(["dpkg-deb", "-f", package.deb, "Depends", "Recommends", "Suggests"]).stdout
    assert re.search(r"^Depends:.*\bfuse3\b.*\blibfuse3-3\b.*\blibssl3\b", fields, re.M), fields
    assert "Suggests: softhsm2" in fields, fields


def test_mount_from_package_with_fstab(package, workdir):
    package.unpack()
    root = package.root
    # The helper and the unit name the packaged paths.
    with open(os.path.join(root, "usr/sbin/mount.fuse.coffre")) as f:
        assert "coffre='/usr/sbin/coffre'" in f.read()
    with open(os.path.join(root, "lib/systemd/system/coffre@.service")) as f:
        unit = f.read()
    assert "\nExecStart=/usr/sbin/coffre " in unit
    assert "\nLoadCredentialEncrypted=coffre-pin:/etc/coffre/%i.pin.cred\n" in unit
    token = Token(workdir)
    backing, mnt = os.path.join(workdir, "backing"), os.path.join(workdir, "mnt")
    os.makedirs(mnt)
    name = "pkg-" + os.urandom(4).hex()
    fstab = os.path.join(workdir, "fstab")
    with open(fstab, "w") as f:
        f.write(f"{backing} {mnt} fuse.coffre defaults,_netdev,conf={name} 0 0\n")
    ovl_work = os.path.join(package.dir, "etc-work")
    os.makedirs(ovl_work)
    p = in_namespace(f"""
        trap 'umount {mnt} 2>/dev/null || true' EXIT
        echo "coffre: $(command -v coffre)"
        coffre --version
        coffrectl init --conf {name} --hsm {token.uri} --pin-file {token.pin_file} {backing}
        echo "mountpoint = {mnt}" >> /etc/coffre/{name}.conf
        mount -a -T {fstab} -t fuse.coffre
        mount -a -T {fstab} -t fuse.coffre
        echo "mounts: $(grep -c ' {mnt} ' /proc/self/mounts)"
        findmnt -n -o FSTYPE,SOURCE,OPTIONS {mnt}
        echo hello > {mnt}/greeting
        umount {mnt}
        mount -t fuse.coffre {backing} {mnt} -o conf={name}
        echo "read: $(cat {mnt}/greeting)"
        umount {mnt}
        """, os.path.join(root, "usr/sbin"), prologue=f"""
        mount -t overlay overlay -o lowerdir=/etc,upperdir={root}/etc,workdir={ovl_work} /etc
        """, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert "coffre: /usr/sbin/coffre" in lines          # the package's, not build/'s
    assert "/etc/coffre" in p.stdout                     # --version: its confdir
    assert "mounts: 1" in lines, p.stdout
    fsline = next(x for x in lines if x.startswith("fuse.coffre "))
    assert fsline.split()[1] == os.path.realpath(backing)
    assert "nosuid" in fsline and "nodev" in fsline
    assert "read: hello" in lines, p.stdout
    # The configuration went to the package's /etc/coffre, not the system's.
    assert os.path.isfile(os.path.join(root, "etc/coffre", name + ".conf"))
    assert not os.path.exists(f"/etc/coffre/{name}.conf")
    assert not os.path.ismount(mnt)
