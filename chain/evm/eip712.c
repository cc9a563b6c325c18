#include "chain/evm/eip712.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/address.h"
#include "common/encoding.h"
#include "common/keccak.h"

#define EIP712_DEPTH_MAX 16
#define EIP712_ARRAY_MAX 1024

/* The canonical domain fields and their types, in the order EIP-712 gives them. */
static const struct {
	const char *name;
	const char *type;
} eip712_domain_fields[] = {
	{.name = "name", .type = "string"},     {.name = "version", .type = "string"},
	{.name = "chainId", .type = "uint256"}, {.name = "verifyingContract", .type = "address"},
	{.name = "salt", .type = "bytes32"},
};

struct enc {
	json_t *types; /* the types object, with EIP712Domain present (given or derived) */
	unsigned depth;
};

/* ---- type names ------------------------------------------------------------------------ */

static bool eip712_identifier(const char *s)
{
	if (s == NULL || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == '$'))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '$'))
			return false;
	return strlen(s) <= EIP712_NAME_MAX;
}

/* "uint256" -> bits 256; N a multiple of 8 from 8 to 256. */
static bool eip712_int_type(const char *type, const char *prefix, unsigned *bits)
{
	size_t pl = strlen(prefix);
	char *end;
	unsigned long n;

	if (strncmp(type, prefix, pl) != 0 || !isdigit((unsigned char)type[pl]) || type[pl] == '0')
		return false;
	n = strtoul(type + pl, &end, 10);
	if (*end != '\0' || n < 8 || n > 256 || n % 8 != 0)
		return false;
	*bits = (unsigned)n;
	return true;
}

static bool eip712_fixed_bytes_type(const char *type, unsigned *n)
{
	char *end;
	unsigned long v;

	if (strncmp(type, "bytes", 5) != 0 || !isdigit((unsigned char)type[5]) || type[5] == '0')
		return false;
	v = strtoul(type + 5, &end, 10);
	if (*end != '\0' || v < 1 || v > 32)
		return false;
	*n = (unsigned)v;
	return true;
}

static bool eip712_atomic(const char *type)
{
	unsigned n;

	return strcmp(type, "bool") == 0 || strcmp(type, "address") == 0 ||
	       strcmp(type, "string") == 0 || strcmp(type, "bytes") == 0 ||
	       eip712_int_type(type, "uint", &n) || eip712_int_type(type, "int", &n) ||
	       eip712_fixed_bytes_type(type, &n);
}

/* Splits "T[3]" into base "T" and *length 3; "T[]" gives *length -1; no brackets: 0 and false. */
static int eip712_array_split(const char *type, char *base, size_t basesz, long *length,
			      bool *is_array)
{
	size_t len = strlen(type);
	const char *open;

	*is_array = false;
	if (len == 0 || type[len - 1] != ']')
		return SG_OK;
	open = strrchr(type, '[');
	if (open == NULL || open == type || (size_t)(open - type) >= basesz)
		return sg_fail(SG_ERR_MALFORMED, "EIP-712 type '%s' is malformed", type);
	memcpy(base, type, (size_t)(open - type));
	base[open - type] = '\0';
	if (open[1] == ']') {
		*length = -1;
	} else {
		char *end;
		long n = strtol(open + 1, &end, 10);

		if (!isdigit((unsigned char)open[1]) || open[1] == '0' || *end != ']' ||
		    end[1] != '\0' || n < 1 || n > EIP712_ARRAY_MAX)
			return sg_fail(SG_ERR_MALFORMED, "EIP-712 type '%s' has a bad array length",
				       type);
		*length = n;
	}
	*is_array = true;
	return SG_OK;
}

