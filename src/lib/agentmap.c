/*
 * The common end of the agent mappings (agentmap.h): a list of event texts,
 * event ids derived from what the source calls a thing (so a payload sent
 * twice is one event) or fresh, and the step that makes any mapped event one
 * the log accepts by bounding its detail instead of losing the event.
 */
#include <stdlib.h>
#include <string.h>

#include "agentmap.h"
#include "event.h"
#include "internal.h"

/* Text of an event at most this long is tried as it is; the log's limit is 1 MiB. */
#define EVENT_BUDGET (ATR_MAX_EVENT_BYTES - (64u << 10))
/* Detail values nested deeper than this (the event is level 1) become JSON text. */
#define DETAIL_DEPTH (ATR_MAX_DEPTH - 4)

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

int atr__agents_new(atr_agent_events **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : atr__err(ATR_ENOMEM, "out of memory");
}

size_t atr_agent_events_count(const atr_agent_events *l)
{
	return l ? l->n : 0;
}

const char *atr_agent_events_get(const atr_agent_events *l, size_t i, size_t *len)
{
	if (!l || i >= l->n)
		return NULL;
	if (len)
		*len = l->len[i];
	return l->text[i];
}

void atr_agent_events_free(atr_agent_events *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->text[i]);
	free(l->text);
	free(l->len);
	free(l);
}

static int append(atr_agent_events *l, char *text, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4;
		char **t = realloc(l->text, cap * sizeof(*t));
		size_t *n;

		if (!t)
			return atr__err(ATR_ENOMEM, "out of memory");
		l->text = t;
		if (!(n = realloc(l->len, cap * sizeof(*n))))
			return atr__err(ATR_ENOMEM, "out of memory");
		l->len = n;
		l->cap = cap;
	}
	l->text[l->n] = text;
	l->len[l->n++] = len;
	return 0;
}

/* ------------------------------------------------------------ strings, ids */

size_t atr__agents_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* Back off over continuation bytes to the start of a character. */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

int atr__agents_set(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -1;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

int atr__agents_set_str(json_t *obj, const char *key, const char *s, size_t max)
{
	size_t len;

	if (!s || !*s)
		return 0;
	len = strlen(s);
	return atr__agents_set(obj, key, json_stringn(s, atr__agents_utf8_cut(s, len, max)));
}

const char *atr__agents_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void atr__agents_uuid(char out[37], const char *domain, const char *const *parts, size_t n)
{
	size_t total = strlen(domain) + 1, off = 0;
	uint8_t h[32];
	char small[1024], *buf = small;

	for (size_t i = 0; i < n; i++)
		total += (parts[i] ? strlen(parts[i]) : 0) + 1;
	if (total > sizeof(small) && !(buf = malloc(total))) {
		/* No memory for the long form: hash the parts one after the other instead. */
		uint8_t acc[32];

		atr__sha256(acc, domain, strlen(domain) + 1, NULL, 0, NULL, 0);
		for (size_t i = 0; i < n; i++)
			atr__sha256(acc, acc, sizeof(acc), parts[i] ? parts[i] : "",
			            parts[i] ? strlen(parts[i]) + 1 : 1, NULL, 0);
		memcpy(h, acc, sizeof(h));
	} else {
		memcpy(buf, domain, strlen(domain) + 1);
		off = strlen(domain) + 1;
		for (size_t i = 0; i < n; i++) {
			size_t k = parts[i] ? strlen(parts[i]) : 0;

			if (k)
				memcpy(buf + off, parts[i], k);
			buf[off + k] = '\0';
			off += k + 1;
		}
		atr__sha256(h, buf, off, NULL, 0, NULL, 0);
		if (buf != small)
			free(buf);
	}
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
	atr__uuid_format(h, out);
}

int atr__agents_uuid7(char out[37])
{
	uint8_t id[16];
	int rc = atr__uuid7(id, atr__now_us());

	if (rc < 0)
		return rc;
	atr__uuid_format(id, out);
	return 0;
}

/* ------------------------------------------------------------ bounding detail */

/* Replace NUL characters of string 'v' with U+FFFD. 0, or -1 out of memory. */
static int drop_nul(json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), nul = 0, w = 0;
	char *buf;
	int rc;

	for (size_t i = 0; i < len; i++)
		nul += s[i] == '\0';
	if (!nul)
		return 0;
	if (!(buf = malloc(len + 2 * nul + 1)))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0') {
			memcpy(buf + w, replacement, 3);
			w += 3;
		} else {
			buf[w++] = s[i];
		}
	}
	rc = json_string_setn(v, buf, w);
	free(buf);
	return rc == 0 ? 0 : -1;
}

