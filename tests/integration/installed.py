"""Helpers shared by the tests of installed files: test_install.py (a
meson install into a DESTDIR) and test_package.py (the Debian package
extracted into a root).  Both run the installed programs with build/ off
the PATH, and mount through mount(8), which finds its helpers only in
/sbin: those mounts run in a private mount namespace (unshare -m) where
the installed sbin is bound over the system's, so the mount lives and
dies in that namespace.
"""
import os
import textwrap

from conftest import run

# build/ is not on it, nor is an install root's sbin (each program is
# named by its path, as mount(8) and systemd do).
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def installed_files(helperdir):
    """What an install puts in place (paths relative to its root), the
    mount helper in helperdir (sbin, or usr/sbin)."""
    return ["usr/sbin/coffre", "usr/sbin/coffrectl", helperdir + "/mount.fuse.coffre",
            "usr/share/man/man8/coffre.8", "usr/share/man/man8/coffrectl.8",
            "usr/share/man/man5/coffre.conf.5", "lib/systemd/system/coffre@.service",
            "usr/share/bash-completion/completions/coffre",
            "usr/share/bash-completion/completions/coffrectl"]


def env(**extra):
    """The environment of an installed program: the system's PATH only."""
    e = {k: v for k, v in os.environ.items() if k not in ("PATH", "COFFRE_BUILD")}
    e["PATH"] = SYSTEM_PATH
    e.update(extra)
    return e


def in_namespace(script, sbin, prologue="", **kw):
    """script run by sh (set -eu) in a private mount namespace where the
    installed sbin is bound over /usr/sbin (so mount(8) finds
    /sbin/mount.fuse.coffre, which runs /usr/sbin/coffre); prologue runs
    first (more mounts)."""
    head = f"set -eu\nmount --bind {sbin} /usr/sbin\n" + textwrap.dedent(prologue)
    return run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                head + textwrap.dedent(script)], env=env(), **kw)
