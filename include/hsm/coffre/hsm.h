/*
 * coffre HSM access: one PKCS#11 token found by an RFC 7512 URI (parsed and
 * its module loaded by p11-kit), logged in as user, holding versioned master
 * keys as sensitive, non-extractable AES objects limited to CKM_AES_GCM and
 * CKM_AES_CMAC.  Knows nothing of filesystems.
 *
 * Every function returns 0 or a negative errno and is thread-safe (one
 * session per token, operations serialised: the HSM is never on the data
 * path).  Error mapping:
 *   -EACCES     PIN rejected (never retried automatically)
 *   -ENODEV     no module / no token matches the URI, token removed, device error
 *   -ENOENT     no key object with that label
 *   -EBADMSG    GCM tag did not verify (CKR_ENCRYPTED_DATA_INVALID / _LEN)
 *   -EIO        ambiguous failure (SoftHSM2 reports a bad GCM tag as
 *               CKR_GENERAL_ERROR): caller probes with hsm_kcv()
 *   -EINVAL     bad URI (including a pin-value/pin-source attribute: PINs
 *               come only from files)
 */
#ifndef COFFRE_HSM_H
#define COFFRE_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffre/crypto.h"
#include "coffre/metrics.h"

struct hsm;

/*
 * Load the module named by the URI's module-path/module-name attribute, or
 * else the p11-kit registered modules, pick the one token matching the URI
 * (label, serial, manufacturer, model; never a slot number), open an R/W
 * session and log in with the PIN.  err (errlen bytes) gets a one-line
 * reason on failure.  Must be called in the process that uses the handle
 * (PKCS#11 state does not survive fork()).  PKCS#11 login state belongs to
 * the process: while another handle of this process is logged in to the
 * same token, the token does not check the PIN again
 * (CKR_USER_ALREADY_LOGGED_IN), so re-authenticating a user must not rely
 * on a second hsm_open in the daemon.  SoftHSM2 sees only the tokens that
 * existed when the first handle of the process was opened.
 */
int hsm_open(const char *uri, const char *pin, size_t pin_len,
	     struct hsm **out, char *err, size_t errlen);
void hsm_close(struct hsm *h);
/* The token label, for messages. */
const char *hsm_label(const struct hsm *h);

int hsm_random(struct hsm *h, void *buf, size_t n);

/* Import a 32-byte AES key as a token object with this label: CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, !CKA_EXTRACTABLE, ENCRYPT/DECRYPT/SIGN only,
 * CKA_ALLOWED_MECHANISMS = {CKM_AES_GCM, CKM_AES_CMAC}.  -EEXIST if an
 * object with that label exists. */
int hsm_import_key(struct hsm *h, const char *label, const uint8_t key[COFFRE_KEY_LEN]);
/* 0 if a key object with this label exists, -ENOENT if not (-ENODEV if
 * the token itself no longer answers: its storage vanished). */
int hsm_find_key(struct hsm *h, const char *label);
int hsm_destroy_key(struct hsm *h, const char *label);
/* Key check value: the first 8 bytes of AES-CMAC(key, 0^16). */
int hsm_kcv(struct hsm *h, const char *label, uint8_t kcv[COFFRE_KCV_LEN]);

/* AES-256-GCM with the given 12-byte IV and AAD, 128-bit tag.
 * seal: out gets len + 16 bytes (ct || tag).
 * open: in is ct || tag (in_len >= 16); out gets in_len - 16 bytes. */
int hsm_gcm_seal(struct hsm *h, const char *label, const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		 size_t len, uint8_t *out);
int hsm_gcm_open(struct hsm *h, const char *label, const uint8_t iv[12],
		 const uint8_t *aad, size_t aad_len, const uint8_t *in,
		 size_t in_len, uint8_t *out);

/* Read an attribute of the key object (tests and `coffrectl status`):
 * fills the CK_BBOOL values of CKA_SENSITIVE, CKA_EXTRACTABLE and whether
 * reading CKA_VALUE was refused. */
struct hsm_key_attrs {
	int sensitive, extractable, value_readable, always_sensitive,
	    never_extractable;
};
int hsm_key_attrs(struct hsm *h, const char *label, struct hsm_key_attrs *a);

/* ---- data.c: small private data objects (not secrets) */

/* Create or update the data object `label` (at most 256 bytes). */
int hsm_data_put(struct hsm *h, const char *label, const void *value, size_t len);
/* Read it: its length, or -ENOENT. */
int hsm_data_get(struct hsm *h, const char *label, void *value, size_t cap);

/* Format 2's generation object (FORMAT.md §9.3): every object under a
 * label is read, and an update creates the new object before it destroys
 * the old ones. */
#define HSM_DATA_MAX 256
#define HSM_DATA_OBJECTS_MAX 4
struct hsm_data_value {
	size_t len;                   /* the value's length, even if > HSM_DATA_MAX */
	uint8_t value[HSM_DATA_MAX];  /* the first len bytes, if len <= HSM_DATA_MAX */
};
/* Every data object carrying label (at most max <= HSM_DATA_OBJECTS_MAX,
 * more is -E2BIG): returns how many (0 if none). */
int hsm_data_get_all(struct hsm *h, const char *label,
		     struct hsm_data_value *out, unsigned max);
/* C_CreateObject of label = value, then C_DestroyObject of every object
 * that carried label before. */
int hsm_data_replace(struct hsm *h, const char *label, const void *value,
		     size_t len);
/* C_CreateObject only, whatever already carries label (tests: the state a
 * crash inside hsm_data_replace leaves). */
