/* rs_qa.h — questions, answers and their scoring: the files `run` and
 * `eval` read, substring matching, the judge's verdicts, pass@k.
 *
 * Questions and answers are JSONL files, one object a line (blank lines
 * skipped):
 *
 *   {"id": "q17", "question": "Which ...?", "answer": "Ada Lovelace"}
 *
 * "id" (a string or an integer; default: the line number) names the
 * question everywhere; "question" is required in a questions file and
 * "answer" (a string, or an array of acceptable strings) in an answers
 * file; other members are ignored. One file may serve as both.
 */
#ifndef ES_RS_QA_H
#define ES_RS_QA_H

#include <stdbool.h>
#include <stddef.h>

struct rs_question {
	char *id;         /* as in the file (an integer id as its digits) */
	char *dir;        /* the id made safe as a file name: [A-Za-z0-9._-],
			   * at most 80 bytes, not starting with '.'; an id that
			   * had to change gets "-" and 8 hex digits of its SHA-256 */
	char *question;   /* NULL in an answers file without questions */
	char **answers;   /* acceptable answers (NULL when none) */
	size_t nanswers;
	int line;         /* line in the file, from 1 */
};

struct rs_qa {
	struct rs_question *q; /* in file order */
	size_t n;
};

enum rs_qa_need {
	RS_QA_QUESTIONS, /* each line needs "question" */
	RS_QA_ANSWERS,   /* each line needs "answer" */
};

/* Loads PATH. Returns 0, or -1 with ERR "PATH:LINE: message" (not JSON,
 * not an object, no "question"/"answer", a bad id, a duplicate id with the
 * line of the first) or "PATH: ..." (cannot open, no entries). */
int rs_qa_load(struct rs_qa *qa, const char *path, enum rs_qa_need need, char *err, size_t errlen);
void rs_qa_free(struct rs_qa *qa);

/* Keeps the first N entries. */
void rs_qa_truncate(struct rs_qa *qa, size_t n);

/* Gives each entry of QA the answers of the entry of FROM with its id
 * (when FROM has one). */
void rs_qa_take_answers(struct rs_qa *qa, const struct rs_qa *from);

/* The entry with id ID, or NULL. */
const struct rs_question *rs_qa_find(const struct rs_qa *qa, const char *id);

/* The file-name form of ID (see dir above), a new string. */
char *rs_qa_dirname(const char *id);

/* ---------------------------------------------------------------- scoring */

/* S normalized for matching, a new string: ASCII letters lower-cased;
 * apostrophes, periods and commas between two letters or digits dropped
 * ("U.S." and "US", "1,000" and "1000" match); every other ASCII
 * character that is not a letter or a digit a space; the words "a", "an"
 * and "the" dropped; runs of spaces one, none at the ends. Bytes >= 0x80
 * (UTF-8) are kept as they are. */
char *rs_norm(const char *s);

/* Whether one of the N ANSWERS, normalized, appears in normalized TEXT as
 * whole words. An answer that normalizes to "" never matches. */
bool rs_substring_match(const char *text, char *const *answers, size_t n);

enum rs_verdict {
	RS_VERDICT_UNPARSABLE = -1, /* neither, or both */
	RS_VERDICT_INCORRECT = 0,
	RS_VERDICT_CORRECT = 1,
};

/* Reads a judge's reply: a JSON object with "verdict" or "correct"; else
 * the word after the last "verdict" ("Verdict: CORRECT", "**verdict**:
 * incorrect"); else the only kind of verdict word in the text (correct,
 * right, yes, true / incorrect, wrong, no, false; "not correct" counts as
 * incorrect). Anything else is RS_VERDICT_UNPARSABLE. */
enum rs_verdict rs_verdict_parse(const char *reply);

/* The unbiased estimate of pass@k from N samples of which C are correct:
 * 1 - C(n-c, k) / C(n, k). K > N or N == 0: -1 (undefined). */
double rs_pass_at_k(int n, int c, int k);

#endif