/* The type with every array suffix taken off: "T[2][]" -> "T". */
static int eip712_base_type(const char *type, char *base, size_t basesz)
{
	bool is_array = true;
	long length;
	int r;

	if (strlen(type) >= basesz)
		return sg_fail(SG_ERR_MALFORMED, "EIP-712 type '%s' is too long", type);
	snprintf(base, basesz, "%s", type);
	while (is_array) {
		char inner[EIP712_NAME_MAX * 2];

		if ((r = eip712_array_split(base, inner, sizeof(inner), &length, &is_array)) !=
		    SG_OK)
			return r;
		if (is_array)
			snprintf(base, basesz, "%s", inner);
	}
	return SG_OK;
}

/* ---- the types object ------------------------------------------------------------------ */

static int eip712_check_types(json_t *types)
{
	const char *tname;
	json_t *fields;

	if (!json_is_object(types) || json_object_size(types) > EIP712_TYPES_MAX)
		return sg_fail(SG_ERR_MALFORMED,
			       "EIP-712 types must be an object of at most %d types",
			       EIP712_TYPES_MAX);
	json_object_foreach (types, tname, fields) {
		size_t i;
		json_t *f;

		if (!eip712_identifier(tname) || eip712_atomic(tname))
			return sg_fail(SG_ERR_MALFORMED, "'%s' is not a valid EIP-712 type name",
				       tname);
		if (!json_is_array(fields))
			return sg_fail(SG_ERR_MALFORMED, "EIP-712 type %s must list its fields",
				       tname);
		json_array_foreach (fields, i, f) {
			const char *fname, *ftype;
			json_error_t jerr;
			char base[EIP712_NAME_MAX * 2];
			int r;

			if (json_unpack_ex(f, &jerr, JSON_STRICT, "{s:s, s:s}", "name", &fname,
					   "type", &ftype) != 0)
				return sg_fail(SG_ERR_MALFORMED, "EIP-712 type %s field %zu: %s",
					       tname, i, jerr.text);
			if (!eip712_identifier(fname))
				return sg_fail(SG_ERR_MALFORMED,
					       "EIP-712 type %s: '%s' is not a valid field name",
					       tname, fname);
			for (size_t k = 0; k < i; k++)
				if (strcmp(json_string_value(json_object_get(
						   json_array_get(fields, k), "name")),
					   fname) == 0)
					return sg_fail(SG_ERR_MALFORMED,
						       "EIP-712 type %s has field %s twice", tname,
						       fname);
			/* strip every array suffix, then the base must be atomic or defined */
			if ((r = eip712_base_type(ftype, base, sizeof(base))) != SG_OK)
				return r;
			if (!eip712_atomic(base) &&
			    (!eip712_identifier(base) || json_object_get(types, base) == NULL))
				return sg_fail(SG_ERR_MALFORMED,
					       "EIP-712 type %s field %s has undefined type '%s'",
					       tname, fname, ftype);
		}
	}
	return SG_OK;
}

/* The struct types reachable from name (name included), each once, into deps. */
static int eip712_collect(json_t *types, const char *type, const char **deps, size_t *n,
			  unsigned depth)
{
	char base[EIP712_NAME_MAX * 2];
	json_t *fields, *f;
	size_t i;
	int r;

	if ((r = eip712_base_type(type, base, sizeof(base))) != SG_OK)
		return r;
	fields = json_object_get(types, base);
	if (fields == NULL)
		return SG_OK; /* atomic */
	for (i = 0; i < *n; i++)
		if (strcmp(deps[i], base) == 0)
			return SG_OK;
	if (*n == EIP712_TYPES_MAX || depth > EIP712_TYPES_MAX)
		return sg_fail(SG_ERR_MALFORMED, "EIP-712 types reference too many types");
	deps[(*n)++] = json_object_iter_key(json_object_iter_at(types, base));
	json_array_foreach (fields, i, f) {
		r = eip712_collect(types, json_string_value(json_object_get(f, "type")), deps, n,
				   depth + 1);
		if (r != SG_OK)
			return r;
	}
	return SG_OK;
}

static int eip712_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int eip712_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		size_t grown_cap = (*len + n + 1) * 2;
		char *grown = realloc(*buf, grown_cap);

		if (grown == NULL)
			return sg_fail(SG_ERR_NOMEM, "EIP-712 encodeType");
		*buf = grown;
		*cap = grown_cap;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	return SG_OK;
}

