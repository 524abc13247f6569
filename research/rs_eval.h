/* rs_eval.h — elastic-research eval: the accuracy of a run's trajectories
 * (DIR/<id>/<k>.jsonl, see rs_run.h) against gold answers, by substring
 * match and by an LLM judge, per trajectory and as pass@k.
 */
#ifndef ES_RS_EVAL_H
#define ES_RS_EVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "rs_qa.h"

struct json_object;

/* One trajectory found in DIR. */
struct rs_eval_traj {
	char *id;            /* its question's id */
	int attempt;         /* k */
	char *file;          /* its path */
	char *question;      /* the question's text ("" when absent) */
	char *answer;        /* the final answer (NULL: none, e.g. an error) */
	bool finished;       /* status "done" */
	bool substring;      /* the answer matches a gold answer */
	int verdict;         /* enum rs_verdict, or RS_EVAL_NOT_JUDGED, RS_EVAL_JUDGE_FAILED */
	char *judge_reply;   /* what the judge said (NULL: not judged) */
};

#define RS_EVAL_NOT_JUDGED (-2)
#define RS_EVAL_JUDGE_FAILED (-3)
#define RS_EVAL_TO_JUDGE (-4)     /* while eval runs: waiting for the judge */

struct rs_eval {
	struct rs_eval_traj *t; /* sorted by id (file order of the answers), then attempt */
	size_t n;
	size_t skipped;         /* files that are no trajectory (warned about) */
};

/* Reads every DIR/<folder>/<k>.jsonl. Returns 0, or -1 with ERR (DIR
 * cannot be read); a file that cannot be used is warned about on stderr
 * and counted in skipped. */
int rs_eval_scan(struct rs_eval *e, const char *dir, char *err, size_t errlen);
void rs_eval_free(struct rs_eval *e);

/* The judge's messages for one trajectory (a new JSON array): a strict
 * grading system prompt, then the question, the gold answers and the
 * response (its last 12000 bytes). */
struct json_object *rs_eval_judge_messages(const char *question, char *const *answers, size_t n,
					   const char *response);

/* Per question: trajectories and how many were right. */
struct rs_eval_q {
	const char *id;      /* the question's id */
	int n;               /* finished trajectories */
	int unfinished;      /* trajectories that ended in an error */
	int sub;             /* finished ones whose answer matches (substring) */
	int judge;           /* finished ones the judge found correct */
	int unparsable;      /* verdicts that could not be read */
	int judge_failed;    /* judge calls that failed */
	bool has_answer;     /* the answers file has this question */
};

/* The summary of an evaluation. */
struct rs_eval_sum {
	struct rs_eval_q *q;     /* per question, in the order of first appearance */
	size_t nq;
	size_t scored;           /* questions with an answer and >= 1 finished trajectory */
	size_t trajectories;     /* finished trajectories of those questions */
	size_t sub;              /* of those, substring matches */
	size_t judge;            /* of those, judged correct */
	size_t unparsable;       /* of those, verdicts not read */
	size_t judge_failed;     /* of those, judge calls that failed */
	size_t unfinished;       /* trajectories that ended in an error (all questions) */
	size_t no_answer;        /* questions with trajectories but no gold answer */
	int kmax;                /* most finished trajectories of a scored question */
	bool judged;             /* a judge ran */
};

/* Sums up E against answers A. */
void rs_eval_summarize(const struct rs_eval *e, const struct rs_qa *a, bool judged, struct rs_eval_sum *s);
void rs_eval_sum_free(struct rs_eval_sum *s);

/* The mean over the scored questions with at least K finished
 * trajectories of pass@K (JUDGE: by the judge's verdicts, else substring);
 * *NQ gets how many questions. -1 when none. */
double rs_eval_pass_at(const struct rs_eval_sum *s, int k, bool judge, size_t *nq);

/* The table printed on stdout. */
void rs_eval_table(const struct rs_eval_sum *s, const struct rs_eval *e, const char *dir,
		   const char *answers_file, const char *judge_model, bool per_question, struct buf *out);

/* eval.json's object, a new reference. */
struct json_object *rs_eval_json(const struct rs_eval_sum *s, const struct rs_eval *e, const char *dir,
				 const char *answers_file, const char *judge_model);

#endif
