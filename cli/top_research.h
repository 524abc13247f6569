/* top_research.h — elasticctl top --research DIR: the panel of a running
 * elastic-research batch, drawn from DIR/progress.json (written by
 * `elastic-research run` about once a second; see elastic-research(1)):
 * progress bars of trajectories and questions, the tool calls in all, per
 * trajectory and per tool as a histogram, and the substring-match accuracy
 * estimate with pass@k over the finished questions, as the seed's
 * dashboard shows them.
 */
#ifndef ES_TOP_RESEARCH_H
#define ES_TOP_RESEARCH_H

#include "buf.h"

struct json_object;

/* Appends the panel of DIR to OUT (lines ending in "\033[K\n"; colours as
 * escape sequences, which top strips without a terminal). UTF8: bars of
 * block characters, else '#' and '.'. COLS: the terminal's width. NOW:
 * the wall clock (epoch seconds), to tell a stale file. A missing or bad
 * progress.json is one line saying so. */
void top_research_panel(struct buf *out, const char *dir, int utf8, int cols, double now);

/* The same from an already parsed progress object P (for tests). */
void top_research_render(struct buf *out, const char *dir, struct json_object *p, int utf8, int cols,
			 double now, int pid_alive);

#endif