/* encodeType: "Name(type1 field1,...)" then each referenced struct type, sorted by name. */
int eip712_encode_type(json_t *types, const char *name, char **out)
{
	const char *deps[EIP712_TYPES_MAX];
	size_t n = 0, len = 0, cap = 0;
	char *buf = NULL;
	int r;

	*out = NULL;
	if (json_object_get(types, name) == NULL)
		return sg_fail(SG_ERR_MALFORMED, "EIP-712 type '%s' is not defined", name);
	if ((r = eip712_collect(types, name, deps, &n, 0)) != SG_OK)
		return r;
	qsort(deps + 1, n - 1, sizeof(deps[0]), eip712_strcmp); /* the primary type stays first */
	for (size_t d = 0; d < n && r == SG_OK; d++) {
		json_t *fields = json_object_get(types, deps[d]), *f;
		size_t i;

		r = eip712_append(&buf, &len, &cap, deps[d]);
		if (r == SG_OK)
			r = eip712_append(&buf, &len, &cap, "(");
		json_array_foreach (fields, i, f) {
			if (r == SG_OK && i > 0)
				r = eip712_append(&buf, &len, &cap, ",");
			if (r == SG_OK)
				r = eip712_append(&buf, &len, &cap,
						  json_string_value(json_object_get(f, "type")));
			if (r == SG_OK)
				r = eip712_append(&buf, &len, &cap, " ");
			if (r == SG_OK)
				r = eip712_append(&buf, &len, &cap,
						  json_string_value(json_object_get(f, "name")));
		}
		if (r == SG_OK)
			r = eip712_append(&buf, &len, &cap, ")");
	}
	if (r != SG_OK) {
		free(buf);
		return r;
	}
	*out = buf;
	return SG_OK;
}

/* ---- values ---------------------------------------------------------------------------- */

/* A 256-bit number from JSON: a non-negative integer, a decimal string (with '-' when signed),
 * or a 0x-hex string. *negative tells the sign; mag is the magnitude. */
static int eip712_number(json_t *v, const char *what, uint8_t mag[32], bool *negative)
{
	const char *s;
	size_t n;

	memset(mag, 0, 32);
	*negative = false;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		unsigned long long u;

		*negative = i < 0;
		u = *negative ? (unsigned long long)(-(i + 1)) + 1 : (unsigned long long)i;
		for (int k = 31; k >= 24; k--, u >>= 8)
			mag[k] = (uint8_t)u;
		return SG_OK;
	}
	if (!json_is_string(v))
		return sg_fail(SG_ERR_MALFORMED, "%s must be an integer or a string", what);
	s = json_string_value(v);
	if (s[0] == '-') {
		*negative = true;
		s++;
	}
	n = strlen(s);
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		uint8_t tmp[33];
		size_t got;
		char padded[67];

		if (n - 2 > 64)
			return sg_fail(SG_ERR_OVERFLOW, "%s does not fit in 256 bits", what);
		/* an odd number of digits gets a leading zero */
		snprintf(padded, sizeof(padded), "%s%s", (n - 2) % 2 ? "0" : "", s + 2);
		if (hex_decode(padded, strlen(padded), tmp, sizeof(tmp), &got) != SG_OK)
			return sg_fail(SG_ERR_MALFORMED, "%s is not a number: '%s'", what, s);
		memcpy(mag + 32 - got, tmp, got);
		return SG_OK;
	}
	if (n == 0 || n > 78)
		return sg_fail(SG_ERR_MALFORMED, "%s is not a number of at most 78 digits", what);
	for (size_t i = 0; i < n; i++) {
		unsigned carry;

		if (!isdigit((unsigned char)s[i]))
			return sg_fail(SG_ERR_MALFORMED, "%s is not a decimal number: '%s'", what,
				       s);
		carry = (unsigned)(s[i] - '0');
		for (int k = 31; k >= 0; k--) {
			unsigned x = mag[k] * 10u + carry;

			mag[k] = (uint8_t)x;
			carry = x >> 8;
		}
		if (carry != 0)
			return sg_fail(SG_ERR_OVERFLOW, "%s does not fit in 256 bits", what);
	}
	return SG_OK;
}

