/*
 * coffrectl.c — administration of coffre volumes.
 *
 *   coffrectl init --hsm URI --pin-file FILE [--segment-size N] [--strict-holes] BACKING
 *   coffrectl hsm show BACKING --pin-file FILE
 *
 * Options may come before or after the arguments.  PINs come from files
 * only (never argv or the environment).  Every failure prints one line
 * that says what to do, and exits non-zero with the volume unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "coffre/hsm.h"
#include "coffre/keys.h"

#define MAX_ARGS 16

struct cli {
	const char *hsm[COFFRE_MAX_HSMS];
	unsigned n_hsm;
	const char *pin_file;
	uint32_t seg_size;
	bool strict_holes;
	bool json;
	const char *args[MAX_ARGS];
	unsigned n_args;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: coffrectl COMMAND [options] ARGS\n"
		"\n"
		"commands:\n"
		"  init --hsm URI [--hsm URI ...] --pin-file FILE [--segment-size N]\n"
		"       [--strict-holes] BACKING\n"
		"      create a volume in the empty directory BACKING; the master key is\n"
		"      drawn from the first token's RNG and imported as a non-extractable\n"
		"      key into every HSM (primary first); their check values must agree\n"
		"  status MOUNTPOINT [--json]\n"
		"      state of a running mount: HSMs (up, down, failovers), key cache\n"
		"  hsm show BACKING --pin-file FILE\n"
		"      log into the volume's HSMs and show each one's state and the\n"
		"      master key object's attributes\n"
		"\n"
		"options:\n"
		"  --hsm URI           PKCS#11 URI (RFC 7512) of the token, e.g.\n"
		"                      'pkcs11:token=coffre' (module found through p11-kit)\n"
		"                      or 'pkcs11:token=coffre?module-path=/usr/lib/softhsm/libsofthsm2.so'\n"
		"  --pin-file FILE     file holding the token's user PIN (mode 0600)\n"
		"  --segment-size N    plaintext bytes per segment: 4096..65536, a power\n"
		"                      of two (default 16384)\n"
		"  --strict-holes      store encrypted zero segments: no unauthenticated holes\n"
		"  -h, --help          this help\n");
}

static int parse(int argc, char **argv, int first, struct cli *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	for (i = first; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--strict-holes")) {
			c->strict_holes = true;
		} else if (!strcmp(a, "--json")) {
			c->json = true;
		} else if (!strcmp(a, "--hsm") || !strcmp(a, "--pin-file") ||
			   !strcmp(a, "--segment-size")) {
			const char *v;

			if (i + 1 == argc) {
				fprintf(stderr, "coffrectl: %s needs a value\n", a);
				return -EINVAL;
			}
			v = argv[++i];
			if (!strcmp(a, "--hsm")) {
				if (c->n_hsm == COFFRE_MAX_HSMS) {
					fprintf(stderr, "coffrectl: at most %d HSMs\n",
						COFFRE_MAX_HSMS);
					return -EINVAL;
				}
				c->hsm[c->n_hsm++] = v;
			} else if (!strcmp(a, "--pin-file")) {
				c->pin_file = v;
			} else {
				char *end;
				unsigned long n = strtoul(v, &end, 10);

				if (*end || !seg_size_valid((uint32_t)n) || n > UINT32_MAX) {
					fprintf(stderr, "coffrectl: --segment-size must be a "
						"power of two from 4096 to 65536\n");
					return -EINVAL;
				}
				c->seg_size = (uint32_t)n;
			}
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "coffrectl: unknown option %s (see --help)\n", a);
			return -EINVAL;
		} else if (c->n_args < MAX_ARGS) {
			c->args[c->n_args++] = a;
		} else {
			fprintf(stderr, "coffrectl: too many arguments\n");
			return -EINVAL;
		}
	}
	return 0;
}

static char *load_pin(const struct cli *c, int *len)
{
	char err[256], *pin;

	if (!c->pin_file) {
		fprintf(stderr, "coffrectl: --pin-file FILE is required (PINs are never "
			"taken from the command line)\n");
		return NULL;
	}
	pin = secmem_alloc(COFFRE_PIN_MAX + 1);
	if (!pin)
		return NULL;
	*len = pin_read_file(c->pin_file, pin, err, sizeof(err));
	if (*len < 0) {
		fprintf(stderr, "coffrectl: %s\n", err);
		secmem_free(pin, COFFRE_PIN_MAX + 1);
		return NULL;
	}
	return pin;
}

static int cmd_init(const struct cli *c)
{
	struct volume_init_opts o;
	char err[512] = "", *pin;
	int len, ret;

	if (c->n_args != 1 || c->n_hsm == 0) {
		fprintf(stderr, "usage: coffrectl init --hsm URI --pin-file FILE "
			"[--segment-size N] BACKING\n");
		return 2;
	}
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	memset(&o, 0, sizeof(o));
	o.hsm_uris = c->hsm;
	o.n_hsms = c->n_hsm;
	o.pin = pin;
	o.pin_len = (size_t)len;
	o.seg_size = c->seg_size;
	o.strict_holes = c->strict_holes;
	ret = volume_init(c->args[0], &o, err, sizeof(err));
	secmem_free(pin, COFFRE_PIN_MAX + 1);
	if (ret) {
		fprintf(stderr, "coffrectl: init failed: %s\n", err);
		return 1;
	}
	printf("coffre volume created in %s\n", c->args[0]);
	printf("mount it with: coffre %s MOUNTPOINT -o pin_file=%s\n", c->args[0],
	       c->pin_file);
	return 0;
}

static int cmd_hsm_show(const struct cli *c)
{
	struct hsm_member_status st[COFFRE_MAX_HSMS];
	struct hsm_key_attrs a;
	struct volume *v = NULL;
	char err[512] = "", *pin;
	unsigned i, n;
	int len, ret = 0;

	if (c->n_args != 1) {
		fprintf(stderr, "usage: coffrectl hsm show BACKING --pin-file FILE\n");
		return 2;
	}
	pin = load_pin(c, &len);
	if (!pin)
		return 1;
	ret = volume_open(c->args[0], pin, (size_t)len, &v, err, sizeof(err));
	secmem_free(pin, COFFRE_PIN_MAX + 1);
	if (ret) {
		fprintf(stderr, "coffrectl: %s\n", err);
		return 1;
	}
	n = hsm_pool_status(v->hsm, st, COFFRE_MAX_HSMS);
	printf("master key: %s\n", v->mk_label);
	for (i = 0; i < n; i++) {
		struct hsm *h = hsm_pool_member(v->hsm, i);

		printf("\nhsm %u: %s\ntoken: %s\nstate: %s\n", i + 1, st[i].uri,
		       st[i].token[0] ? st[i].token : "?",
		       st[i].state == HSM_UP ? "up" : st[i].reason);
		if (!h)
			continue;
		ret = hsm_key_attrs(h, v->mk_label, &a);
		if (ret) {
			fprintf(stderr, "coffrectl: cannot read key attributes: %s\n",
				strerror(-ret));
			break;
		}
		printf("sensitive: %s\nextractable: %s\nalways_sensitive: %s\n"
		       "never_extractable: %s\nvalue_readable: %s\n",
		       a.sensitive ? "yes" : "no", a.extractable ? "yes" : "no",
		       a.always_sensitive ? "yes" : "no",
		       a.never_extractable ? "yes" : "no",
		       a.value_readable ? "yes" : "no");
	}
	volume_close(v);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct cli c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (secmem_init(1u << 20))
		fprintf(stderr, "coffrectl: warning: no locked memory for keys\n");
	if (!strcmp(argv[1], "init")) {
		if (parse(argc, argv, 2, &c))
			return 2;
		return cmd_init(&c);
	}
	if (!strcmp(argv[1], "status")) {
		if (parse(argc, argv, 2, &c))
			return 2;
		if (c.n_args != 1) {
			fprintf(stderr, "usage: coffrectl status MOUNTPOINT [--json]\n");
			return 2;
		}
		return control_call(c.args[0], c.json ? "status-json" : "status", stdout);
	}
	if (!strcmp(argv[1], "hsm") && argc > 2 && !strcmp(argv[2], "show")) {
		if (parse(argc, argv, 3, &c))
			return 2;
		return cmd_hsm_show(&c);
	}
	fprintf(stderr, "coffrectl: unknown command '%s' (see --help)\n", argv[1]);
	return 2;
}
