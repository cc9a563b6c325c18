/* Fuzz target: the Solana message decoder. Whatever it accepts must hold the invariants the
 * policy relies on. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "chain/solana/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sol_message m;
	size_t total, index;

	if (sol_message_decode(data, size, &m) != 0)
		return 0;
	total = m.n_keys + m.n_loaded_writable + m.n_loaded_readonly;
	if (m.num_required_signatures == 0 || m.num_required_signatures > m.n_keys ||
	    total > SOL_MAX_ACCOUNTS || size > SOL_PACKET_DATA_SIZE)
		abort();
	for (size_t i = 0; i < m.n_instructions; i++) {
		if (m.instructions[i].program_id_index == 0 ||
		    m.instructions[i].program_id_index >= m.n_keys)
			abort();
		for (size_t k = 0; k < m.instructions[i].n_accounts; k++)
			if (m.instructions[i].accounts[k] >= total)
				abort();
		(void)sol_instruction_program(&m, &m.instructions[i]);
	}
	if (!sol_message_signer_index(&m, sol_message_fee_payer(&m), &index) || index != 0 ||
	    !sol_message_is_writable(&m, 0))
		abort();
	sol_message_free(&m);
	return 0;
}
