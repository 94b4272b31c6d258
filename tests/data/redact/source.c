/*
 * webhook.c - deliver alert payloads to an HTTP endpoint with retries.
 *
 * The bearer token comes from the environment (WEBHOOK_TOKEN) and is sent as
 * "Authorization: Bearer <token>"; it is never logged. Payload signatures use
 * HMAC-SHA256 over the body, hex encoded, in the X-Signature-256 header.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_ATTEMPTS 5
#define BACKOFF_MS   250
#define SIG_HEADER   "X-Signature-256: sha256="

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* SHA-256("abc"), FIPS 180-2 appendix B.1: the self-test vector. */
static const char sha256_abc[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static const uint8_t sk_table[16] = {0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5,
                                     0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76};

struct webhook {
	char url[2048];
	char auth_header[600]; /* "Authorization: Bearer " + token */
	uint8_t hmac_key[32];
	size_t hmac_key_len;
	long timeout_ms;
	unsigned attempts;
};

struct task_sk {
	const char *name; /* e.g. "task-sk-build", "desk-top-ui", "risk-assessment" */
	int priority;
};

static const struct task_sk tasks[] = {
    {"task-sk-build", 3},
    {"desk-top-ui", 1},
    {"risk-assessment", 2},
    {"ask-for-review", 5},
};

static int hex_encode(char *out, size_t outsize, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	if (outsize < 2 * n + 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

int webhook_init(struct webhook *w, const char *url)
{
	const char *token = getenv("WEBHOOK_TOKEN");
	int n;

	memset(w, 0, sizeof(*w));
	if (strlen(url) >= sizeof(w->url))
		return -EINVAL;
	memcpy(w->url, url, strlen(url) + 1);
	if (token && *token) {
		n = snprintf(w->auth_header, sizeof(w->auth_header), "Authorization: Bearer %s",
		             token);
		if (n < 0 || (size_t)n >= sizeof(w->auth_header))
			return -E2BIG;
	}
	w->timeout_ms = 10000;
	w->attempts = MAX_ATTEMPTS;
	return 0;
}

static int sign(const struct webhook *w, const char *body, size_t len, char out[65])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!HMAC(EVP_sha256(), w->hmac_key, (int)w->hmac_key_len, (const uint8_t *)body, len, mac,
	          &maclen))
		return -1;
	return hex_encode(out, 65, mac, maclen);
}

int webhook_send(const struct webhook *w, const char *body, size_t len)
{
	struct curl_slist *hdrs = NULL;
	char sig[65], sighdr[sizeof(SIG_HEADER) + 64];
	CURL *c = curl_easy_init();
	long status = 0;
	int rc = -1;

	if (!c)
		return -ENOMEM;
	if (sign(w, body, len, sig) != 0)
		goto out;
	snprintf(sighdr, sizeof(sighdr), "%s%s", SIG_HEADER, sig);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, sighdr);
	if (w->auth_header[0])
		hdrs = curl_slist_append(hdrs, w->auth_header);
	curl_easy_setopt(c, CURLOPT_URL, w->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->timeout_ms);
	for (unsigned attempt = 0; attempt < w->attempts; attempt++) {
		CURLcode cc = curl_easy_perform(c);

		if (cc == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
			if (status >= 200 && status < 300) {
				rc = 0;
				break;
			}
			if (status < 500 && status != 429)
				break; /* the endpoint refuses it: retrying will not help */
		}
		fprintf(stderr, "webhook: attempt %u to '%s' failed (%s, status %ld)\n",
		        attempt + 1, w->url, curl_easy_strerror(cc), status);
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

/* Test data: the well-known UUIDs and a JSON body as the endpoint receives it. */
static const char *const sample_ids[] = {
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8", /* the DNS namespace (RFC 4122) */
    "01890a5d-ac96-774b-bcce-b302099a8057", /* a UUIDv7 (RFC 9562 appendix) */
};

static const char sample_body[] =
    "{\"alert\":\"commit latency\",\"p99_ms\":61,\"seq\":48213,"
    "\"root\":\"a225003e0ed80b5faa349437fd09afd7505d3fdb4eb8e7710a33331ffc06c5b4\","
    "\"url\":\"https://alerts.example.org/v1/hooks/agentrail?source=ci&retry=true\"}";

int main(int argc, char **argv)
{
	struct webhook w;

	(void)sk_table;
	(void)tasks;
	(void)sample_ids;
	(void)b64_alphabet;
	(void)sha256_abc;
	if (argc != 2) {
		fprintf(stderr, "usage: %s https://host/path\n", argv[0]);
		return 2;
	}
	if (webhook_init(&w, argv[1]) != 0)
		return 1;
	return webhook_send(&w, sample_body, sizeof(sample_body) - 1) == 0 ? 0 : 1;
}
