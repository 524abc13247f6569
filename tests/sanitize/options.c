/* options.c — linked into the sanitizer builds of the daemons (make
 * check-leaks, build/san/): where AddressSanitizer, LeakSanitizer and
 * UndefinedBehaviorSanitizer write their reports. The daemons run under
 * slurmstepd, runuser and the agent, each of which may scrub the
 * environment, so the options are built in rather than read from
 * ASAN_OPTIONS (which still override them). ES_SAN_LOG_DIR is a
 * directory every user may write (mode 1777); a report there fails the
 * run. */
#ifndef ES_SAN_LOG_DIR
#error "build with -DES_SAN_LOG_DIR=\"/path\""
#endif

const char *__asan_default_options(void);
const char *__lsan_default_options(void);
const char *__ubsan_default_options(void);

const char *__asan_default_options(void)
{
	return "log_path=" ES_SAN_LOG_DIR "/asan:detect_leaks=1:detect_stack_use_after_return=1:"
	       "check_initialization_order=1:strict_string_checks=1:abort_on_error=0";
}

const char *__lsan_default_options(void)
{
	return "log_path=" ES_SAN_LOG_DIR "/lsan";
}

const char *__ubsan_default_options(void)
{
	return "log_path=" ES_SAN_LOG_DIR "/ubsan:print_stacktrace=1:halt_on_error=1";
}