/* How many of the 256 bits the magnitude uses. */
static unsigned eip712_bitlen(const uint8_t mag[32])
{
	for (int i = 0; i < 32; i++)
		if (mag[i] != 0)
			return 8u * (unsigned)(31 - i) + 32u - (unsigned)__builtin_clz(mag[i]);
	return 0;
}

static int eip712_encode_int(json_t *v, const char *type, const char *what, uint8_t out[32])
{
	unsigned bits;
	bool is_signed = type[0] == 'i', negative;
	uint8_t mag[32];
	unsigned used;
	int r;

	if (!eip712_int_type(type, is_signed ? "int" : "uint", &bits))
		return sg_fail(SG_ERR_INTERNAL, "not an integer type: %s", type);
	if ((r = eip712_number(v, what, mag, &negative)) != SG_OK)
		return r;
	used = eip712_bitlen(mag);
	if (!is_signed) {
		if (negative && used > 0)
			return sg_fail(SG_ERR_OVERFLOW, "%s is negative but %s is unsigned", what,
				       type);
		if (used > bits)
			return sg_fail(SG_ERR_OVERFLOW, "%s does not fit in %s", what, type);
		memcpy(out, mag, 32);
		return SG_OK;
	}
	/* intN: -2^(N-1) <= v < 2^(N-1) */
	if (!negative && used > bits - 1)
		return sg_fail(SG_ERR_OVERFLOW, "%s does not fit in %s", what, type);
	if (negative) {
		bool exactly_min = used == bits && mag[32 - bits / 8] == 0x80;

		for (unsigned i = 32 - bits / 8 + 1; exactly_min && i < 32; i++)
			exactly_min = mag[i] == 0;
		if (used > bits - 1 && !exactly_min)
			return sg_fail(SG_ERR_OVERFLOW, "%s does not fit in %s", what, type);
		/* two's complement over 256 bits */
		unsigned carry = 1;

		for (int k = 31; k >= 0; k--) {
			unsigned x = (uint8_t)~mag[k] + carry;

			mag[k] = (uint8_t)x;
			carry = x >> 8;
		}
	}
	memcpy(out, mag, 32);
	return SG_OK;
}

static int eip712_hex_bytes(json_t *v, const char *what, uint8_t **out, size_t *len)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return sg_fail(SG_ERR_MALFORMED, "%s must be a 0x-hex string", what);
	s = json_string_value(v);
	n = strlen(s);
	*out = malloc(n / 2 + 1);
	if (*out == NULL)
		return sg_fail(SG_ERR_NOMEM, "EIP-712 bytes");
	if (hex_decode_0x(s, n, *out, n / 2 + 1, len) != SG_OK) {
		free(*out);
		*out = NULL;
		return sg_fail(SG_ERR_MALFORMED, "%s is not 0x-hex bytes", what);
	}
	return SG_OK;
}

static int eip712_hash_struct(struct enc *e, const char *type, json_t *value, const char *what,
			      uint8_t out[32]);

