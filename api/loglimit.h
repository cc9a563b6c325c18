/* Log lines a peer can cause (refused handshakes, libmicrohttpd's own complaints): each kind at
 * most once every 10 s, with the count of those held back, so that a flood of bad connections
 * cannot flood the log. The first LOG_LIMIT_KINDS - 1 kinds seen get a slot each; every kind
 * after them shares the last one, so that a peer cannot make kinds faster than they are held
 * back. Metrics still count every one. Thread-safe. */
#ifndef SIGNER_API_LOGLIMIT_H
#define SIGNER_API_LOGLIMIT_H

#include <stdbool.h>

#define LOG_LIMIT_KINDS   16
#define LOG_LIMIT_SECONDS 10

/* Whether a line of kind may be printed at now (monotonic seconds); when it may, *held is how
 * many of its slot were held back since the last one printed, and *shared whether the slot is
 * the one shared by the kinds past the first ones. */
bool log_limit_pass(const char *kind, double now, unsigned long *held, bool *shared);

/* Forgets every kind (tests). */
void log_limit_reset(void);

/* Prints "signerd: api: LINE" to stderr when log_limit_pass lets it. */
void log_limited(const char *kind, const char *line);

#endif
