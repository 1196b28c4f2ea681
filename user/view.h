/* SPDX-License-Identifier: GPL-2.0 */
/* view.h - the non-interactive views of one refresh: JSON lines and a plain
 * aligned table. Both read the same model; neither touches the kernel. */
#ifndef RCLEAK_VIEW_H
#define RCLEAK_VIEW_H

#include <stdio.h>
#include "collect.h"

/* True when p passes --pid/--comm. */
bool view_selected(const struct rcl_opts *o, const struct proc *p);

void view_json(FILE *f, const struct collector *c, double wall_ts);
void view_text(FILE *f, const struct collector *c, double wall_ts);

/* Printable address ("127.0.0.1", "::1") of a kernel address. */
void addr_str(int family, const __u8 addr[16], char *buf, size_t len);

/* A CSV field (RFC 4180 quoting when needed). */
void csv_field(FILE *f, const char *s);

/* JSON string with escaping (used by both JSON emitters). */
void json_str(FILE *f, const char *s);
/* Length of the well-formed UTF-8 sequence at c (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
int utf8_len(const unsigned char *c);

/* Length of the UTF-8 character at c if a terminal shows it as it is (not
 * a control, an override or a zero-width mark), and its columns (1 or 2)
 * in *cols; else 0. */
int utf8_shown(const unsigned char *c, int *cols);

/* Code point w as UTF-8 into out: its length, or 0 for a surrogate or
 * past U+10FFFF. */
int utf8_encode(unsigned int w, char out[4]);

/* needle in hay, each character's case folded (É finds é, as E finds e);
 * a byte not of a well-formed UTF-8 character matches only itself. An
 * empty needle is in every hay. */
bool utf8_casestr(const char *hay, const char *needle);

/* s as a terminal may be shown it, into dst (size bytes, NUL-terminated):
 * printable ASCII and the UTF-8 characters utf8_shown() takes as they are,
 * any other byte as '?'. For names a process chose (comm, cmdline), where
 * an escape sequence, a newline or a bidi override would act on the
 * terminal or forge a row. A character that does not fit is left out; dst
 * never needs more bytes than s. Returns the columns dst takes. */
int shown_str(char *dst, size_t size, const char *s);

#endif
