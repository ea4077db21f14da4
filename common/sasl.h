/*
 * NAME
 *	sasl.h - what the SASL exchanges of smtpd, pop3d and imapd share
 */
#ifndef SASL_H
#define SASL_H

#include <stddef.h>

#include "buf.h"

int sasl_b64_decode(const char *s, size_t n, struct buf *out);

#endif
