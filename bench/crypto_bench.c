/*
 * crypto_bench.c — throughput of coffre's segment AEAD (seg_seal/seg_open
 * from src/crypto/aead.c) against a bare OpenSSL 3 AES-256-GCM loop.
 *
 * The baseline is the cheapest correct way to drive EVP: the cipher is
 * fetched once, one context per direction is keyed once, and every segment
 * only re-initialises the IV, feeds the same 9 bytes of AAD, encrypts (or
 * decrypts) and takes (or checks) the 16-byte tag.  coffre's path differs by
 * its per-thread context lookup, its random nonce from the nonce pool and
 * its argument checks, so the gap between the two columns is what coffre's
 * wrapper costs.  Each measurement runs for a fixed wall-clock time over the
 * same buffers, with 1 thread and with 2 threads (each with its own buffers
 * and contexts, reporting the aggregate).  Each cell is the median of
 * several runs, taken in rounds over all cells, as the machine may be
 * shared.
 *
 * Relies on include/coffre/crypto.h (crypto_dep) and OpenSSL >= 3.0.
 * Usage: crypto_bench [-t SECONDS_PER_RUN] [-r RUNS] [-j JSON_FILE]
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "coffre/crypto.h"

#define N_SIZES 3
#define N_IMPLS 4
#define MAX_THREADS 2
#define SEG_AAD_LEN 9

enum impl { COFFRE_SEAL, COFFRE_OPEN, EVP_SEAL, EVP_OPEN };

static const size_t seg_sizes[N_SIZES] = { 4096, 16384, 65536 };
static const char *const impl_names[N_IMPLS] = {
	"coffre seg_seal", "coffre seg_open", "EVP gcm encrypt", "EVP gcm decrypt"
};
static const char *const impl_keys[N_IMPLS] = {
	"coffre_seal", "coffre_open", "evp_encrypt", "evp_decrypt"
};

static uint8_t bench_key[COFFRE_KEY_LEN];
static double run_seconds = 0.5;
#define MAX_RUNS 31
static int repeats = 3;

struct job {
	enum impl impl;
	size_t seg;
	double seconds;		/* out: elapsed */
	uint64_t bytes;		/* out: plaintext bytes processed */
	int err;		/* out: 0 or a negative errno */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bare loop's context: fetched cipher, keyed once. */