/* encodeData of one value: 32 bytes. */
static int eip712_encode_value(struct enc *e, const char *type, json_t *v, const char *what,
			       uint8_t out[32])
{
	char base[EIP712_NAME_MAX * 2];
	bool is_array;
	long length;
	unsigned n;
	int r;

	memset(out, 0, 32);
	if (v == NULL)
		return sg_fail(SG_ERR_MALFORMED, "%s is missing", what);
	if ((r = eip712_array_split(type, base, sizeof(base), &length, &is_array)) != SG_OK)
		return r;
	if (is_array) {
		struct keccak256_ctx ctx;
		json_t *item;
		size_t i;

		if (!json_is_array(v))
			return sg_fail(SG_ERR_MALFORMED, "%s must be an array", what);
		if (length >= 0 && json_array_size(v) != (size_t)length)
			return sg_fail(SG_ERR_MALFORMED, "%s must have %ld elements, not %zu", what,
				       length, json_array_size(v));
		if (json_array_size(v) > EIP712_ARRAY_MAX)
			return sg_fail(SG_ERR_OVERFLOW, "%s has more than %d elements", what,
				       EIP712_ARRAY_MAX);
		if (++e->depth > EIP712_DEPTH_MAX)
			return sg_fail(SG_ERR_OVERFLOW, "EIP-712 data nests deeper than %d",
				       EIP712_DEPTH_MAX);
		keccak256_init(&ctx);
		json_array_foreach (v, i, item) {
			uint8_t enc[32];

			if ((r = eip712_encode_value(e, base, item, what, enc)) != SG_OK)
				return r;
			keccak256_update(&ctx, enc, 32);
		}
		keccak256_final(&ctx, out);
		e->depth--;
		return SG_OK;
	}
	if (json_object_get(e->types, type) != NULL)
		return eip712_hash_struct(e, type, v, what, out);
	if (strcmp(type, "bool") == 0) {
		if (!json_is_boolean(v))
			return sg_fail(SG_ERR_MALFORMED, "%s must be true or false", what);
		out[31] = json_is_true(v) ? 1 : 0;
		return SG_OK;
	}
	if (strcmp(type, "address") == 0) {
		if (!json_is_string(v) || addr_evm_parse(json_string_value(v), out + 12) != SG_OK)
			return sg_fail(SG_ERR_MALFORMED, "%s must be an EVM address", what);
		return SG_OK;
	}
	if (strcmp(type, "string") == 0) {
		if (!json_is_string(v))
			return sg_fail(SG_ERR_MALFORMED, "%s must be a string", what);
		keccak256(json_string_value(v), json_string_length(v), out);
		return SG_OK;
	}
	if (strcmp(type, "bytes") == 0 || eip712_fixed_bytes_type(type, &n)) {
		uint8_t *bytes;
		size_t len;

		if ((r = eip712_hex_bytes(v, what, &bytes, &len)) != SG_OK)
			return r;
		if (strcmp(type, "bytes") == 0) {
			keccak256(bytes, len, out);
		} else if (len != n) {
			r = sg_fail(SG_ERR_MALFORMED, "%s must be %u bytes, not %zu", what, n, len);
		} else {
			memcpy(out, bytes, len); /* bytesN: left-aligned, zero-padded */
		}
		free(bytes);
		return r;
	}
	return eip712_encode_int(v, type, what, out);
}

static int eip712_hash_struct(struct enc *e, const char *type, json_t *value, const char *what,
			      uint8_t out[32])
{
	json_t *fields = json_object_get(e->types, type), *f;
	struct keccak256_ctx ctx;
	uint8_t type_hash[32];
	char *encoded_type;
	const char *key;
	json_t *ignored;
	size_t i;
	int r;

	if (!json_is_object(value))
		return sg_fail(SG_ERR_MALFORMED, "%s must be an object of type %s", what, type);
	if (++e->depth > EIP712_DEPTH_MAX)
		return sg_fail(SG_ERR_OVERFLOW, "EIP-712 data nests deeper than %d",
			       EIP712_DEPTH_MAX);
	/* every field of the value must be one of the type's */
	json_object_foreach (value, key, ignored) {
		bool known = false;

		json_array_foreach (fields, i, f)
			known |= strcmp(json_string_value(json_object_get(f, "name")), key) == 0;
		if (!known)
			return sg_fail(SG_ERR_MALFORMED,
				       "%s has field '%s', which type %s does not", what, key,
				       type);
	}
	if ((r = eip712_encode_type(e->types, type, &encoded_type)) != SG_OK)
		return r;
	keccak256(encoded_type, strlen(encoded_type), type_hash);
	free(encoded_type);
	keccak256_init(&ctx);
	keccak256_update(&ctx, type_hash, 32);
	json_array_foreach (fields, i, f) {
		const char *fname = json_string_value(json_object_get(f, "name"));
		char fwhat[256];
		uint8_t enc[32];

		snprintf(fwhat, sizeof(fwhat), "%s.%s", what, fname);
		r = eip712_encode_value(e, json_string_value(json_object_get(f, "type")),
					json_object_get(value, fname), fwhat, enc);
		if (r != SG_OK)
			return r;
		keccak256_update(&ctx, enc, 32);
	}
	keccak256_final(&ctx, out);
	e->depth--;
	return SG_OK;
}

