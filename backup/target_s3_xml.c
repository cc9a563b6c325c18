/* The small strict XML reader of the S3 target (target_s3.c), for S3's ListObjectsV2 pages and
 * its <Error> answers. What it reads: an optional <?xml ...?> declaration, then one element;
 * elements with attributes (skipped), children or text; the five named entities (&amp; &lt;
 * &gt; &quot; &apos;) and numeric character references. What it refuses: comments, CDATA,
 * DOCTYPE and processing instructions (S3 sends none), a text beside children that is not white
 * space, a mismatched end tag, nesting deeper than 8, anything after the root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target_internal.h"

#define S3_XML_TEXT_MAX  4096 /* the text of one XML element */
#define S3_XML_DEPTH_MAX 8

struct xml_name {
	const char *p;
	size_t len;
};

struct xml_scan {
	const char *p, *end;
	struct xml_name path[S3_XML_DEPTH_MAX];
	size_t depth;
	char text[S3_XML_TEXT_MAX + 1];
	size_t tlen;
	/* a leaf element (no children) and its decoded text */
	int (*leaf)(void *ud, const struct xml_name *path, size_t depth, const char *text,
		    size_t len);
	void *ud;
};

static bool xml_is(const struct xml_name *n, const char *s)
{
	return n->len == strlen(s) && memcmp(n->p, s, n->len) == 0;
}

static bool xml_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void xml_skip_ws(struct xml_scan *x)
{
	while (x->p < x->end && xml_ws(*x->p))
		x->p++;
}

static bool xml_name_char(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':'));
}

static int xml_name(struct xml_scan *x, struct xml_name *out)
{
	const char *start = x->p;

	if (x->p == x->end || !xml_name_char(*x->p, true))
		return sg_fail(SG_ERR_MALFORMED, "XML: a tag without a name");
	while (x->p < x->end && xml_name_char(*x->p, false))
		x->p++;
	if (x->p - start > 64)
		return sg_fail(SG_ERR_MALFORMED, "XML: a tag name longer than 64 characters");
	*out = (struct xml_name){.p = start, .len = (size_t)(x->p - start)};
	return SG_OK;
}

static int xml_put_text(struct xml_scan *x, uint32_t cp)
{
	uint8_t u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | (cp >> 6));
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xe0 | (cp >> 12));
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | (cp >> 18));
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (x->tlen + n > S3_XML_TEXT_MAX)
		return sg_fail(SG_ERR_OVERFLOW, "XML: a text longer than %d bytes",
			       S3_XML_TEXT_MAX);
	memcpy(x->text + x->tlen, u, n);
	x->tlen += n;
	return SG_OK;
}

