/* sg_fault_point: the crash-safety tests' kill -9 at a named step (test builds only). */
#include "common/fault.h"

#ifdef SIGNER_FAULTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sg_fault_point(const char *name)
{
	const char *want = getenv("SIGNER_FAULT");

	if (want != NULL && strcmp(want, name) == 0) {
		static const char said[] = "fault injection: killed at a step (SIGNER_FAULT)\n";

		if (write(STDERR_FILENO, said, sizeof(said) - 1) < 0) {
			/* dying anyway */
		}
		raise(SIGKILL);
	}
}
#else
/* an empty unit is not ISO C */
typedef int sg_fault_unused;
#endif
