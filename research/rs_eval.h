/* rs_eval.h — elastic-research eval: the accuracy of a run's trajectories
 * (DIR/<id>/<k>.jsonl, see rs_run.h) against gold answers, by substring
 * match and by an LLM judge, per trajectory and as pass@k.
 */
#ifndef ES_RS_EVAL_H
#define ES_RS_EVAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "rs_llm.h"
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
	char *judge_reason;  /* the "reason" of a structured verdict (NULL: none) */
	bool structured;     /* the verdict was read from the JSON object asked for */
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
 * response (its last 12000 bytes). JSON: the prompt asks for a JSON
 * object {"verdict": "correct"|"incorrect", "reason": ...}; else for a
 * sentence and a last line "Verdict: CORRECT" or "Verdict: INCORRECT". */
struct json_object *rs_eval_judge_messages(const char *question, char *const *answers, size_t n,
					   const char *response, bool json);

/* The response_format the judge sends with --judge-format json, JSON text:
 * a json_schema of {"verdict": "correct"|"incorrect", "reason": "..."}
 * with "verdict" required. */
extern const char rs_eval_verdict_format[];

/* Reads a structured verdict: REPLY (white space and a ``` fence around it
 * allowed) is a JSON object whose "verdict" is "correct" or "incorrect"
 * (any case). Returns 0 with *VERDICT (enum rs_verdict) and *REASON (its
 * "reason" string, a new one, or NULL), or -1 when REPLY is not one. */
int rs_eval_parse_structured(const char *reply, int *verdict, char **reason);

/* Whether a failed call (STATUS, ERR as rs_llm_chat gives them) is the
 * endpoint refusing response_format: a 400 (or 422) whose message names
 * response_format, a JSON schema, structured output, guided decoding or a
 * grammar. */
bool rs_eval_refuses_format(long status, const char *err);

/* A judge shared by eval's threads: the endpoint and how the verdict is
 * asked for. */
struct rs_eval_judge {
	const struct rs_llm *llm; /* the endpoint, prepared (read only) */
	struct rs_llm with_format; /* a copy of *LLM whose extra adds the
				    * verdict's response_format (its extra is
				    * its own, the rest LLM's) */
	struct rs_llm without;    /* the same, with no response_format at all */
	bool json;                /* ask for a structured verdict (--judge-format json) */
	bool refused;             /* the endpoint refused response_format: text
				   * from then on (under MU) */
	char refusal[512];        /* the first refusal's message (under MU) */
	pthread_mutex_t mu;       /* guards refused and refusal */
};

/* One verdict. */
struct rs_eval_verdict {
	int verdict;     /* enum rs_verdict, or RS_EVAL_JUDGE_FAILED */
	char *reply;     /* what the judge said, or why the call failed */
	char *reason;    /* a structured verdict's "reason", or NULL */
	bool structured; /* read from a JSON object with "verdict" */
};

/* Sets up J over LLM (prepared; its settings as the judge's calls want
 * them, its extra members sent too, less any response_format: the judge's
 * own is the only one); JSON: ask for structured verdicts. */
void rs_eval_judge_init(struct rs_eval_judge *j, const struct rs_llm *llm, bool json);
void rs_eval_judge_free(struct rs_eval_judge *j);

/* Asks J's endpoint for the verdict on one response (the arguments as
 * rs_eval_judge_messages takes them) and reads it into OUT (free it with
 * rs_eval_verdict_free): from the JSON object asked for, else from the
 * text (rs_verdict_parse). When the endpoint refuses response_format
 * (rs_eval_refuses_format) the call is made again once without it, with
 * the text prompt, and J asks as text from then on. Thread-safe. */
void rs_eval_judge_one(struct rs_eval_judge *j, const char *question, char *const *answers,
		       size_t n, const char *response, struct rs_eval_verdict *out);
void rs_eval_verdict_free(struct rs_eval_verdict *v);

/* Per question: trajectories and how many were right. */
struct rs_eval_q {
	const char *id;      /* the question's id */
	int n;               /* finished trajectories */
	int unfinished;      /* trajectories that ended in an error */
	int sub;             /* finished ones whose answer matches (substring) */
	int judge;           /* finished ones the judge found correct */
	int unparsable;      /* verdicts that could not be read */
	int structured;      /* verdicts read from a JSON object */
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
	size_t structured;       /* of those, verdicts read from a JSON object */
	const char *judge_format; /* "json" or "text": how verdicts were asked
				   * for (NULL: unknown); set by the caller */
	bool format_refused;     /* the endpoint refused response_format, so
				  * the rest were asked as text; set by the caller */
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