/*
 * Make 'v' (at nesting level 'depth') fit the log: strings without NULs,
 * nothing nested deeper than DETAIL_DEPTH (a deeper container becomes its
 * JSON text), and, when 'cap' is not 0, no string longer than 'cap' bytes.
 * Answers 1 in '*cut' when a string was cut. 0, or -1 out of memory.
 */
static int bound(json_t *v, int depth, size_t cap, int *cut)
{
	if (json_is_string(v)) {
		size_t len;

		if (drop_nul(v) < 0)
			return -1;
		len = json_string_length(v);
		if (cap && len > cap) {
			const char *s = json_string_value(v);

			if (json_string_setn(v, s, atr__agents_utf8_cut(s, len, cap)) != 0)
				return -1;
			*cut = 1;
		}
		return 0;
	}
	if (json_is_object(v)) {
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
			json_t *m = json_object_iter_value(it);

			if ((json_is_object(m) || json_is_array(m)) && depth + 1 > DETAIL_DEPTH) {
				char *text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);

				if (!text ||
				    json_object_iter_set_new(v, it, json_string(text)) != 0) {
					free(text);
					return -1;
				}
				free(text);
				m = json_object_iter_value(it);
			}
			if (bound(m, depth + 1, cap, cut) < 0)
				return -1;
		}
		return 0;
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *m = json_array_get(v, i);

			if ((json_is_object(m) || json_is_array(m)) && depth + 1 > DETAIL_DEPTH) {
				char *text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);

				if (!text || json_array_set_new(v, i, json_string(text)) != 0) {
					free(text);
					return -1;
				}
				free(text);
				m = json_array_get(v, i);
			}
			if (bound(m, depth + 1, cap, cut) < 0)
				return -1;
		}
	}
	return 0;
}

int atr__agents_push(atr_agent_events *l, json_t *ev)
{
	/* The per-string caps tried in turn when the event is too large (0: none). */
	static const size_t caps[] = {0, 65536, 8192, 1024, 128};
	json_t *detail = json_object_get(ev, "detail");
	size_t step = 0, len = 0;
	char *text = NULL;
	int rc, cut = 0, reduced = 0;

	for (;;) {
		struct atr__event check;

		if (detail && bound(detail, 2, caps[step], &cut) < 0) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto out;
		}
		if (cut && json_object_set_new(detail, "truncated", json_true()) != 0) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto out;
		}
		if (!(text = json_dumps(ev, JSON_COMPACT))) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto out;
		}
		len = strlen(text);
		rc = len <= EVENT_BUDGET ? atr__event_prepare(&check, text, len, atr__now_us())
		                         : ATR_ETOOBIG;
		if (rc == 0) {
			atr__event_release(&check);
			if ((rc = append(l, text, len)) == 0)
				text = NULL;
			goto out;
		}
		if (rc != ATR_ETOOBIG || !detail || reduced)
			goto out;
		free(text);
		text = NULL;
		if (++step < sizeof(caps) / sizeof(caps[0]))
			continue;
		/* Even short strings do not fit (very many members): keep only the size. */
		reduced = 1;
		detail = json_object();
		if (json_object_set_new(ev, "detail", detail) != 0 ||
		    json_object_set_new(detail, "truncated", json_true()) != 0 ||
		    json_object_set_new(detail, "detail_bytes", json_integer((json_int_t)len)) !=
		        0) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto out;
		}
		step = 0;
	}
out:
	free(text);
	json_decref(ev);
	return rc;
}
