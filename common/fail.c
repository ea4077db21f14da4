/*
 * NAME
 *	fail - classify failures as temporary or permanent
 *
 * SYNOPSIS
 *	enum fail_kind fail_from_errno(int err);
 *	int fail_exit_status(enum fail_kind kind);
 *	const char *fail_name(enum fail_kind kind);
 *
 * DESCRIPTION
 *	fail_from_errno() says whether a failed system call is worth retrying.
 *	Only errors that no retry can cure are permanent: a name that is too
 *	long or malformed input (EINVAL, ENAMETOOLONG, EMSGSIZE, EILSEQ,
 *	EFBIG). Everything else, including errors we did not foresee, is
 *	temporary: losing a message to a misjudged errno is worse than
 *	retrying it.
 *
 * DIAGNOSTICS
 *	None; these functions cannot fail.
 *
 * SECURITY
 *	No privileges, no input beyond the arguments.
 */
#include <errno.h>

#include "fail.h"

/* fail_from_errno - temporary unless err says retrying cannot help */
enum fail_kind
fail_from_errno(int err)
{
	switch (err) {
	case 0:
		return FAIL_OK;
	case EINVAL:
	case ENAMETOOLONG:
	case EMSGSIZE:
	case EILSEQ:
	case EFBIG:
		return FAIL_PERM;
	default:
		return FAIL_TEMP;
	}
}

/* fail_exit_status - the 0/111/100 exit status for a kind */
int
fail_exit_status(enum fail_kind kind)
{
	switch (kind) {
	case FAIL_OK:
		return FAIL_EXIT_OK;
	case FAIL_PERM:
		return FAIL_EXIT_PERM;
	case FAIL_TEMP:
	default:
		return FAIL_EXIT_TEMP;
	}
}

/* fail_name - "ok", "temporary" or "permanent", for logs */
const char *
fail_name(enum fail_kind kind)
{
	switch (kind) {
	case FAIL_OK:
		return "ok";
	case FAIL_PERM:
		return "permanent";
	case FAIL_TEMP:
	default:
		return "temporary";
	}
}
