/* runner.c — the one Check runner for every suite in tests/check_*.c.
 *
 * Each tests/check_NAME.c exports `Suite *suite_NAME(void)`; the Makefile
 * lists them in suites.h. Select with Check's environment variables:
 *   CK_RUN_SUITE=toml, CK_RUN_CASE=..., CK_INCLUDE_TAGS=integration,
 *   CK_EXCLUDE_TAGS=integration, CK_VERBOSITY=verbose.
 */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *suite_##name(void);
#include "suites.h"
#undef SUITE

int main(void)
{
	SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, suite_##name());
#include "suites.h"
#undef SUITE
	srunner_run_tagged(sr, NULL, NULL, NULL, NULL, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
