/* For the targets whose parser reads a file: the input written to one file of a private
 * directory made on the first run (the same path every run, so that messages naming it compare
 * equal). */
#ifndef SIGNER_TESTS_FUZZ_FILE_H
#define SIGNER_TESTS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[128];
	FILE *f;

	if (path[0] == '\0') {
		char dir[] = "/tmp/signer-fuzz.XXXXXX";

		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	}
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return path;
}

#endif
