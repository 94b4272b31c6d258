/*
 * GET /api/v1/reports and GET /api/v1/reports/{name}: the reports the
 * reporter (reporter.c) wrote, as the log lists them. The list comes from
 * the x_report events alone; a file is served only while its bytes still
 * hash to the SHA-256 its event recorded (409 report_changed otherwise):
 * the reports directory is not trusted, the log is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include <agentrail/query.h>
#include <agentrail/record.h>

#include "server/server.h"

/* A report file is a few hundred KiB; anything this big is not one of ours. */
#define REPORT_MAX_FILE ((int64_t)64 << 20)

/* What a served report may do in a browser: show itself with its inline CSS and SVG. */
#define REPORT_CSP "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"

/*
 * The detail of an x_report record if it is the reporter's and well formed
 * (period, label, date, files with name, format, sha256 and size), else
 * NULL (another producer's x_report, or an erased payload). The caller's.
 */
static json_t *report_detail(const atr_record *rec)
{
	const char *actor = atr_record_str(rec, "actor"), *target = atr_record_str(rec, "target");
	const char *text, *period;
	json_t *d, *files, *f;
	size_t len, i, tlen;

	if (!actor || !target || strcmp(actor, SRV_REPORT_ACTOR) != 0 ||
	    !(text = atr_record_detail(rec, &len)) || !(d = json_loadb(text, len, 0, NULL)))
		return NULL;
	period = json_string_value(json_object_get(d, "period"));
	files = json_object_get(d, "files");
	tlen = strlen(target);
	if (!period || (strcmp(period, "day") != 0 && strcmp(period, "week") != 0) ||
	    !json_is_string(json_object_get(d, "label")) ||
	    !json_is_string(json_object_get(d, "date")) || !json_is_array(files))
		goto bad;
	json_array_foreach(files, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		json_t *size = json_object_get(f, "size");

		if (!name || !srv_report_name_valid(name) || strncmp(name, target, tlen) != 0 ||
		    name[tlen] != '.' || !json_is_string(json_object_get(f, "format")) || !sha ||
		    strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 ||
		    !json_is_integer(size) || json_integer_value(size) < 0)
			goto bad;
	}
	return d;
bad:
	json_decref(d);
	return NULL;
}