static EVP_CIPHER_CTX *evp_ctx_new(const EVP_CIPHER *c, bool enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (!(enc ? EVP_EncryptInit_ex2(ctx, c, bench_key, NULL, NULL) :
		    EVP_DecryptInit_ex2(ctx, c, bench_key, NULL, NULL))) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* One segment with the bare loop: out = iv || ct || tag like coffre's. */
static int evp_seal_one(EVP_CIPHER_CTX *ctx, uint64_t index, const uint8_t *pt,
			size_t len, uint8_t *out)
{
	uint8_t aad[SEG_AAD_LEN] = { 0 };
	int outl;

	memcpy(out, &index, sizeof(index));	/* counter IV: not random */
	memset(out + 8, 0, COFFRE_NONCE_LEN - 8);
	memcpy(aad, &index, sizeof(index));
	if (!EVP_EncryptInit_ex2(ctx, NULL, NULL, out, NULL) ||
	    !EVP_EncryptUpdate(ctx, NULL, &outl, aad, SEG_AAD_LEN) ||
	    !EVP_EncryptUpdate(ctx, out + COFFRE_NONCE_LEN, &outl, pt, (int)len) ||
	    !EVP_EncryptFinal_ex(ctx, out + COFFRE_NONCE_LEN + len, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, COFFRE_TAG_LEN,
				 out + COFFRE_NONCE_LEN + len))
		return -EIO;
	return 0;
}

static int evp_open_one(EVP_CIPHER_CTX *ctx, uint64_t index, const uint8_t *in,
			size_t len, uint8_t *pt)
{
	uint8_t aad[SEG_AAD_LEN] = { 0 }, tag[COFFRE_TAG_LEN];
	int outl;

	memcpy(aad, &index, sizeof(index));
	memcpy(tag, in + COFFRE_NONCE_LEN + len, COFFRE_TAG_LEN);
	if (!EVP_DecryptInit_ex2(ctx, NULL, NULL, in, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, COFFRE_TAG_LEN, tag) ||
	    !EVP_DecryptUpdate(ctx, NULL, &outl, aad, SEG_AAD_LEN) ||
	    !EVP_DecryptUpdate(ctx, pt, &outl, in + COFFRE_NONCE_LEN, (int)len))
		return -EIO;
	if (EVP_DecryptFinal_ex(ctx, pt + len, &outl) <= 0)
		return -EBADMSG;
	return 0;
}

/*
 * Run one implementation on one segment size for run_seconds.  The opening
 * variants first seal one segment with the matching sealer and then open it
 * again and again, so every open really authenticates.
 */
static void *run_job(void *arg)
{
	struct job *j = arg;
	size_t seg = j->seg;
	uint8_t *pt = malloc(seg), *ct = malloc(seg + COFFRE_SEG_OVERHEAD);
	uint8_t *back = malloc(seg);
	const EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	EVP_CIPHER_CTX *enc = NULL, *dec = NULL;
	struct aead_key key;
	uint64_t n = 0, batch = (1u << 22) / seg + 1;
	double t0, t1;
	int err = -ENOMEM;

	memcpy(key.key, bench_key, sizeof(key.key));
	aead_key_init(&key);
	if (!pt || !ct || !back || !c)
		goto out;
	enc = evp_ctx_new(c, true);
	dec = evp_ctx_new(c, false);
	if (!enc || !dec)
		goto out;
	for (size_t k = 0; k < seg; k++)
		pt[k] = (uint8_t)(k * 131u + 7u);
	if (j->impl == COFFRE_OPEN)
		err = seg_seal(&key, 0, false, pt, seg, ct);
	else
		err = evp_seal_one(enc, 0, pt, seg, ct);
	if (err)
		goto out;
	t0 = now();
	do {
		for (uint64_t b = 0; b < batch && !err; b++, n++) {
			switch (j->impl) {
			case COFFRE_SEAL:
				err = seg_seal(&key, n, false, pt, seg, ct);
				break;
			case COFFRE_OPEN:
				err = seg_open(&key, 0, false, ct,
					       seg + COFFRE_SEG_OVERHEAD, back);
				break;
			case EVP_SEAL:
				err = evp_seal_one(enc, n, pt, seg, ct);
				break;
			case EVP_OPEN:
				err = evp_open_one(dec, 0, ct, seg, back);
				break;
			}
		}
		t1 = now();
	} while (!err && t1 - t0 < run_seconds);
	j->seconds = t1 - t0;
	j->bytes = n * seg;
	if (!err && (j->impl == COFFRE_OPEN || j->impl == EVP_OPEN) &&
	    memcmp(back, pt, seg))
		err = -EBADMSG;
out:
	j->err = err;
	OPENSSL_cleanse(&key, sizeof(key));
	EVP_CIPHER_CTX_free(enc);
	EVP_CIPHER_CTX_free(dec);
	EVP_CIPHER_free((EVP_CIPHER *)c);
	free(pt);
	free(ct);
	free(back);
	return NULL;
}

/* Aggregate GB/s (1e9 bytes/s) of `threads` concurrent jobs. */
static int measure_once(enum impl impl, size_t seg, int threads, double *gbps)
{
	struct job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	double sum = 0;
	int t;

	for (t = 0; t < threads; t++) {
		jobs[t] = (struct job){ .impl = impl, .seg = seg };
		if (pthread_create(&tid[t], NULL, run_job, &jobs[t]))
			return -EAGAIN;
	}
	for (t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	for (t = 0; t < threads; t++) {
		if (jobs[t].err)
			return jobs[t].err;
		sum += (double)jobs[t].bytes / jobs[t].seconds / 1e9;
	}
	*gbps = sum;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of n values (sorted in place). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int usage(void)
{
	fprintf(stderr, "usage: crypto_bench [-t SECONDS_PER_RUN] "
		"[-r RUNS] [-j JSON_FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	double res[MAX_THREADS][N_IMPLS][N_SIZES];
	double runs[MAX_THREADS][N_IMPLS][N_SIZES][MAX_RUNS];
	const char *json_path = NULL;
	FILE *js = NULL;
	int c, err = 0;

	while ((c = getopt(argc, argv, "t:r:j:")) != -1) {
		if (c == 't')
			run_seconds = atof(optarg);
		else if (c == 'r')
			repeats = atoi(optarg);
		else if (c == 'j')
			json_path = optarg;
		else
			return usage();
	}
	if (optind != argc || run_seconds <= 0 || repeats < 1 || repeats > MAX_RUNS)
		return usage();
	if (random_bytes(bench_key, sizeof(bench_key)))
		return 1;
	/* Round after round of every cell, so that a noisy moment on a
	 * shared machine hits coffre and the bare loop alike. */
	for (int r = 0; r < repeats; r++)
		for (int th = 1; th <= MAX_THREADS; th++)
			for (int i = 0; i < N_IMPLS; i++)
				for (int s = 0; s < N_SIZES; s++) {
					err = measure_once((enum impl)i, seg_sizes[s], th,
							   &runs[th - 1][i][s][r]);
					if (err) {
						fprintf(stderr, "crypto_bench: %s %zu: %s\n",
							impl_names[i], seg_sizes[s],
							strerror(-err));
						goto out;
					}
				}
	for (int th = 0; th < MAX_THREADS; th++)
		for (int i = 0; i < N_IMPLS; i++)
			for (int s = 0; s < N_SIZES; s++)
				res[th][i][s] = median(runs[th][i][s], repeats);

	printf("AES-256-GCM, GB/s (1e9 B/s of plaintext), median of %d x %.2f s, "
	       "%ld online CPUs\n", repeats, run_seconds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-18s %8s %8s %8s   %8s %8s %8s\n", "", "1 thread", "", "",
	       "2 thr.", "", "");
	printf("%-18s %8s %8s %8s   %8s %8s %8s\n", "implementation", "4K",
	       "16K", "64K", "4K", "16K", "64K");
	for (int i = 0; i < N_IMPLS; i++) {
		printf("%-18s", impl_names[i]);
		for (int th = 0; th < MAX_THREADS; th++) {
			printf(th ? "  " : "");
			for (int s = 0; s < N_SIZES; s++)
				printf(" %8.2f", res[th][i][s]);
		}
		printf("\n");
	}
	printf("%-18s", "seal / EVP");
	for (int th = 0; th < MAX_THREADS; th++) {
		printf(th ? "  " : "");
		for (int s = 0; s < N_SIZES; s++)
			printf(" %7.0f%%", 100 * res[th][COFFRE_SEAL][s] /
			       res[th][EVP_SEAL][s]);
	}
	printf("\n%-18s", "open / EVP");
	for (int th = 0; th < MAX_THREADS; th++) {
		printf(th ? "  " : "");
		for (int s = 0; s < N_SIZES; s++)
			printf(" %7.0f%%", 100 * res[th][COFFRE_OPEN][s] /
			       res[th][EVP_OPEN][s]);
	}
	printf("\n");

	js = json_path ? fopen(json_path, "w") : stdout;
	if (!js) {
		perror("crypto_bench: json");
		err = -EIO;
		goto out;
	}
	fprintf(js, "{\"unit\": \"GB/s\", \"seconds_per_run\": %.2f, "
		"\"runs\": %d, \"results\": [", run_seconds, repeats);
	for (int th = 0; th < MAX_THREADS; th++)
		for (int i = 0; i < N_IMPLS; i++)
			for (int s = 0; s < N_SIZES; s++)
				fprintf(js, "%s\n  {\"impl\": \"%s\", \"threads\": %d, "
					"\"segment\": %zu, \"gbps\": %.3f}",
					th || i || s ? "," : "", impl_keys[i],
					th + 1, seg_sizes[s], res[th][i][s]);
	fprintf(js, "\n]}\n");
	if (js != stdout)
		fclose(js);
out:
	OPENSSL_cleanse(bench_key, sizeof(bench_key));
	return err ? 1 : 0;
}