/* ---- the domain ------------------------------------------------------------------------ */

/* EIP712Domain: checked against the canonical fields when given, derived from the domain's
 * fields (in canonical order) when not. */
static int eip712_domain_type(json_t *types, json_t *domain)
{
	json_t *given = json_object_get(types, "EIP712Domain"), *derived, *f;
	const char *key;
	json_t *ignored;
	size_t i;

	if (!json_is_object(domain))
		return sg_fail(SG_ERR_MALFORMED, "the EIP-712 domain must be an object");
	json_object_foreach (domain, key, ignored) {
		bool known = false;

		for (size_t k = 0; k < 5; k++)
			known |= strcmp(eip712_domain_fields[k].name, key) == 0;
		if (!known)
			return sg_fail(SG_ERR_MALFORMED,
				       "the EIP-712 domain has unknown field '%s'", key);
	}
	if (given != NULL) {
		json_array_foreach (given, i, f) {
			const char *name = json_string_value(json_object_get(f, "name"));
			const char *type = json_string_value(json_object_get(f, "type"));
			bool ok = false;

			for (size_t k = 0; k < 5; k++)
				ok |= strcmp(eip712_domain_fields[k].name, name) == 0 &&
				      strcmp(eip712_domain_fields[k].type, type) == 0;
			if (!ok)
				return sg_fail(
					SG_ERR_MALFORMED,
					"EIP712Domain field '%s %s' is not one EIP-712 defines",
					type, name);
		}
		return SG_OK;
	}
	derived = json_array();
	if (derived == NULL)
		return sg_fail(SG_ERR_NOMEM, "EIP-712 domain");
	for (size_t k = 0; k < 5; k++)
		if (json_object_get(domain, eip712_domain_fields[k].name) != NULL)
			json_array_append_new(derived,
					      json_pack("{s:s, s:s}", "name",
							eip712_domain_fields[k].name, "type",
							eip712_domain_fields[k].type));
	json_object_set_new(types, "EIP712Domain", derived);
	return SG_OK;
}

static int eip712_domain_view(json_t *domain, struct eip712 *out)
{
	json_t *v;
	bool negative;

	if ((v = json_object_get(domain, "name")) != NULL) {
		out->has_name = true;
		snprintf(out->name, sizeof(out->name), "%s", json_string_value(v));
	}
	if ((v = json_object_get(domain, "version")) != NULL) {
		out->has_version = true;
		snprintf(out->version, sizeof(out->version), "%s", json_string_value(v));
	}
	if ((v = json_object_get(domain, "chainId")) != NULL) {
		out->has_chain_id = true;
		if (eip712_number(v, "domain.chainId", out->chain_id, &negative) != SG_OK)
			return SG_ERR_MALFORMED;
	}
	if ((v = json_object_get(domain, "verifyingContract")) != NULL) {
		out->has_verifying_contract = true;
		if (addr_evm_parse(json_string_value(v), out->verifying_contract) != SG_OK)
			return SG_ERR_MALFORMED;
	}
	out->has_salt = json_object_get(domain, "salt") != NULL;
	return SG_OK;
}

/* What the message is made of, for the policy: the struct types of encodeType(primary), in its
 * order, and the names of their address fields. Only facts, no judgement. */
