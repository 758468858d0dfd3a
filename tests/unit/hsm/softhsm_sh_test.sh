#!/bin/sh
# Checks tests/softhsm.sh, the helper shell tests source: a private store,
# a token with the asked-for label that p11-kit reaches through the
# registered softhsm2 module, and a teardown that leaves nothing behind.
# usage: softhsm_sh_test.sh PATH/TO/softhsm.sh
set -u
. "$1" || exit 1

fail() { echo "FAIL: $*" >&2; softhsm_teardown; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/coffre-hsm-sh-XXXXXX") || exit 1
softhsm_setup "$dir" || fail "softhsm_setup"
[ "$SOFTHSM2_CONF" = "$dir/softhsm2.conf" ] || fail "SOFTHSM2_CONF not exported"
grep -q "^directories.tokendir = $dir/tokens\$" "$SOFTHSM2_CONF" ||
	fail "tokendir not private"
softhsm_init_token sh-token-a 1234 12345678 || fail "init a"
softhsm_init_token sh-token-b 1234 12345678 || fail "init b"
slots=$(softhsm2-util --show-slots) || fail "show-slots"
echo "$slots" | grep -q "Label: *sh-token-a" || fail "token a missing"
echo "$slots" | grep -q "Label: *sh-token-b" || fail "token b missing"
# The registered module sees the same store through SOFTHSM2_CONF.
p11-kit list-modules 2>/dev/null | grep -q "token: sh-token-a" ||
	fail "p11-kit does not see token a"
softhsm_init_token onlyone 1234 2>/dev/null && fail "bad usage accepted"
softhsm_teardown
[ ! -e "$dir" ] || fail "teardown left $dir"
[ -z "${SOFTHSM2_CONF:-}" ] || fail "teardown left SOFTHSM2_CONF"
echo ok
