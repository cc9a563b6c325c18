/* signerd's log: one line per event on stderr (the journal under systemd), each prefixed with
 * the program's name ("signerd: audit: ..."). A line is written with one write(2), so lines of
 * threads never interleave, and bytes a peer could have chosen cannot forge a line: control
 * characters become '?'. */
#ifndef SIGNER_COMMON_LOG_H
#define SIGNER_COMMON_LOG_H

#include <stdarg.h>

/* The name in front of every line; "signerd" until set. */
void sg_log_program(const char *name);

/* One line (no trailing newline in fmt). */
void sg_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sg_vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
