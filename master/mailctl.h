/*
 * NAME
 *	mailctl.h - the operator's tool: one function per command group
 *
 * DESCRIPTION
 *	mailctl.c reads the config and dispatches "mailctl -c FILE GROUP ..."
 *	to the function for GROUP, each in its own file (mailctl-user.c,
 *	mailctl-queue.c, ...). A command function gets argv after the group
 *	name and returns the exit status:
 */
#ifndef MAILCTL_H
#define MAILCTL_H

#include "config.h"

#define MAILCTL_EX_OK		0
#define MAILCTL_EX_USAGE	64	/* wrong arguments */
#define MAILCTL_EX_DATAERR	65	/* bad input: an address, a password */
#define MAILCTL_EX_NOUSER	67	/* no such user, alias or message */
#define MAILCTL_EX_TEMPFAIL	75	/* try again: I/O error, locked */
#define MAILCTL_EX_CONFIG	78	/* the config or a table is wrong */

struct mailctl_command {
	const char *group;	/* "user", "alias", "queue", "trace", "check" */
	const char *usage;	/* one or more lines, for --help */
	int (*run)(const struct config *cfg, int argc, char **argv);
};

int mailctl_check(const struct config *cfg, int argc, char **argv);
int mailctl_trace(const struct config *cfg, int argc, char **argv);
int mailctl_queue(const struct config *cfg, int argc, char **argv);
int mailctl_user(const struct config *cfg, int argc, char **argv);
int mailctl_alias(const struct config *cfg, int argc, char **argv);

#endif