int hsm_data_create(struct hsm *h, const char *label, const void *value,
		    size_t len);

/* ---- pool.c: several HSMs side by side, with failover */

/*
 * An ordered list of HSMs (primary first) holding the same master key.
 * Operations go to the first healthy member; a device error, a removed
 * token or a lost session marks it down and the next one answers, without
 * failing the caller.  An ambiguous error (-EIO) first probes the member
 * with the key check value: a healthy member means a bad record, answered
 * -EBADMSG with no failover.  A background monitor (hsm_pool_monitor)
 * reconnects members that are down; a member whose PIN was rejected is
 * never retried.  The PIN is kept in locked memory for reconnects.
 */
struct hsm_pool;

enum hsm_state {
	HSM_UP,
	HSM_DOWN,          /* not answering; retried by the monitor */
	HSM_NO_KEY,        /* answers but lacks the master key; retried */
	HSM_PIN_REJECTED,  /* never retried */
};
/* "up", "down", "no-key", "pin-rejected": the one name of a state, in
 * `coffrectl status` (text and JSON) and `coffrectl hsm show`. */
const char *hsm_state_name(enum hsm_state s);

#define HSM_REASON_MAX 160
struct hsm_member_status {
	const char *uri;
	char token[33];
	enum hsm_state state;
	char reason[HSM_REASON_MAX];
	unsigned long failovers;     /* times this member was marked down */
	uint64_t calls;              /* operations run on it (metrics) */
	struct metrics_hist_snap latency;   /* and how long each took */
};

/*
 * Log into every HSM and check that each answering one holds the master
 * key `label` with check value `kcv`.  Fails (err: one line) on a wrong
 * PIN (-EACCES), on an HSM whose check value differs (-EKEYREJECTED), or
 * when none answers correctly: -ENODEV if some do not answer, -ENOKEY if
 * all answer but none holds the key; otherwise succeeds, *degraded set if
 * some are down.
 */
int hsm_pool_open(const char *const *uris, unsigned n, const char *pin,
		  size_t pin_len, const char *label, const uint8_t kcv[COFFRE_KCV_LEN],
		  struct hsm_pool **out, bool *degraded, char *err, size_t errlen);
void hsm_pool_close(struct hsm_pool *p);
/* The master key to health-check members against (after a rotation). */
void hsm_pool_set_master(struct hsm_pool *p, const char *label,
			 const uint8_t kcv[COFFRE_KCV_LEN]);
/* Start the background reconnect thread (period in seconds). */
int hsm_pool_monitor(struct hsm_pool *p, unsigned period);

int hsm_pool_gcm_seal(struct hsm_pool *p, const char *label, const uint8_t iv[12],
		      const uint8_t *aad, size_t aad_len, const uint8_t *pt,
		      size_t len, uint8_t *out);
int hsm_pool_gcm_open(struct hsm_pool *p, const char *label, const uint8_t iv[12],
		      const uint8_t *aad, size_t aad_len, const uint8_t *in,
		      size_t in_len, uint8_t *out);
int hsm_pool_kcv(struct hsm_pool *p, const char *label, uint8_t kcv[COFFRE_KCV_LEN]);

/* Whether pin is the PIN the pool logged in with (constant time): how the
 * daemon re-authenticates destructive commands. */
bool hsm_pool_check_pin(struct hsm_pool *p, const char *pin, size_t len);
/* The highest u64 counter stored under label in any member (0 if none),
 * and storing one in every member that is up (best effort: returns the
 * number of members written). */
uint64_t hsm_pool_counter_get(struct hsm_pool *p, const char *label);
unsigned hsm_pool_counter_put(struct hsm_pool *p, const char *label, uint64_t v);
/*
 * Format 2's generation object (FORMAT.md §9.3) is kept on every member
 * that is up: op runs on each, in order, with the pool lock held, so no
 * member comes back meanwhile.  A member on which op fails with a device
 * error (-ENODEV, -EIO) is marked down and the call goes on; out of
 * descriptors, that is -ENFILE and nobody is marked down.  A resource
 * error (-ENOMEM, -ENFILE, -EMFILE) or an error of op's own stops it:
 * returned, with *at (if not NULL) the member.  Otherwise returns how many
 * members op succeeded on (0: none is up).
 */
typedef int hsm_member_fn(struct hsm *h, unsigned i, void *arg);
int hsm_pool_each(struct hsm_pool *p, hsm_member_fn *op, void *arg,
		  unsigned *at);
/* A member the monitor brings back is first given to join (pool lock
 * held), after its login and key check; it counts as up only if join
 * returns 0, and otherwise stays down and is retried at the next round.
 * NULL removes the hook. */
void hsm_pool_set_join(struct hsm_pool *p, hsm_member_fn *join, void *arg);
/* One reconnect round now, as the monitor runs them. */
void hsm_pool_reconnect(struct hsm_pool *p);
/* Tests: the next n calls of hsm_pool_each's op (or of join) on member i
 * return err without reaching the token. */
void hsm_pool_inject(struct hsm_pool *p, unsigned i, int err, unsigned n);

/* Members, for ceremonies that must touch every HSM (NULL if not up). */
unsigned hsm_pool_size(const struct hsm_pool *p);
struct hsm *hsm_pool_member(struct hsm_pool *p, unsigned i);
/* A snapshot of every member's state; returns the count (<= max). */
unsigned hsm_pool_status(struct hsm_pool *p, struct hsm_member_status *out,
			 unsigned max);

#endif
