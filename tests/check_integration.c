/* check_integration.c — the integration tests, one Check test per script.
 *
 * Every tests/integration/test_NAME.sh becomes the test case NAME, tagged
 * "integration" (make check-unit leaves them out; make check-integration
 * runs only them; CK_RUN_CASE=NAME runs one). A script runs in its own
 * process group with the repository root as its working directory; its
 * output goes to build/test-logs/NAME.log, whose tail is printed when it
 * fails. A script may set its time limit with a line "# timeout: SECONDS"
 * (default 300); past it, the whole process group is killed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IT_DIR "tests/integration"
#define IT_LOGDIR "build/test-logs"
#define IT_MAX 128

static char *it_scripts[IT_MAX];
static char *it_names[IT_MAX];
static int it_timeouts[IT_MAX];
static int it_count;

static int it_read_timeout(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[256];
	int t = 300;
	if (!fp)
		return t;
	for (int n = 0; n < 30 && fgets(line, sizeof line, fp); n++) {
		int v;
		if (sscanf(line, "# timeout: %d", &v) == 1 && v > 0)
			t = v;
	}
	fclose(fp);
	return t;
}

static void it_print_tail(const char *log, int lines)
{
	char cmd[512];
	fprintf(stderr, "---- last %d lines of %s\n", lines, log);
	snprintf(cmd, sizeof cmd, "tail -n %d '%s' >&2", lines, log);
	if (system(cmd) != 0)
		fprintf(stderr, "(cannot read %s)\n", log);
	fprintf(stderr, "----\n");
}

START_TEST(test_script)
{
	const char *script = it_scripts[_i];
	char log[512];
	mkdir("build", 0755);
	mkdir(IT_LOGDIR, 0755);
	snprintf(log, sizeof log, IT_LOGDIR "/%s.log", it_names[_i]);

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("bash", "bash", script, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);

	time_t deadline = time(NULL) + it_timeouts[_i];
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			ck_abort_msg("waitpid: %s", strerror(errno));
		if (time(NULL) > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			it_print_tail(log, 60);
			ck_abort_msg("%s: timed out after %d s (log: %s)", script,
				     it_timeouts[_i], log);
		}
		usleep(100 * 1000);
	}
	/* Leave nothing of the script's process group behind. */
	kill(-pid, SIGKILL);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		it_print_tail(log, 60);
		ck_abort_msg("%s failed (status %d; log: %s)", script, status, log);
	}
}
END_TEST

Suite *suite_integration(void)
{
	Suite *s = suite_create("integration");
	glob_t g;
	if (glob(IT_DIR "/test_*.sh", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc && it_count < IT_MAX; i++) {
			const char *p = g.gl_pathv[i];
			const char *base = strrchr(p, '/') + 1 + strlen("test_");
			it_scripts[it_count] = strdup(p);
			it_names[it_count] = strndup(base, strlen(base) - 3);
			it_timeouts[it_count] = it_read_timeout(p);
			TCase *tc = tcase_create(it_names[it_count]);
			tcase_set_tags(tc, "integration");
			/* Check's own limit is a backstop behind ours. */
			tcase_set_timeout(tc, it_timeouts[it_count] + 30);
			tcase_add_loop_test(tc, test_script, it_count, it_count + 1);
			suite_add_tcase(s, tc);
			it_count++;
		}
		globfree(&g);
	}
	return s;
}
