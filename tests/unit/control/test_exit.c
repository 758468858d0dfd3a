/*
 * test_exit.c — coffre_exit_of_errno: each class of failure the lower
 * layers return gets its exit status (coffre/exit.h).
 */
#include <criterion/criterion.h>

#include "coffre/exit.h"

Test(exit, errno_classes)
{
	cr_assert_eq(coffre_exit_of_errno(0), COFFRE_EXIT_OK);
	cr_assert_eq(coffre_exit_of_errno(-EACCES), COFFRE_EXIT_PIN);
	cr_assert_eq(coffre_exit_of_errno(-ENODEV), COFFRE_EXIT_HSM);
	/* The HSMs answer but none holds the key: theirs too, not 1. */
	cr_assert_eq(coffre_exit_of_errno(-ENOKEY), COFFRE_EXIT_HSM);
	/* A missing file is not the HSMs'. */
	cr_assert_eq(coffre_exit_of_errno(-ENOENT), COFFRE_EXIT_FAILURE);
	cr_assert_eq(coffre_exit_of_errno(-EOPNOTSUPP), COFFRE_EXIT_FAILURE);
	cr_assert_eq(coffre_exit_of_errno(-EKEYREJECTED), COFFRE_EXIT_TAMPERED);
	cr_assert_eq(coffre_exit_of_errno(-EBADMSG), COFFRE_EXIT_TAMPERED);
	cr_assert_eq(coffre_exit_of_errno(-EIO), COFFRE_EXIT_FAILURE);
	cr_assert_eq(coffre_exit_of_errno(-ENOMEM), COFFRE_EXIT_FAILURE);
}

Test(exit, statuses_are_distinct)
{
	static const int all[] = { COFFRE_EXIT_OK, COFFRE_EXIT_FAILURE,
		COFFRE_EXIT_USAGE, COFFRE_EXIT_TAMPERED, COFFRE_EXIT_HSM,
		COFFRE_EXIT_MOUNTPOINT, COFFRE_EXIT_BUCKET, COFFRE_EXIT_PIN,
		COFFRE_EXIT_CONFIG };
	size_t i, j, n = sizeof(all) / sizeof(all[0]);

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			cr_assert_neq(all[i], all[j]);
}
