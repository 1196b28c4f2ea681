// SPDX-License-Identifier: GPL-2.0
/*
 * utf8.c - names are a process's bytes (comm, argv), not always UTF-8:
 * which bytes are well-formed characters, and which of those a terminal
 * shows as they are (the text views, the TUI).
 */
#include <locale.h>
#include <stddef.h>
#include <string.h>
#include <wchar.h>

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

int utf8_shown(const unsigned char *c, int *cols)
{
	static locale_t utf8_locale;
	locale_t old;
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
	if (!utf8_locale)
		utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!utf8_locale)
		return 0;
	old = uselocale(utf8_locale);
	width = wcwidth(w);
	uselocale(old);
	if (width < 1) /* combining marks, unassigned, other controls */
		return 0;
	*cols = width;
	return n;
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
