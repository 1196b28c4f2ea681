// SPDX-License-Identifier: GPL-2.0
/* Unit tests: JSON strings of comm and cmdline bytes (json_str, view_json.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "view.h"

/* json_str(in) as a string; the caller frees it. */
static char *js(const char *in)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	json_str(f, in);
	fclose(f);
	return buf;
}

static void expect(const char *in, const char *want)
{
	char *got = js(in);

	assert_string_equal(got, want);
	free(got);
}

static void test_ascii_and_controls(void **state)
{
	(void)state;
	expect("redis-server", "\"redis-server\"");
	expect("q\"b\\s", "\"q\\\"b\\\\s\"");
	expect("a\nb\tc\rd\x01\x7f", "\"a\\nb\\tc\\rd\\u0001\\u007f\"");
}

static void test_utf8_kept(void **state)
{
	(void)state;
	expect("caf\xc3\xa9", "\"caf\xc3\xa9\"");                   /* U+00E9 */
	expect("\xe2\x82\xac 5", "\"\xe2\x82\xac 5\"");             /* U+20AC */
	expect("\xf0\x9f\x90\xb3", "\"\xf0\x9f\x90\xb3\"");         /* U+1F433 */
	expect("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");                 /* U+FFFF */
	expect("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");         /* U+10FFFF */
}

/* Bytes that are not well-formed UTF-8 become \u00XX, one per byte. */
static void test_invalid_bytes_escaped(void **state)
{
	(void)state;
	expect("\xff", "\"\\u00ff\"");
	expect("\xc0\xaf", "\"\\u00c0\\u00af\"");                   /* overlong '/' */
	expect("\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\"");        /* overlong */
	expect("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"");        /* a surrogate */
	expect("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\""); /* past U+10FFFF */
	expect("\xc3", "\"\\u00c3\"");                              /* cut at the end */
	expect("ab\xe2\x82", "\"ab\\u00e2\\u0082\"");               /* cut at the end */
	expect("\xc3(", "\"\\u00c3(\"");                            /* bad continuation */
	expect("\x80\xc3\xa9", "\"\\u0080\xc3\xa9\"");              /* stray continuation */
}

/* What the text views and the TUI print as it is: characters a terminal
 * shows, with their columns; not C1 controls (U+009B is CSI to some
 * terminals), bidi overrides, zero-width marks or broken bytes. */
static void test_utf8_shown(void **state)
{
	int cols = 0;

	(void)state;
	assert_int_equal(utf8_shown((const unsigned char *)"\xc3\xa9", &cols), 2);     /* U+00E9 */
	assert_int_equal(cols, 1);
	assert_int_equal(utf8_shown((const unsigned char *)"\xe5\x90\x8d", &cols), 3); /* U+540D */
	assert_int_equal(cols, 2);
	assert_int_equal(utf8_shown((const unsigned char *)"\xf0\x9f\x90\xb3", &cols), 4);
	assert_int_equal(cols, 2);
	assert_int_equal(utf8_shown((const unsigned char *)"\xc2\x9b", &cols), 0);     /* CSI */
	assert_int_equal(utf8_shown((const unsigned char *)"\xc2\x85", &cols), 0);     /* NEL */
	assert_int_equal(utf8_shown((const unsigned char *)"\xe2\x80\xae", &cols), 0); /* RLO */
	assert_int_equal(utf8_shown((const unsigned char *)"\xe2\x81\xa6", &cols), 0); /* LRI */
	assert_int_equal(utf8_shown((const unsigned char *)"\xcc\x81", &cols), 0);     /* combining */
	assert_int_equal(utf8_shown((const unsigned char *)"\xd0", &cols), 0);         /* cut */
	assert_int_equal(utf8_shown((const unsigned char *)"\xff", &cols), 0);
}

/* shown_str: the same rule into a buffer; a character that does not fit
 * is left out whole, never cut into bytes. */
static void test_shown_str(void **state)
{
	char b[16];

	(void)state;
	shown_str(b, sizeof(b), "a\x1b[2J\nb\x7f");
	assert_string_equal(b, "a?[2J?b?");
	shown_str(b, sizeof(b), "caf\xc3\xa9\xe2\x80\xae\xff");
	assert_string_equal(b, "caf\xc3\xa9????");
	shown_str(b, 6, "abcd\xc3\xa9"); /* room for "abcd" and the NUL */
	assert_string_equal(b, "abcd");
	shown_str(b, 1, "abc");
	assert_string_equal(b, "");
}

/* utf8_encode: what utf8_len reads back; no surrogates, nothing past
 * U+10FFFF. */
static void test_utf8_encode(void **state)
{
	static const unsigned int w[] = { 'a', 0xe9, 0x540d, 0x1f600, 0x10ffff };
	char u[5];

	(void)state;
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		int n = utf8_encode(w[i], u);

		assert_int_equal(n, i == 0 ? 1 : i == 1 ? 2 : i == 2 ? 3 : 4);
		u[n] = 0;
		assert_int_equal(n == 1 ? 1 : utf8_len((const unsigned char *)u), n);
	}
	assert_int_equal(utf8_encode(0xe9, u), 2);
	assert_memory_equal(u, "\xc3\xa9", 2);
	assert_int_equal(utf8_encode(0xd800, u), 0);
	assert_int_equal(utf8_encode(0x110000, u), 0);
}

/* The TUI's filter: a substring, case folded for every character. */
static void test_utf8_casestr(void **state)
{
	(void)state;
	assert_true(utf8_casestr("caf\xc3\xa9-\xe5\x90\x8d\xe5\x89\x8d", "\xc3\x89-\xe5\x90\x8d")); /* É-名 */
	assert_true(utf8_casestr("Redis-Server", "server"));
	assert_true(utf8_casestr("abc", ""));
	assert_true(utf8_casestr("", ""));
	assert_false(utf8_casestr("cafe", "caf\xc3\xa9"));
	assert_false(utf8_casestr("ab", "abc"));
	assert_true(utf8_casestr("aab", "ab")); /* a partial match at 0, whole at 1 */
	/* bytes of no character match themselves only */
	assert_true(utf8_casestr("x\xff\xfey", "\xff\xfe"));
	assert_false(utf8_casestr("x\xffy", "\xc3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_and_controls),
		cmocka_unit_test(test_utf8_kept),
		cmocka_unit_test(test_invalid_bytes_escaped),
		cmocka_unit_test(test_utf8_shown),
		cmocka_unit_test(test_shown_str),
		cmocka_unit_test(test_utf8_encode),
		cmocka_unit_test(test_utf8_casestr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
