/* signerctl audit verify: the audit log's hash chain. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "signer/audit.h"

/* Exit 0 when the chain holds; 1 with "FILE:LINE: what" for the first bad line. */
int cmd_audit_verify(struct ctl *ctl, const struct ctl_args *a)
{
	unsigned long bad, lines;
	const char *path;
	int r;

	if (a->argc != 1)
		return ctl_usage_error(ctl, "audit verify needs one FILE");
	path = a->argv[0];
	r = audit_verify_file(path, &bad, &lines);
	if (r != SG_OK) {
		fprintf(stderr, "signerctl: audit verify: %s\n", sg_errmsg(r));
		return EXIT_FAILURE;
	}
	printf("%s: %lu records, chain intact\n", path, lines);
	return EXIT_SUCCESS;
}
