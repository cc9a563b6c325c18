/* Fuzz target: EIP-712 typed data from JSON text. Accepted data must hash the same twice. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chain/evm/eip712.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eip712 a, b;

	if (size > 64 * 1024)
		return 0;
	if (eip712_hash_text((const char *)data, size, &a) != 0)
		return 0;
	if (eip712_hash_text((const char *)data, size, &b) != 0 ||
	    memcmp(a.digest, b.digest, 32) != 0)
		abort();
	return 0;
}
