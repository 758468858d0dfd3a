# Shell helpers for tests that need a SoftHSM2 token of their own.
#
# Source this file, then:
#   softhsm_setup DIR            make DIR/tokens and DIR/softhsm2.conf and
#                                export SOFTHSM2_CONF pointing at it
#   softhsm_init_token LABEL USERPIN SOPIN
#                                initialise the first free slot of that
#                                configuration as a token named LABEL
#   softhsm_teardown             remove the directory made by softhsm_setup
#
# Relies on softhsm2-util (SoftHSM2 >= 2.5) and its "file" object store.  The
# token directory is private to the caller, so tests may run in parallel, and
# PKCS#11 modules loaded afterwards (directly or through p11-kit's registered
# softhsm2 module) read SOFTHSM2_CONF at C_Initialize time.

softhsm_setup() {
	if [ $# -ne 1 ] || [ -z "$1" ]; then
		echo "softhsm_setup: usage: softhsm_setup DIR" >&2
		return 2
	fi
	SOFTHSM_DIR=$1
	mkdir -p "$SOFTHSM_DIR/tokens" || return 1
	chmod 0700 "$SOFTHSM_DIR" "$SOFTHSM_DIR/tokens" || return 1
	cat >"$SOFTHSM_DIR/softhsm2.conf" <<EOF || return 1
directories.tokendir = $SOFTHSM_DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
	SOFTHSM2_CONF=$SOFTHSM_DIR/softhsm2.conf
	export SOFTHSM_DIR SOFTHSM2_CONF
}

softhsm_init_token() {
	if [ $# -ne 3 ]; then
		echo "softhsm_init_token: usage: softhsm_init_token LABEL USERPIN SOPIN" >&2
		return 2
	fi
	if [ -z "${SOFTHSM2_CONF:-}" ]; then
		echo "softhsm_init_token: call softhsm_setup first" >&2
		return 2
	fi
	softhsm2-util --init-token --free --label "$1" --pin "$2" \
		--so-pin "$3" >/dev/null
}

softhsm_teardown() {
	if [ -n "${SOFTHSM_DIR:-}" ] && [ -d "$SOFTHSM_DIR" ]; then
		rm -rf -- "$SOFTHSM_DIR"
	fi
	unset SOFTHSM_DIR SOFTHSM2_CONF
}
