/* rs_run.h — elastic-research run: K trajectories per question of a JSONL
 * file, C at a time, resumable.
 *
 * Layout of the output folder DIR:
 *
 *   DIR/<question dir>/<k>.jsonl   attempt k (0..K-1) of a question: one line,
 *                                  the trajectory (rs_agent_record, with "id",
 *                                  "attempt" and "question" first); written
 *                                  whole (a temporary file, then rename) when
 *                                  the attempt ends, so a file that is there
 *                                  is complete
 *   DIR/progress.json              the batch's progress, rewritten about once a
 *                                  second (elasticctl top --research DIR)
 *   DIR/.lock                      held (flock) while a run writes to DIR
 *
 * A run skips the attempts whose file holds a trajectory with status
 * "done" and runs the others: absent, or ended with "error" (the endpoint
 * failed for good; redone), or unreadable (warned about, redone).
 * Temporary files of a killed run are removed.
 */
#ifndef ES_RS_RUN_H
#define ES_RS_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "rs_qa.h"
#include "rs_tools.h"

struct json_object;

/* DIR/<Q's dir>/<K>.jsonl, a new string. */
char *rs_run_attempt_path(const char *dir, const struct rs_question *q, int k);

/* What an attempt's file says. */
enum rs_attempt_state {
	RS_ATTEMPT_TODO,    /* no file */
	RS_ATTEMPT_DONE,    /* a finished trajectory (status "done"): kept */
	RS_ATTEMPT_FAILED,  /* a trajectory that ended in an error: redone */
	RS_ATTEMPT_BAD,     /* a file that is no trajectory of this question: redone */
};

/* Reads the attempt file PATH of question ID. For DONE and FAILED, *REC
 * (when REC is not NULL) gets the trajectory (a new reference); for BAD,
 * WHY says what is wrong. */
enum rs_attempt_state rs_run_read_attempt(const char *path, const char *id, struct json_object **rec,
					  char *why, size_t whylen);

/* Removes the temporary files a killed run left in folder QDIR. Returns
 * how many. */
int rs_run_clean_tmp(const char *qdir);

/* The counts behind the progress line and progress.json. */
struct rs_run_stats {
	size_t nq;               /* questions */
	int k;                   /* trajectories per question */
	size_t total;            /* nq * k */
	size_t done;             /* trajectories finished with status "done" (resumed included) */
	size_t resumed;          /* of those, found done when the run started */
	size_t redo;             /* failed or bad attempts found at the start (run again) */
	size_t failed;           /* attempts that ended in an error in this run */
	size_t running;          /* attempts in progress */
	size_t todo;             /* attempts this run set out to do */
	long tool_calls;         /* over the done trajectories */
	long tool_errors;        /* their tool calls whose result was an error */
	long llm_calls;          /* model calls of the done trajectories */
	long prompt_tokens;      /* their usage */
	long completion_tokens;
	long hit_limit;          /* done trajectories that reached max_tool_calls */
	long by_tool[RS_NTOOLS + 1]; /* tool calls per tool; [RS_NTOOLS]: other names */
	int *qdone;              /* per question: done trajectories */
	int *qcorrect;           /* per question: done ones whose answer matched */
	bool *qscored;           /* per question: a gold answer is known */
	size_t scored;           /* done trajectories of scored questions */
	size_t correct;          /* of those, whose answer matched (substring) */
};

void rs_run_stats_init(struct rs_run_stats *s, const struct rs_qa *qa, int k);
void rs_run_stats_free(struct rs_run_stats *s);

/* Counts the done trajectory REC of question QI (its tool calls, tokens,
 * and a substring match of its "answer" with Q's answers, if any). */
void rs_run_stats_add(struct rs_run_stats *s, size_t qi, const struct rs_question *q,
		      struct json_object *rec);

/* Questions whose K trajectories are all done; of those with a gold
 * answer, how many and how many have at least one match. */
void rs_run_stats_questions(const struct rs_run_stats *s, size_t *done, size_t *scored,
			    size_t *passed);

/* Facts about the run that progress.json carries besides the counts. */
struct rs_run_info {
	const char *state;          /* "running", "interrupted", "done", "failed" */
	const char *questions_file; /* as given */
	const char *out;            /* DIR */
	const char *model;          /* the model */
	const char *endpoint;       /* the endpoint */
	int concurrency;            /* workers */
	int max_tool_calls;         /* per trajectory */
	double started;             /* wall clock, epoch seconds */
	double elapsed;             /* seconds since the start */
	double now;                 /* wall clock of this report */
};

/* progress.json's object (see elastic-research(1)), a new reference. */
struct json_object *rs_run_progress(const struct rs_run_stats *s, const struct rs_run_info *i);

/* The progress line: "37/80 trajectories (12 resumed), 2 failed, 4
 * running | 9/20 questions | 8.3 tool calls/traj | 1m12s, ETA 1m23s". */
void rs_run_progress_line(const struct rs_run_stats *s, double elapsed, struct buf *out);

#endif
