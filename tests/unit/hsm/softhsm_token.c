/*
 * Test helper: private SoftHSM2 token stores (see softhsm_token.h).
 * Relies on softhsm2-util being on PATH and on SoftHSM2 reading
 * SOFTHSM2_CONF when the library is initialised, so this must run before
 * the first hsm_open() of the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "softhsm_token.h"

extern char **environ;

int test_softhsm_setup(struct test_softhsm *t)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	int n;

	memset(t, 0, sizeof(*t));
	if (!tmp || !*tmp)
		tmp = "/tmp";
	n = snprintf(t->dir, sizeof(t->dir), "%s/coffre-hsm-XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(t->dir))
		return -ENAMETOOLONG;
	if (!mkdtemp(t->dir)) {
		t->dir[0] = '\0';
		return -errno;
	}
	n = snprintf(t->tokens, sizeof(t->tokens), "%.*s/tokens",
		     (int)(sizeof(t->tokens) - 16), t->dir);
	if (n < 0 || (size_t)n >= sizeof(t->tokens))
		return -ENAMETOOLONG;
	n = snprintf(t->conf, sizeof(t->conf), "%.*s/softhsm2.conf",
		     (int)(sizeof(t->conf) - 16), t->dir);
	if (n < 0 || (size_t)n >= sizeof(t->conf))
		return -ENAMETOOLONG;
	if (mkdir(t->tokens, 0700) < 0)
		return -errno;
	f = fopen(t->conf, "we");
	if (!f)
		return -errno;
	fprintf(f, "directories.tokendir = %s\n"
		   "objectstore.backend = file\n"
		   "log.level = ERROR\n"
		   "slots.removable = false\n", t->tokens);
	if (fclose(f) != 0)
		return -errno;
	if (setenv("SOFTHSM2_CONF", t->conf, 1) < 0)
		return -errno;
	return 0;
}

int test_softhsm_init_token(const struct test_softhsm *t, const char *label,
			    const char *pin, const char *so_pin)
{
	char *argv[] = {
		"softhsm2-util", "--init-token", "--free",
		"--label", (char *)label, "--pin", (char *)pin,
		"--so-pin", (char *)so_pin, NULL,
	};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, ret;

	if (!t->dir[0] || strcmp(getenv("SOFTHSM2_CONF") ?: "", t->conf) != 0)
		return -EINVAL;
	ret = posix_spawn_file_actions_init(&fa);
	if (ret)
		return -ret;
	/* softhsm2-util chats about the slot it used: keep test logs clean. */
	ret = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					       O_WRONLY, 0);
	if (ret == 0)
		ret = posix_spawnp(&pid, "softhsm2-util", &fa, NULL, argv,
				   environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		return -ret;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static int rm_rf(const char *path)
{
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

static int rm_token_dir(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	/* Only the direct children of tokendir: one directory per token. */
	if (ftw->level == 1 && type == FTW_D) {
		if (rm_rf(path) < 0)
			return FTW_STOP;
		return FTW_SKIP_SUBTREE;
	}
	return 0;
}

int test_softhsm_remove_tokens(const struct test_softhsm *t)
{
	int ret;

	ret = nftw(t->tokens, rm_token_dir, 16, FTW_PHYS | FTW_ACTIONRETVAL);
	if (ret < 0)
		return -errno;
	return ret == 0 ? 0 : -EIO;
}

void test_softhsm_teardown(struct test_softhsm *t)
{
	if (t->dir[0])
		rm_rf(t->dir);
	t->dir[0] = '\0';
}
