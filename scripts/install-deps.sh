#!/bin/sh
# Install everything coffre needs to build, test and benchmark on Debian 12
# (run as root).  Idempotent: a second run only checks.  scdoc renders the
# man pages; man-db, bash-completion and systemd (for systemd-analyze, not
# as PID 1) are what tests/integration/test_install.py checks them with.
# dpkg-dev, debhelper, fakeroot and lintian build and check the Debian
# package (debian/, tests/integration/test_package.py).
set -eu
PKGS="build-essential meson ninja-build pkg-config clang
libfuse3-dev fuse3 libssl-dev libxxhash-dev libcriterion-dev libp11-kit-dev p11-kit
softhsm2 opensc gnutls-bin python3 python3-pytest python3-prometheus-client python3-yaml attr fio gocryptfs rclone
scdoc man-db bash-completion systemd
dpkg-dev debhelper fakeroot lintian"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
# FUSE needs its device; containers sometimes lack the module load.
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