static int eip712_composition(json_t *types, const char *primary, struct eip712 *out)
{
	const char *deps[EIP712_TYPES_MAX];
	size_t n = 0;
	int r;

	if ((r = eip712_collect(types, primary, deps, &n, 0)) != SG_OK)
		return r;
	qsort(deps + 1, n - 1, sizeof(deps[0]), eip712_strcmp); /* as encodeType orders them */
	for (size_t d = 0; d < n; d++) {
		json_t *fields = json_object_get(types, deps[d]);

		snprintf(out->struct_types[d], sizeof(out->struct_types[d]), "%s", deps[d]);
		for (size_t i = 0; i < json_array_size(fields); i++) {
			json_t *f = json_array_get(fields, i);
			const char *fname = json_string_value(json_object_get(f, "name"));
			const char *ftype = json_string_value(json_object_get(f, "type"));
			char base[EIP712_NAME_MAX * 2];
			bool known = false;

			if ((r = eip712_base_type(ftype, base, sizeof(base))) != SG_OK)
				return r;
			if (strcmp(base, "address") != 0)
				continue;
			for (size_t k = 0; k < out->n_address_fields && !known; k++)
				known = strcmp(out->address_fields[k], fname) == 0;
			if (known)
				continue;
			if (out->n_address_fields == EIP712_ADDRESS_FIELDS_MAX) {
				out->address_fields_incomplete = true;
				continue;
			}
			snprintf(out->address_fields[out->n_address_fields],
				 sizeof(out->address_fields[0]), "%s", fname);
			out->n_address_fields++;
		}
	}
	out->n_struct_types = n;
	return SG_OK;
}

int eip712_hash(json_t *typed_data, struct eip712 *out)
{
	json_t *types = NULL, *domain, *message, *given_types;
	const char *primary;
	json_error_t jerr;
	struct enc e;
	uint8_t pre[66];
	int r;

	memset(out, 0, sizeof(*out));
	if (json_unpack_ex(typed_data, &jerr, JSON_STRICT, "{s:o, s:s, s:o, s:o}", "types",
			   &given_types, "primaryType", &primary, "domain", &domain, "message",
			   &message) != 0)
		return sg_fail(SG_ERR_MALFORMED, "EIP-712 typed data: %s", jerr.text);
	if ((r = eip712_check_types(given_types)) != SG_OK)
		return r;
	types = json_deep_copy(given_types);
	if (types == NULL)
		return sg_fail(SG_ERR_NOMEM, "EIP-712 types");
	if ((r = eip712_domain_type(types, domain)) != SG_OK)
		goto out;
	if (strcmp(primary, "EIP712Domain") == 0 || json_object_get(types, primary) == NULL) {
		r = sg_fail(SG_ERR_MALFORMED, "primaryType '%s' is not a defined message type",
			    primary);
		goto out;
	}
	snprintf(out->primary_type, sizeof(out->primary_type), "%s", primary);
	e = (struct enc){.types = types, .depth = 0};
	if ((r = eip712_hash_struct(&e, "EIP712Domain", domain, "domain", out->domain_separator)) !=
		    SG_OK ||
	    (r = eip712_hash_struct(&e, primary, message, "message", out->struct_hash)) != SG_OK ||
	    (r = eip712_domain_view(domain, out)) != SG_OK ||
	    (r = eip712_composition(types, primary, out)) != SG_OK)
		goto out;
	pre[0] = 0x19;
	pre[1] = 0x01;
	memcpy(pre + 2, out->domain_separator, 32);
	memcpy(pre + 34, out->struct_hash, 32);
	keccak256(pre, sizeof(pre), out->digest);
out:
	json_decref(types);
	return r;
}

int eip712_hash_text(const char *text, size_t len, struct eip712 *out)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int r;

	if (j == NULL)
		return sg_fail(SG_ERR_MALFORMED, "EIP-712 typed data is not JSON: %s (line %d)",
			       jerr.text, jerr.line);
	r = eip712_hash(j, out);
	json_decref(j);
	return r;
}
