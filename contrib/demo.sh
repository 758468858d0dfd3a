#!/bin/sh
# The main job on the embedded default: install dependencies, build coffre,
# create two local SoftHSM2 tokens (primary and backup HSM), make a volume
# whose master key lives in both, with 7 custodians' shares (any 5 recover
# it) and a local bucket directory its ciphertext is copied to, and mount
# it.  Run as root.
#   ./contrib/demo.sh        set up (once) and mount on /mnt/coffre-demo
#   ./contrib/demo.sh stop   unmount
# Everything lives in $COFFRE_DEMO (default /var/lib/coffre-demo).
set -eu
cd "$(dirname "$0")/.."
DEMO=${COFFRE_DEMO:-/var/lib/coffre-demo}
MNT=${COFFRE_DEMO_MNT:-/mnt/coffre-demo}
export SOFTHSM2_CONF="$DEMO/softhsm2.conf"

if [ "${1:-}" = stop ]; then
	umount "$MNT" && echo "unmounted $MNT"
	exit 0
fi

./scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
BIN=$PWD/build/src/cli

if [ ! -f "$DEMO/softhsm2.conf" ]; then
	echo "creating a SoftHSM2 token in $DEMO/tokens"
	mkdir -p "$DEMO/tokens"
	chmod 700 "$DEMO"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$DEMO" >"$DEMO/softhsm2.conf"
	# A random PIN in a root-only file: the only place coffre takes it from.
	umask 077
	od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >"$DEMO/pin"
	for t in coffre-demo-a coffre-demo-b; do
		softhsm2-util --init-token --free --label $t --pin "$(cat "$DEMO/pin")" \
			--so-pin "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null
	done
	umask 022
fi
if [ ! -f "$DEMO/backing/.coffre.conf" ]; then
	mkdir -p "$DEMO/bucket"
	"$BIN/coffrectl" init --hsm pkcs11:token=coffre-demo-a --hsm pkcs11:token=coffre-demo-b \
		--pin-file "$DEMO/pin" --shares-dir "$DEMO/shares" \
		--bucket "$DEMO/bucket" "$DEMO/backing"
fi
mkdir -p "$MNT"
if ! mountpoint -q "$MNT"; then
	"$BIN/coffre" "$DEMO/backing" "$MNT" -o pin_file="$DEMO/pin"
fi
echo "patient 0042: appointment 2026-11-24 09:30" >"$MNT/welcome.txt"
if [ -f "$DEMO/bucket/.coffre.bucket" ]; then
	"$BIN/coffrectl" sync "$MNT" --timeout 60 >/dev/null
fi
echo
echo "mounted: $MNT  (plaintext view)"
ls -l "$MNT"
echo
echo "backing: $DEMO/backing  (what the disk holds)"
find "$DEMO/backing" -maxdepth 1 | sed 's/^/  /'
echo
if [ -f "$DEMO/bucket/.coffre.bucket" ]; then
	echo "bucket: $DEMO/bucket  (its copy, as an untrusted cloud bucket would hold it)"
	find "$DEMO/bucket" -maxdepth 1 | sed 's/^/  /'
else
	echo "bucket: none (this demo volume predates the demo's bucket: stop it and"
	echo "remove $DEMO to start over with one)"
fi
echo
echo
"$BIN/coffrectl" status "$MNT"
echo
echo "custodians' shares: $DEMO/shares   PIN: $DEMO/pin"
echo "for coffrectl commands that log into the tokens: export SOFTHSM2_CONF=$SOFTHSM2_CONF"
echo "unmount with: $0 stop"
