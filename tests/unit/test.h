/*
 * NAME
 *	test.h - the in-house unit test harness
 *
 * SYNOPSIS
 *	TEST_BEGIN("name");  ...  TEST_ASSERT(cond);  ...  TEST_END();
 *	return test_summary("test-module");
 *
 * DESCRIPTION
 *	A test case runs from TEST_BEGIN to TEST_END and fails if any of its
 *	assertions fails; each failed assertion is printed with file and
 *	line. test_summary() prints "NAME: N passed, N failed" and returns
 *	the exit status (0 only if every case passed and at least one ran).
 */
#ifndef TEST_H
#define TEST_H

#include <stdio.h>
#include <string.h>

static const char *test_case_name;
static int test_case_failed;
static int test_passed, test_failed;

#define TEST_BEGIN(name) do { \
	test_case_name = (name); \
	test_case_failed = 0; \
} while (0)

#define TEST_ASSERT(cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: assertion failed: %s\n", \
		    __FILE__, __LINE__, #cond); \
		test_case_failed = 1; \
	} \
} while (0)

/* TEST_ASSERT_STR - two C strings are equal (NULL never is) */
#define TEST_ASSERT_STR(a, b) do { \
	const char *test_a_ = (a), *test_b_ = (b); \
	if (test_a_ == NULL || test_b_ == NULL || strcmp(test_a_, test_b_) != 0) { \
		printf("  %s:%d: %s is \"%s\", expected \"%s\"\n", \
		    __FILE__, __LINE__, #a, \
		    test_a_ != NULL ? test_a_ : "(null)", \
		    test_b_ != NULL ? test_b_ : "(null)"); \
		test_case_failed = 1; \
	} \
} while (0)

/* TEST_ASSERT_INT - two integers are equal */
#define TEST_ASSERT_INT(a, b) do { \
	long long test_a_ = (long long)(a), test_b_ = (long long)(b); \
	if (test_a_ != test_b_) { \
		printf("  %s:%d: %s is %lld, expected %lld\n", \
		    __FILE__, __LINE__, #a, test_a_, test_b_); \
		test_case_failed = 1; \
	} \
} while (0)

#define TEST_END() do { \
	if (test_case_failed) { \
		printf("FAIL %s\n", test_case_name); \
		test_failed++; \
	} else { \
		printf("ok   %s\n", test_case_name); \
		test_passed++; \
	} \
	fflush(stdout); \
} while (0)

/* test_summary - print the counts; exit status 0 only if all passed */
static inline int
test_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
	return test_failed == 0 && test_passed > 0 ? 0 : 1;
}

#endif
