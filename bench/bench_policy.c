/* bench_policy [ITERATIONS]: evaluating a policy of 200 rules (grants, per-operation content
 * rules with recipient lists, rate and spend limits): p50, p99 and max of one request's
 * decision (access + rate limit lookup + content rules + spend extraction), for an EVM
 * transaction and a Solana message that match the last rule. A benchmark: it reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/address.h"
#include "common/timefmt.h"
#include "policy/policy.h"
#include "chain/evm/rlp.h"
#include "chain/evm/tx.h"
#include "chain/solana/message.h"

#define OPERATIONS 50

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* 50 operations x (a grant, an EVM rule with 4 recipients, a Solana rule), plus 50 rate limits:
 * 200 rules. */
static const char *write_policy(void)
{
	static char path[] = "/tmp/signer-bench-policy-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	uint8_t program[32];
	char b58[64];

	fprintf(f, "clients:\n  adapter:\n    cn: adapter\ngrants:\n");
	for (int i = 0; i < OPERATIONS; i++)
		fprintf(f, "  - client: adapter\n    key: k%d\n    operations: [op%d]\n", i, i);
	fprintf(f, "rules:\n");
	for (int i = 0; i < OPERATIONS; i++) {
		fprintf(f, "  op%d:\n    evm:\n      chain_ids: [137, 80002]\n      recipients:\n",
			i);
		for (int r = 0; r < 4; r++)
			fprintf(f,
				"        - address: '0x%038x%02x'\n          selectors: "
				"['0x40c10f19', "
				"'0xa9059cbb']\n",
				i, r);
		fprintf(f, "      max_value_wei: '1000000000000000000'\n      max_gas: 500000\n"
			   "      max_fee_per_gas_wei: '300000000000'\n"
			   "      max_total_fee_wei: '100000000000000000'\n");
		memset(program, 0, 32);
		if (addr_solana_encode(program, b58, sizeof(b58)) != 0)
			b58[0] = '\0';
		fprintf(f,
			"    solana:\n      programs: ['%s']\n      max_instructions: 4\n"
			"      system_transfer:\n        max_lamports: 1000000\n",
			b58);
	}
	fprintf(f, "rate_limits:\n");
	for (int i = 0; i < OPERATIONS; i++)
		fprintf(f, "  - client: adapter\n    operation: op%d\n    per_minute: 600\n", i);
	fprintf(f,
		"spend_limits:\n  - key: k%d\n    asset: native\n    window: 24h\n"
		"    max: '5000000000000000000'\n",
		OPERATIONS - 1);
	fclose(f);
	return path;
}

static void report(const char *what, double *t, size_t n)
{
	qsort(t, n, sizeof(double), cmp_double);
	printf("%-22s %10.2f %10.2f %10.2f\n", what, t[n / 2] / 1000,
	       t[(size_t)((double)n * 0.99)] / 1000, t[n - 1] / 1000);
}

int main(int argc, char **argv)
{
	size_t iterations = argc > 1 ? (size_t)atol(argv[1]) : 200000;
	const char *path = write_policy();
	struct policy *p;
	struct rlp_buf b = {0};
	struct evm_tx tx;
	struct sol_message m;
	uint8_t msg[200] = {1, 0, 1, 3}, to[20] = {0}, data[68] = {0x40, 0xc1, 0x0f, 0x19};
	double *t = calloc(iterations, sizeof(double));
	char op[16], key[16];
	size_t start, o = 0, n;
	struct policy_spend spends[POLICY_SPENDS_MAX];
	int r;

	if ((r = policy_load(path, &p)) != 0) {
		fprintf(stderr, "bench_policy: %s\n", sg_errmsg(r));
		return 1;
	}
	unlink(path);
	snprintf(op, sizeof(op), "op%d", OPERATIONS - 1);
	snprintf(key, sizeof(key), "k%d", OPERATIONS - 1);
	/* an EIP-1559 mint to the last recipient of the last operation */
	to[18] = OPERATIONS - 1;
	to[19] = 3;
	rlp_put_raw(&b, (const uint8_t[]){0x02}, 1);
	start = b.len;
	rlp_put_u64(&b, 137);
	rlp_put_u64(&b, 1);
	rlp_put_u64(&b, 1000000000);
	rlp_put_u64(&b, 30000000000);
	rlp_put_u64(&b, 100000);
	rlp_put_bytes(&b, to, 20);
	rlp_put_u64(&b, 1000);
	rlp_put_bytes(&b, data, sizeof(data));
	{
		size_t al = b.len;

		rlp_wrap_list(&b, al);
	}
	rlp_wrap_list(&b, start);
	if (evm_tx_decode(b.data, b.len, &tx) != 0)
		return 1;
	/* a legacy Solana message: one System transfer of 1000 lamports */
	o = 4;
	memset(msg + o, 0x11, 32), o += 32;
	memset(msg + o, 0x22, 32), o += 32;
	memset(msg + o, 0, 32), o += 32;
	memset(msg + o, 0x33, 32), o += 32;
	msg[o++] = 1, msg[o++] = 2, msg[o++] = 2, msg[o++] = 0, msg[o++] = 1, msg[o++] = 12;
	msg[o++] = 2, msg[o++] = 0, msg[o++] = 0, msg[o++] = 0;
	msg[o++] = 0xe8, msg[o++] = 0x03;
	memset(msg + o, 0, 6), o += 6;
	if (sol_message_decode(msg, o, &m) != 0)
		return 1;

	printf("policy benchmark: %d operations, 200 rules (grants, EVM and Solana rules with "
	       "recipient lists, rate limits) and a spend limit; %zu decisions each\n",
	       OPERATIONS, iterations);
	printf("%-22s %10s %10s %10s\n", "decision", "p50 us", "p99 us", "max us");
	for (int kind = 0; kind < 2; kind++) {
		for (size_t i = 0; i < iterations; i++) {
			const char *rule;
			struct policy_decision d;
			double t0 = (double)time_monotonic_ns();

			if (policy_authorize(p, "adapter", key, op, &rule) != 0)
				return 1;
			(void)policy_rate_limit_for(p, "adapter", op);
			if (kind == 0) {
				policy_check_evm_tx(p, op, &tx, &d);
				(void)policy_spends_evm(&tx, spends, &n);
			} else {
				policy_check_solana(p, op, &m, msg + 4, &d);
				(void)policy_spends_solana(&m, msg + 4, spends, &n);
			}
			t[i] = (double)time_monotonic_ns() - t0;
			if (!d.allowed) {
				fprintf(stderr, "bench_policy: denied: %s\n", d.message);
				return 1;
			}
		}
		report(kind == 0 ? "EVM transaction" : "Solana message", t, iterations);
	}
	sol_message_free(&m);
	rlp_buf_free(&b);
	policy_free(p);
	free(t);
	return 0;
}