/* After '&': amp, lt, gt, quot, apos, #DIGITS or #xHEX, then ';'. */
static int xml_entity(struct xml_scan *x)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {
		{.name = "amp;", .c = '&'},   {.name = "lt;", .c = '<'},
		{.name = "gt;", .c = '>'},    {.name = "quot;", .c = '"'},
		{.name = "apos;", .c = '\''},
	};
	size_t left = (size_t)(x->end - x->p);
	uint32_t cp = 0;
	bool hex;
	size_t digits = 0;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t n = strlen(named[i].name);

		if (left >= n && memcmp(x->p, named[i].name, n) == 0) {
			x->p += n;
			return xml_put_text(x, (uint32_t)named[i].c);
		}
	}
	if (left == 0 || *x->p != '#')
		return sg_fail(SG_ERR_MALFORMED, "XML: an unknown entity");
	x->p++;
	hex = x->p < x->end && *x->p == 'x';
	if (hex)
		x->p++;
	for (; x->p < x->end && *x->p != ';'; x->p++, digits++) {
		char c = *x->p;
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (hex && c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (hex && c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return sg_fail(SG_ERR_MALFORMED, "XML: a bad character reference");
		if (digits >= 8)
			return sg_fail(SG_ERR_MALFORMED, "XML: a character reference out of range");
		cp = cp * (hex ? 16 : 10) + d;
	}
	if (x->p == x->end || digits == 0 || cp == 0 || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return sg_fail(SG_ERR_MALFORMED, "XML: a bad character reference");
	x->p++;
	return xml_put_text(x, cp);
}

/* The text up to the next '<', decoded into x->text. */
static int xml_text(struct xml_scan *x)
{
	int r;

	while (x->p < x->end && *x->p != '<') {
		unsigned char c = (unsigned char)*x->p;

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return sg_fail(SG_ERR_MALFORMED, "XML: a control character in a text");
		x->p++;
		if (c == '&')
			r = xml_entity(x);
		else if (x->tlen < S3_XML_TEXT_MAX) {
			x->text[x->tlen++] = (char)c;
			r = SG_OK;
		} else
			r = sg_fail(SG_ERR_OVERFLOW, "XML: a text longer than %d bytes",
				    S3_XML_TEXT_MAX);
		if (r != SG_OK)
			return r;
	}
	return SG_OK;
}

/* Attributes up to '>' or "/>" (their values are not used). */
static int xml_attributes(struct xml_scan *x, bool *empty)
{
	for (;;) {
		struct xml_name n;
		char q;
		int r;

		xml_skip_ws(x);
		if (x->p == x->end)
			return sg_fail(SG_ERR_TRUNCATED, "XML: the document ends inside a tag");
		if (*x->p == '>') {
			x->p++;
			*empty = false;
			return SG_OK;
		}
		if (*x->p == '/') {
			if (x->end - x->p < 2 || x->p[1] != '>')
				return sg_fail(SG_ERR_MALFORMED, "XML: '/' inside a tag");
			x->p += 2;
			*empty = true;
			return SG_OK;
		}
		if ((r = xml_name(x, &n)) != SG_OK)
			return r;
		xml_skip_ws(x);
		if (x->p == x->end || *x->p != '=')
			return sg_fail(SG_ERR_MALFORMED, "XML: an attribute without '='");
		x->p++;
		xml_skip_ws(x);
		if (x->p == x->end || (*x->p != '"' && *x->p != '\''))
			return sg_fail(SG_ERR_MALFORMED, "XML: an attribute value without quotes");
		q = *x->p++;
		while (x->p < x->end && *x->p != q && *x->p != '<')
			x->p++;
		if (x->p == x->end || *x->p != q)
			return sg_fail(SG_ERR_MALFORMED, "XML: an unterminated attribute value");
		x->p++;
	}
}

/* An element; x->p is at its '<'. */
static int xml_element(struct xml_scan *x)
{
	struct xml_name name, end_name;
	bool empty = false, children = false;
	int r;

	x->p++;
	if (x->p < x->end && (*x->p == '!' || *x->p == '?'))
		return sg_fail(SG_ERR_MALFORMED,
			       "XML: a comment, CDATA, DOCTYPE or processing instruction");
	if ((r = xml_name(x, &name)) != SG_OK)
		return r;
	if (x->depth == S3_XML_DEPTH_MAX)
		return sg_fail(SG_ERR_MALFORMED, "XML: elements nested deeper than %d",
			       S3_XML_DEPTH_MAX);
	x->path[x->depth++] = name;
	if ((r = xml_attributes(x, &empty)) != SG_OK)
		return r;
	x->tlen = 0;
	while (!empty) {
		if ((r = xml_text(x)) != SG_OK)
			return r;
		if (x->p == x->end)
			return sg_fail(SG_ERR_TRUNCATED, "XML: the document ends inside <%.*s>",
				       (int)name.len, name.p);
		if (x->end - x->p >= 2 && x->p[1] == '/')
			break;
		/* a child: the text so far must be white space */
		for (size_t i = 0; i < x->tlen; i++)
			if (!xml_ws(x->text[i]))
				return sg_fail(SG_ERR_MALFORMED,
					       "XML: text beside elements in <%.*s>", (int)name.len,
					       name.p);
		if ((r = xml_element(x)) != SG_OK)
			return r;
		children = true;
		x->tlen = 0;
	}
	if (!empty) {
		x->p += 2;
		if ((r = xml_name(x, &end_name)) != SG_OK)
			return r;
		xml_skip_ws(x);
		if (x->p == x->end || *x->p != '>' || end_name.len != name.len ||
		    memcmp(end_name.p, name.p, name.len) != 0)
			return sg_fail(SG_ERR_MALFORMED, "XML: <%.*s> does not end with </%.*s>",
				       (int)name.len, name.p, (int)name.len, name.p);
		x->p++;
	}
	if (children) {
		for (size_t i = 0; i < x->tlen; i++)
			if (!xml_ws(x->text[i]))
				return sg_fail(SG_ERR_MALFORMED,
					       "XML: text beside elements in <%.*s>", (int)name.len,
					       name.p);
	} else if (x->leaf != NULL) {
		x->text[x->tlen] = '\0';
		if ((r = x->leaf(x->ud, x->path, x->depth, x->text, x->tlen)) != SG_OK)
			return r;
	}
	x->depth--;
	x->tlen = 0;
	return SG_OK;
}

/* Scans a document whose root element is root, calling leaf for each element without children. */
static int xml_scan_document(const char *doc, size_t len, const char *root,
			     int (*leaf)(void *, const struct xml_name *, size_t, const char *,
					 size_t),
			     void *ud)
{
	struct xml_scan *x = calloc(1, sizeof(*x));
	int r;

	if (x == NULL)
		return sg_fail(SG_ERR_NOMEM, "no memory to read XML");
	*x = (struct xml_scan){.p = doc, .end = doc + len, .leaf = leaf, .ud = ud};
	xml_skip_ws(x);
	if (x->end - x->p >= 5 && memcmp(x->p, "<?xml", 5) == 0) {
		const char *q = x->p + 5;

		while (q + 1 < x->end && !(q[0] == '?' && q[1] == '>'))
			q++;
		if (q + 1 >= x->end) {
			r = sg_fail(SG_ERR_TRUNCATED, "XML: the declaration does not end");
			goto out;
		}
		x->p = q + 2;
		xml_skip_ws(x);
	}
	if (x->p == x->end || *x->p != '<') {
		r = sg_fail(SG_ERR_MALFORMED, "XML: no root element");
		goto out;
	}
	{
		struct xml_scan peek = {.p = x->p + 1, .end = x->end};
		struct xml_name n;

		if (xml_name(&peek, &n) != SG_OK || !xml_is(&n, root)) {
			r = sg_fail(SG_ERR_MALFORMED, "XML: the root element is not <%s>", root);
			goto out;
		}
	}
	if ((r = xml_element(x)) != SG_OK)
		goto out;
	xml_skip_ws(x);
	if (x->p != x->end)
		r = sg_fail(SG_ERR_TRAILING, "XML: bytes after the root element");
out:
	free(x);
	return r;
}

/* ---- ListObjectsV2 pages and errors ---- */

struct s3_list_parse {
	struct backup_s3_list_page *page;
	bool truncated_seen;
};

static int s3_list_leaf(void *ud, const struct xml_name *path, size_t depth, const char *text,
			size_t len)
{
	struct s3_list_parse *lp = ud;
	struct backup_s3_list_page *page = lp->page;

	if (depth == 2 && xml_is(&path[1], "IsTruncated")) {
		if (lp->truncated_seen)
			return sg_fail(SG_ERR_MALFORMED, "ListObjectsV2: IsTruncated twice");
		lp->truncated_seen = true;
		if (strcmp(text, "true") == 0)
			page->truncated = true;
		else if (strcmp(text, "false") == 0)
			page->truncated = false;
		else
			return sg_fail(SG_ERR_MALFORMED,
				       "ListObjectsV2: IsTruncated is neither true nor false");
		return SG_OK;
	}
	if (depth == 2 && xml_is(&path[1], "NextContinuationToken")) {
		if (page->next_token != NULL)
			return sg_fail(SG_ERR_MALFORMED,
				       "ListObjectsV2: NextContinuationToken twice");
		if (len == 0 || len > BACKUP_S3_TOKEN_MAX || strlen(text) != len)
			return sg_fail(SG_ERR_MALFORMED,
				       "ListObjectsV2: a NextContinuationToken of %zu bytes", len);
		page->next_token = strndup(text, len);
		return page->next_token == NULL ? sg_fail(SG_ERR_NOMEM, "no memory for a token")
						: SG_OK;
	}
	if (depth == 3 && xml_is(&path[1], "Contents") && xml_is(&path[2], "Key")) {
		if (strlen(text) != len)
			return sg_fail(SG_ERR_MALFORMED, "ListObjectsV2: a key with a NUL");
		return backup_names_add(&page->keys, text, len);
	}
	return SG_OK;
}

int backup_s3_list_parse(const char *xml, size_t len, struct backup_s3_list_page *page)
{
	struct s3_list_parse lp = {.page = page};
	int r;

	*page = (struct backup_s3_list_page){.truncated = false};
	r = xml_scan_document(xml, len, "ListBucketResult", s3_list_leaf, &lp);
	if (r == SG_OK && !lp.truncated_seen)
		r = sg_fail(SG_ERR_MALFORMED, "ListObjectsV2: no IsTruncated");
	if (r == SG_OK && page->truncated && page->next_token == NULL)
		r = sg_fail(SG_ERR_MALFORMED,
			    "ListObjectsV2: truncated, without a NextContinuationToken");
	if (r != SG_OK)
		backup_s3_list_page_free(page);
	return r;
}

void backup_s3_list_page_free(struct backup_s3_list_page *page)
{
	backup_names_clear(&page->keys);
	free(page->next_token);
	page->next_token = NULL;
	page->truncated = false;
}

static int s3_error_leaf(void *ud, const struct xml_name *path, size_t depth, const char *text,
			 size_t len)
{
	char *code = ud;

	if (depth != 2 || !xml_is(&path[1], "Code") || code[0] != '\0')
		return SG_OK;
	if (len == 0 || len > BACKUP_S3_CODE_MAX)
		return SG_OK;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z') ||
		      (text[i] >= '0' && text[i] <= '9') || text[i] == '.'))
			return SG_OK;
	memcpy(code, text, len);
	code[len] = '\0';
	return SG_OK;
}

void backup_s3_error_code(const char *xml, size_t len, char code[BACKUP_S3_CODE_MAX + 1])
{
	code[0] = '\0';
	if (xml_scan_document(xml, len, "Error", s3_error_leaf, code) != SG_OK)
		code[0] = '\0';
	sg_errclear();
}
