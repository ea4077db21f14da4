/*
 * NAME
 *	mailctl - the operator's tool
 *
 * SYNOPSIS
 *	mailctl [-c FILE] GROUP [ARGS...]
 *	mailctl --help
 *
 * DESCRIPTION
 *	Reads the config (default /etc/mailstack/mailstack.conf) and runs one
 *	command of a group, each in its own file (see the commands table). Errors go to stderr, one line each, and
 *	the exit status says what kind of failure it was (mailctl.h).
 *
 * DIAGNOSTICS
 *	Exit 0 on success; 64 usage; 65 bad input; 67 no such thing; 75
 *	temporary failure; 78 config error.
 *
 * SECURITY
 *	Run by the administrator. Reads the config and tables; writes only
 *	what a command says it writes.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "mailctl.h"

#define DEFAULT_CONFIG	"/etc/mailstack/mailstack.conf"

static const struct mailctl_command commands[] = {
	{ "check", "check\t\t\tvalidate the config, tables, TLS files and "
	    "folders", mailctl_check },
	{ "trace", "trace ID [LOGFILE]\tthe steps of one message (queue id or "
	    "Message-ID)", mailctl_trace },
	{ "queue", "queue\t\t\tlist queued messages, recipients, last errors\n"
	    "  queue show ID\t\tone message in detail\n"
	    "  queue flush\t\tretry every queued message now\n"
	    "  queue delete ID\tremove a message from the queue",
	    mailctl_queue },
	{ "user", "user add ADDR [quota=SIZE] [forward=ADDR,...]\n"
	    "\t\t\tadd a mailbox; password on standard input\n"
	    "  user passwd ADDR\tchange a password (on standard input)\n"
	    "  user del ADDR\t\tremove a mailbox (its Maildir is kept)\n"
	    "  user list\t\tlist the mailboxes", mailctl_user },
	{ "alias", "alias add ADDR TARGET...\n"
	    "\t\t\tadd an alias or list (ADDR @DOMAIN: catch-all)\n"
	    "  alias del ADDR\tremove an alias\n"
	    "  alias list\t\tlist the aliases", mailctl_alias },
};

#define N_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

/* usage - print every command's usage to f */
static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: mailctl [-c FILE] COMMAND [ARGS...]\n\n"
	    "commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "\nFILE defaults to %s.\n", DEFAULT_CONFIG);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct config cfg;
	struct buf err = BUF_INIT(1024);
	size_t i;
	int argi = 1, status;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return MAILCTL_EX_OK;
	}
	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		path = argv[2];
		argi = 3;
	}
	if (argi >= argc) {
		usage(stderr);
		return MAILCTL_EX_USAGE;
	}
	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[argi], commands[i].group) == 0)
			break;
	if (i == N_COMMANDS) {
		fprintf(stderr, "mailctl: unknown command '%s'\n", argv[argi]);
		usage(stderr);
		return MAILCTL_EX_USAGE;
	}
	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", buf_cstr(&err));
		buf_free(&err);
		return MAILCTL_EX_CONFIG;
	}
	status = commands[i].run(&cfg, argc - argi - 1, argv + argi + 1);
	config_free(&cfg);
	buf_free(&err);
	return status;
}