static const char *jstr(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* ------------------------------------------------------------ the list */

/* One item per file of the report of 'rec' not already listed (a newer event wins). */
static int list_report(struct util_buf *b, const atr_record *rec, json_t *d, struct util_map *seen,
                       int *first)
{
	json_t *files = json_object_get(d, "files"), *f;
	const char *ts = atr_record_str(rec, "ts");
	size_t i;

	json_array_foreach(files, i, f)
	{
		const char *name = jstr(f, "name");

		if (util_map_get(seen, name, NULL))
			continue;
		if (util_map_put(seen, name, 1) ||
		    util_buf_adds(b, *first ? "{\"name\":" : ",{\"name\":") ||
		    srv_json_str(b, name, strlen(name)) ||
		    srv_bufprintf(b, ",\"period\":\"%s\",\"label\":", jstr(d, "period")) ||
		    srv_json_str(b, jstr(d, "label"), strlen(jstr(d, "label"))) ||
		    util_buf_adds(b, ",\"date\":") ||
		    srv_json_str(b, jstr(d, "date"), strlen(jstr(d, "date"))) ||
		    util_buf_adds(b, ",\"format\":") ||
		    srv_json_str(b, jstr(f, "format"), strlen(jstr(f, "format"))) ||
		    srv_bufprintf(
		        b, ",\"sha256\":\"%s\",\"size\":%lld,\"url\":\"/api/v1/reports/%s\"",
		        jstr(f, "sha256"),
		        (long long)json_integer_value(json_object_get(f, "size")), name) ||
		    srv_bufprintf(b, ",\"seq\":%llu,\"ts\":\"%s\"}",
		                  (unsigned long long)atr_record_seq(rec), ts ? ts : ""))
			return -1;
		*first = 0;
	}
	return 0;
}

void srv_h_reports(struct srv_req *req)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	const char *lim = srv_arg_str(req, "limit"), *cur_text = srv_arg_str(req, "cursor");
	uint64_t limit = SRV_DEFAULT_LIMIT, got = 0, next = 0, from;
	atr_query q = {0};
	atr_cursor *cur = NULL;
	const atr_record *rec;
	struct util_buf b;
	struct util_map seen;
	char msg[160], tail[48];
	int rc, more = 0, first = 1;
	atr_log *log;

	if (srv_only_args(req, allowed))
		return;
	if (lim && (util_parse_u64(lim, &limit) != 0 || limit == 0 || limit > SRV_MAX_LIMIT)) {
		snprintf(msg, sizeof(msg), "parameter 'limit' must be 1 to %u, got '%.32s'",
		         SRV_MAX_LIMIT, lim);
		srv_reply_error(req, SRV_EBADREQ, msg, "limit");
		return;
	}
	if (cur_text && srv_cursor_decode(cur_text, &from) != 0) {
		srv_reply_error(req, SRV_EBADREQ,
		                "parameter 'cursor' is not a cursor this server gave", "cursor");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	q.type = SRV_REPORT_TYPE;
	q.descending = 1;
	if (cur_text)
		q.seq_to = from + 1;
	if ((rc = atr_log_query(log, &q, &cur)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	util_buf_init(&b);
	util_map_init(&seen);
	if (util_buf_adds(&b, "{\"items\":[")) {
		rc = ATR_ENOMEM;
		goto out;
	}
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		json_t *d = report_detail(rec);

		if (!d)
			continue;
		if (got == limit) {
			json_decref(d);
			more = 1;
			next = atr_record_seq(rec);
			break;
		}
		got++;
		rc = list_report(&b, rec, d, &seen, &first);
		json_decref(d);
		if (rc) {
			rc = ATR_ENOMEM;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	srv_next_cursor(more, next, tail);
	rc = util_buf_adds(&b, "]") || util_buf_adds(&b, tail) ? ATR_ENOMEM : 0;
out:
	atr_cursor_free(cur);
	util_map_release(&seen);
	if (rc == 0)
		srv_reply_json(req, 200, &b);
	else if (rc == ATR_ENOMEM)
		srv_reply_error(req, rc, "out of memory", NULL);
	else
		srv_reply_error(req, rc, NULL, NULL);
	util_buf_release(&b);
}

/* ------------------------------------------------------------ one file */

/* The newest event that lists 'name': its sha256, size and seq; 0, ATR_ENOTFOUND or an error. */
static int find_report(atr_log *log, const char *name, char sha[65], int64_t *size, uint64_t *seq)
{
	char stem[32];
	atr_query q = {0};
	atr_cursor *cur = NULL;
	const atr_record *rec;
	int rc, found = 0;

	snprintf(stem, sizeof(stem), "%.*s", (int)(strrchr(name, '.') - name), name);
	q.type = SRV_REPORT_TYPE;
	q.target_prefix = stem;
	q.descending = 1;
	if ((rc = atr_log_query(log, &q, &cur)) != 0)
		return rc;
	while (!found && (rc = atr_cursor_next(cur, &rec)) == 1) {
		json_t *d = report_detail(rec), *f;
		const char *target = atr_record_str(rec, "target");
		size_t i;

		if (!d || strcmp(target, stem) != 0) {
			json_decref(d);
			continue;
		}
		json_array_foreach(json_object_get(d, "files"), i, f)
		{
			if (strcmp(jstr(f, "name"), name) == 0) {
				snprintf(sha, 65, "%s", jstr(f, "sha256"));
				*size = json_integer_value(json_object_get(f, "size"));
				*seq = atr_record_seq(rec);
				found = 1;
				break;
			}
		}
		json_decref(d);
	}
	atr_cursor_free(cur);
	if (rc < 0)
		return rc;
	return found ? 0 : ATR_ENOTFOUND;
}

static const char *report_type(const char *name)
{
	const char *ext = strrchr(name, '.') + 1;

	if (strcmp(ext, "html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(ext, "md") == 0)
		return "text/markdown; charset=utf-8";
	return "application/json";
}

/* Read DIR/NAME, exactly 'size' bytes, into '*out' (malloc'd); 0, or an error answered. */
static int read_report(struct srv_req *req, const char *dir, const char *name, int64_t size,
                       uint64_t seq, char **out)
{
	char path[4200], msg[600], *data;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT || errno == ELOOP) {
			snprintf(msg, sizeof(msg),
			         "report '%s' (logged at seq %llu) is %s in the reports directory",
			         name, (unsigned long long)seq,
			         errno == ENOENT ? "no longer" : "a symbolic link, not a file,");
			srv_reply_error(req, SRV_EREPORTCHANGED, msg, "name");
		} else {
			snprintf(msg, sizeof(msg), "cannot open report '%s': %s", name,
			         strerror(errno));
			srv_reply_error(req, ATR_EIO, msg, NULL);
		}
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != size ||
	    size > REPORT_MAX_FILE) {
		snprintf(msg, sizeof(msg),
		         "report '%s' changed on disk: it is %lld bytes, the log (seq %llu) says "
		         "%lld",
		         name, S_ISREG(st.st_mode) ? (long long)st.st_size : -1LL,
		         (unsigned long long)seq, (long long)size);
		srv_reply_error(req, SRV_EREPORTCHANGED, msg, "name");
		close(fd);
		return -1;
	}
	if (!(data = malloc((size_t)size + 1))) {
		close(fd);
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return -1;
	}
	while (got < (size_t)size) {
		n = read(fd, data + got, (size_t)size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)size) {
		free(data);
		snprintf(msg, sizeof(msg), "report '%s' changed on disk while it was read", name);
		srv_reply_error(req, SRV_EREPORTCHANGED, msg, "name");
		return -1;
	}
	data[got] = '\0';
	*out = data;
	return 0;
}

void srv_h_report(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	const char *name = req->captures[0], *dir = srv_reports_dir(req->srv);
	char sha[65], hex[65], msg[600], nmasked[24] = "";
	const char *body;
	size_t len;
	char *masked = NULL, *data = NULL;
	struct MHD_Response *resp;
	int64_t size = 0;
	uint64_t seq = 0;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed))
		return;
	if (!srv_report_name_valid(name)) {
		snprintf(msg, sizeof(msg),
		         "'%.64s' is not a report name: day-YYYY-MM-DD.EXT or week-YYYY-Www.EXT, "
		         "EXT html, md or json",
		         name);
		srv_reply_error(req, SRV_EBADREQ, msg, "name");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	if ((rc = find_report(log, name, sha, &size, &seq)) != 0) {
		if (rc == ATR_ENOTFOUND)
			snprintf(msg, sizeof(msg), "no report '%s' in the log", name);
		srv_reply_error(req, rc, rc == ATR_ENOTFOUND ? msg : NULL, "name");
		return;
	}
	if (!dir) {
		snprintf(
		    msg, sizeof(msg),
		    "report '%s' is in the log (seq %llu) but this server has no --reports-dir "
		    "to serve it from",
		    name, (unsigned long long)seq);
		srv_reply_error(req, ATR_ENOTFOUND, msg, "name");
		return;
	}
	if (read_report(req, dir, name, size, seq, &data) != 0)
		return;
	srv_report_sha256(data, (size_t)size, hex);
	if (strcmp(hex, sha) != 0) {
		snprintf(
		    msg, sizeof(msg),
		    "report '%s' changed on disk: its SHA-256 is %s, the log (seq %llu) says %s",
		    name, hex, (unsigned long long)seq, sha);
		free(data);
		srv_reply_error(req, SRV_EREPORTCHANGED, msg, "name");
		return;
	}
	body = data;
	len = (size_t)size;
	/* A reader sees secrets masked, in a report as in every answer (after the check). */
	if (req->mask) {
		size_t mlen = 0, count = 0;

		rc = strcmp(report_type(name), "application/json") == 0
		         ? atr_redact_json(req->mask, body, len, &masked, &mlen, &count)
		         : atr_redact_text(req->mask, body, len, &masked, &mlen, &count);
		if (rc != 0) {
			free(data);
			srv_reply_error(req, rc, "cannot mask secrets in the report", NULL);
			return;
		}
		body = masked;
		len = mlen;
		snprintf(nmasked, sizeof(nmasked), "%zu", count);
	}
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	atr_free(masked);
	free(data);
	if (!resp)
		return; /* MHD closes the connection */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, report_type(name));
	MHD_add_response_header(resp, "Content-Security-Policy", REPORT_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-cache");
	MHD_add_response_header(resp, "X-Agentrail-Report-SHA256", sha);
	if (nmasked[0])
		MHD_add_response_header(resp, "X-Agentrail-Redactions", nmasked);
	MHD_queue_response(req->conn, 200, resp);
	MHD_destroy_response(resp);
	req->answered = 1;
	req->status = 200;
}
