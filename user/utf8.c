// SPDX-License-Identifier: GPL-2.0
/*
 * utf8.c - names are a process's bytes (comm, argv), not always UTF-8:
 * which bytes are well-formed characters, and which of those a terminal
 * shows as they are (the text views, the TUI).
 */
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "view.h"

int utf8_len(const unsigned char *c)
{
	int n;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */

	if (*c >= 0xc2 && *c <= 0xdf)
		n = 2;
	else if (*c >= 0xe0 && *c <= 0xef)
		n = 3, lo = *c == 0xe0 ? 0xa0 : 0x80, hi = *c == 0xed ? 0x9f : 0xbf;
	else if (*c >= 0xf0 && *c <= 0xf4)
		n = 4, lo = *c == 0xf0 ? 0x90 : 0x80, hi = *c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (c[1] < lo || c[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (c[i] < 0x80 || c[i] > 0xbf)
			return 0;
	return n;
}

/* The code point of the well-formed sequence of n bytes at c. */
static wchar_t decode(const unsigned char *c, int n)
{
	wchar_t w = n == 2 ? c[0] & 0x1f : n == 3 ? c[0] & 0x0f : c[0] & 0x07;

	for (int i = 1; i < n; i++)
		w = w << 6 | (c[i] & 0x3f);
	return w;
}

/* The C.UTF-8 locale: widths and case as a UTF-8 terminal has them,
 * whatever rcleak's locale; 0 when the system has none. */
static locale_t utf8_locale(void)
{
	static locale_t l;

	if (!l)
		l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	return l;
}

int utf8_shown(const unsigned char *c, int *cols)
{
	locale_t old, l;
	wchar_t w;
	int n = utf8_len(c), width;

	if (!n)
		return 0;
	w = decode(c, n);
	/* C1 controls (U+0080-U+009F: U+009B is CSI to some terminals) and
	 * the bidirectional overrides and isolates, which reorder what
	 * follows them on the line (a row that reads as another) */
	if (w < 0xa0 || (w >= 0x202a && w <= 0x202e) || (w >= 0x2066 && w <= 0x2069))
		return 0;
	/* the width as a UTF-8 terminal has it, whatever rcleak's locale */
	if (!(l = utf8_locale()))
		return 0;
	old = uselocale(l);
	width = wcwidth(w);
	uselocale(old);
	if (width < 1) /* combining marks, unassigned, other controls */
		return 0;
	*cols = width;
	return n;
}

int utf8_encode(unsigned int w, char out[4])
{
	if (w < 0x80) {
		out[0] = (char)w;
		return 1;
	}
	if (w < 0x800) {
		out[0] = (char)(0xc0 | w >> 6);
		out[1] = (char)(0x80 | (w & 0x3f));
		return 2;
	}
	if ((w >= 0xd800 && w <= 0xdfff) || w > 0x10ffff)
		return 0;
	if (w < 0x10000) {
		out[0] = (char)(0xe0 | w >> 12);
		out[1] = (char)(0x80 | (w >> 6 & 0x3f));
		out[2] = (char)(0x80 | (w & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | w >> 18);
	out[1] = (char)(0x80 | (w >> 12 & 0x3f));
	out[2] = (char)(0x80 | (w >> 6 & 0x3f));
	out[3] = (char)(0x80 | (w & 0x3f));
	return 4;
}

/* The character at *s, lower-cased (a byte not of a well-formed sequence
 * stands for itself, above every code point); *s moves past it. */
static unsigned long fold_next(const unsigned char **s, locale_t l)
{
	int n = **s >= 0x80 ? utf8_len(*s) : 1;
	unsigned long w;

	if (!n) {
		w = 0x110000ul + **s;
		(*s)++;
		return w;
	}
	w = n == 1 ? **s : (unsigned long)decode(*s, n);
	*s += n;
	if (w < 0x80)
		return w >= 'A' && w <= 'Z' ? w + ('a' - 'A') : w;
	return l ? (unsigned long)towlower_l((wint_t)w, l) : w;
}

bool utf8_casestr(const char *hay, const char *needle)
{
	locale_t l = utf8_locale();
	const unsigned char *h = (const unsigned char *)hay;

	for (;;) { /* needle at each character of hay */
		const unsigned char *a = h, *b = (const unsigned char *)needle;
		bool same = true;

		while (*b && same) {
			if (!*a)
				return false; /* hay ran out: no later start fits either */
			same = fold_next(&a, l) == fold_next(&b, l);
		}
		if (same)
			return true;
		fold_next(&h, l);
	}
}

int shown_str(char *dst, size_t size, const char *s)
{
	size_t o = 0;
	int n = 0, cols, len;

	if (!size)
		return 0;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c >= 0x80 && (len = utf8_shown(c, &cols))) {
			if (o + (size_t)len >= size)
				break;
			memcpy(dst + o, c, (size_t)len);
			o += (size_t)len;
			c += len - 1;
			n += cols;
			continue;
		}
		if (o + 1 >= size)
			break;
		dst[o++] = *c >= 0x20 && *c < 0x7f ? (char)*c : '?';
		n++;
	}
	dst[o] = '\0';
	return n;
}
