/*
 * inject.h - what inject's files share (inject.c, inject-serve.c)
 */
#ifndef INJECT_H
#define INJECT_H

int inject_serve_begin(void);
void inject_serve_ready(int ctl);
void inject_serve_next(int ctl);
void inject_serve_done(void);
void inject_serve_abandon(void);

#endif
