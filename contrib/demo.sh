#!/bin/sh
# The main job on the embedded default: install dependencies, build coffre,
# create two local SoftHSM2 tokens (primary and backup HSM), make a volume
# whose master key lives in both, with 7 custodians' shares (any 5 recover
# it) and a local bucket directory its ciphertext is copied to, write its
# mount configuration /etc/coffre/demo.conf (the build's configuration
# directory: the HSMs a mount uses come only from there), and mount it with
# -o conf=demo.  Run as root.
#   ./contrib/demo.sh        set up (once) and mount on /mnt/coffre-demo
#   ./contrib/demo.sh stop   unmount
# Everything else lives in $COFFRE_DEMO (default /var/lib/coffre-demo);
# $COFFRE_DEMO_CONF names the configuration (default demo).
set -eu
cd "$(dirname "$0")/.."
DEMO=${COFFRE_DEMO:-/var/lib/coffre-demo}
MNT=${COFFRE_DEMO_MNT:-/mnt/coffre-demo}
CONF=${COFFRE_DEMO_CONF:-demo}
export SOFTHSM2_CONF="$DEMO/softhsm2.conf"

if [ "${1:-}" = stop ]; then
	umount "$MNT" && echo "unmounted $MNT"
	exit 0
fi

./scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
BIN=$PWD/build/src/cli
# Where this build keeps mount configurations (/etc/coffre unless meson
# was given -Dconfdir=).
CONFDIR=$("$BIN/coffre" --version | sed -n 's/.*mount configurations in \(.*\))$/\1/p')
HSMS="--hsm pkcs11:token=coffre-demo-a --hsm pkcs11:token=coffre-demo-b"

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
# Is $CONFDIR/$CONF.conf this demo's (or absent)?
ours() {
	[ ! -e "$CONFDIR/$CONF.conf" ] ||
		grep -qxF "backing = $(realpath "$DEMO")/backing" "$CONFDIR/$CONF.conf"
}
if ! ours; then
	echo "$CONFDIR/$CONF.conf belongs to another volume: set COFFRE_DEMO_CONF to" \
		"another name" >&2
	exit 1
fi
if [ ! -f "$DEMO/backing/.coffre.conf" ]; then
	mkdir -p "$DEMO/bucket"
	# shellcheck disable=SC2086  # two --hsm options
	"$BIN/coffrectl" init --conf "$CONF" $HSMS \
		--pin-file "$DEMO/pin" --shares-dir "$DEMO/shares" \
		--bucket "$DEMO/bucket" "$DEMO/backing"
elif [ ! -e "$CONFDIR/$CONF.conf" ]; then
	# A demo volume from before mount configurations: moved over once,
	# with the HSMs named here (never those its backing dir lists).
	echo "writing the demo volume's mount configuration $CONFDIR/$CONF.conf"
	bucket=
	[ ! -f "$DEMO/bucket/.coffre.bucket" ] || bucket="--bucket $DEMO/bucket"
	# shellcheck disable=SC2086  # two --hsm options, maybe a bucket
	"$BIN/coffrectl" conf adopt "$DEMO/backing" "$CONF" $HSMS --pin-file "$DEMO/pin" \
		$bucket
fi
mkdir -p "$MNT"
if ! mountpoint -q "$MNT"; then
	"$BIN/coffre" "$DEMO/backing" "$MNT" -o conf="$CONF"
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
# status exits 1 (degraded) or 2 (failing) with its warnings: shown, not fatal.
"$BIN/coffrectl" status "$MNT" || :
echo
echo "mount configuration: $CONFDIR/$CONF.conf"
sed 's/^/  /' "$CONFDIR/$CONF.conf"
echo
echo "custodians' shares: $DEMO/shares   PIN: $DEMO/pin"
echo "for coffrectl commands that log into the tokens: export SOFTHSM2_CONF=$SOFTHSM2_CONF"
echo "unmount with: $0 stop"
