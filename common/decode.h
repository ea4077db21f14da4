/*
 * NAME
 *	decode.h - Content-Transfer-Encoding decoders (base64,
 *	quoted-printable, identity)
 *
 * SYNOPSIS
 *	int decode_cte(const char *cte, const char *in, size_t len,
 *	    struct buf *out, const char **error_r);
 *	int decode_b64_value(unsigned char c);
 *	int decode_base64(const char *in, size_t len, struct buf *out,
 *	    const char **error_r);
 *	int decode_qp(const char *in, size_t len, struct buf *out,
 *	    const char **error_r);
 *	int decode_charset(const char *charset, size_t cs_len,
 *	    const char *in, size_t len, struct buf *out);
 *	int decode_words(const char *in, size_t len, struct buf *out);
 *
 * DESCRIPTION
 *	See decode.c.
 */
#ifndef DECODE_H
#define DECODE_H

#include <stddef.h>

#include "buf.h"

int decode_b64_value(unsigned char c);
int decode_cte(const char *cte, const char *in, size_t len, struct buf *out,
    const char **error_r);
int decode_base64(const char *in, size_t len, struct buf *out,
    const char **error_r);
int decode_qp(const char *in, size_t len, struct buf *out,
    const char **error_r);
int decode_charset(const char *charset, size_t cs_len, const char *in,
    size_t len, struct buf *out);
int decode_words(const char *in, size_t len, struct buf *out);

#endif
