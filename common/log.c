/* sg_log: one sanitised line, one write. */
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_program = "signerd";

void sg_log_program(const char *name)
{
	log_program = name;
}

void sg_vlog(const char *fmt, va_list ap)
{
	char line[2048];
	int head = snprintf(line, sizeof(line), "%s: ", log_program);
	size_t n;

	if (head < 0 || (size_t)head >= sizeof(line))
		return;
	if (vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap) < 0)
		return;
	n = strlen(line);
	for (size_t i = (size_t)head; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	/* stderr unbuffered, in one piece: a short write is left as it is */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void sg_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_vlog(fmt, ap);
	va_end(ap);
}
