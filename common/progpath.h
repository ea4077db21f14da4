/*
 * NAME
 *	progpath.h - find the stack's other programs
 */
#ifndef PROGPATH_H
#define PROGPATH_H

#include "buf.h"

int progpath_sibling(const char *name, struct buf *path_r);

#endif
