/* mail_send.c — a receipt mail out through SMTP (libcurl) or into a file (see mail_send.h). */
#include "mail_send.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "ident.h"
#include "log.h"
#include "receipt_render.h"
#include "receipts.h"

struct mail_sender {
	const struct config *cfg;
	const _Atomic uint64_t *hard_stop_ms;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	char reply[256];          /* the SMTP server's last 4xx/5xx reply of this transfer */
	char safe_err[CURL_ERROR_SIZE];  /* libcurl's own message: never quotes the address, so it may be logged */
};

static bool file_mode, curl_ready;
static char dir[PATH_MAX];

struct upload {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb, left = u->len - u->off;
	if (n > left)
		n = left;
	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

/* Aborts a transfer only once the shutdown grace period is over. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	const struct mail_sender *m = arg;
	uint64_t hard = m->hard_stop_ms ? atomic_load(m->hard_stop_ms) : 0;
	return hard && mono_ms() > hard;
}

/* Keeps the server's last error reply ("550 5.1.1 …") for last_error; nothing else is looked at
 * (the outgoing side carries AUTH credentials). */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)h;
	struct mail_sender *m = arg;
	if (type != CURLINFO_HEADER_IN || size < 3 || (data[0] != '4' && data[0] != '5'))
		return 0;
	size_t n = size < sizeof m->reply - 1 ? size : sizeof m->reply - 1;
	memcpy(m->reply, data, n);
	while (n && (m->reply[n - 1] == '\n' || m->reply[n - 1] == '\r'))
		n--;
	m->reply[n] = '\0';
	for (char *p = m->reply; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
			*p = '?';
	return 0;
}

static int smtp_init(struct mail_sender *m)
{
	const struct config *c = m->cfg;
	CURL *h = curl_easy_init();
	if (!h)
		return -1;
	char from[300];
	snprintf(from, sizeof from, "<%s>", c->mail_from);
	long tls = c->mail_starttls == 2 ? (long)CURLUSESSL_ALL : c->mail_starttls == 1 ? (long)CURLUSESSL_TRY
											: (long)CURLUSESSL_NONE;
	bool ok = curl_easy_setopt(h, CURLOPT_URL, c->mail_url) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps") == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_USE_SSL, tls) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->mail_timeout_ms) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->mail_timeout_ms) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, m->errbuf) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_XFERINFODATA, m) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_DEBUGDATA, m) == CURLE_OK &&
		  curl_easy_setopt(h, CURLOPT_VERBOSE, 1L) == CURLE_OK;
	if (ok && c->mail_user)
		ok = curl_easy_setopt(h, CURLOPT_USERNAME, c->mail_user) == CURLE_OK &&
		     curl_easy_setopt(h, CURLOPT_PASSWORD, c->mail_password) == CURLE_OK;
	if (ok && c->mail_ca_file)
		ok = curl_easy_setopt(h, CURLOPT_CAINFO, c->mail_ca_file) == CURLE_OK;
	if (!ok) {
		curl_easy_cleanup(h);
		return -1;
	}
	m->curl = h;
	return 0;
}

static enum mail_outcome smtp_send(struct mail_sender *m, const struct receipt *rc, const char *msg, size_t len, char *err,
			      size_t errsz)
{
	char rcpt[300];
	snprintf(rcpt, sizeof rcpt, "<%s>", rc->email);
	struct curl_slist *to = curl_slist_append(NULL, rcpt);
	if (!to) {
		snprintf(err, errsz, "out of memory");
		return MAIL_RETRY;
	}
	struct upload u = {msg, len, 0};
	m->errbuf[0] = '\0';
	m->reply[0] = '\0';
	curl_easy_setopt(m->curl, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(m->curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(m->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	CURLcode rc_ = curl_easy_perform(m->curl);
	long code = 0;
	curl_easy_getinfo(m->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_setopt(m->curl, CURLOPT_MAIL_RCPT, NULL);
	curl_easy_setopt(m->curl, CURLOPT_READDATA, NULL);
	curl_slist_free_all(to);
	if (rc_ == CURLE_OK)
		return MAIL_SENT;
	const char *what = m->errbuf[0] ? m->errbuf : curl_easy_strerror(rc_);
	snprintf(m->safe_err, sizeof m->safe_err, "%s", what);
	if (m->reply[0])
		snprintf(err, errsz, "%.200s (%.250s)", m->reply, what);
	else
		snprintf(err, errsz, "%s", what);
	/* A 5xx reply is the server's final word on this mail (unknown mailbox, rejected content...).
	 * Refused credentials are a configuration problem that an operator fixes: keep retrying. */
	bool permanent = code >= 500 && code <= 599 && rc_ != CURLE_LOGIN_DENIED && rc_ != CURLE_OPERATION_TIMEDOUT &&
			 rc_ != CURLE_ABORTED_BY_CALLBACK;
	return permanent ? MAIL_FAILED : MAIL_RETRY;
}

/* Writes the mail as DIR/NUMBER.eml (NUMBER.rN.eml for the N-th resend), whole or not at all. */
static enum mail_outcome file_send(const struct receipt *rc, const char *msg, size_t len, char *err, size_t errsz)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int pn = rc->resends ? snprintf(path, sizeof path, "%s/%s.r%d.eml", dir, rc->number, rc->resends)
			     : snprintf(path, sizeof path, "%s/%s.eml", dir, rc->number);
	int tn = snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%lld.tmp", dir, rc->number, (long)getpid(), rc->id);
	if (pn < 0 || (size_t)pn >= sizeof path || tn < 0 || (size_t)tn >= sizeof tmp) {
		snprintf(err, errsz, "the mail directory's path is too long");
		return MAIL_FAILED;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		snprintf(err, errsz, "cannot create a file in %.300s: %.100s", dir, strerror(errno));
		return MAIL_RETRY;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, msg + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off != len || fsync(fd) != 0) {
		snprintf(err, errsz, "cannot write %.300s: %.100s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return MAIL_RETRY;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errsz, "cannot rename to %.300s: %.100s", path, strerror(errno));
		unlink(tmp);
		return MAIL_RETRY;
	}
	return MAIL_SENT;
}

enum mail_outcome mail_send(struct mail_sender *m, const struct receipt *rc, char *err, size_t errsz,
			    const char **loggable)
{
	m->safe_err[0] = '\0';
	*loggable = m->safe_err;
	if (!ident_email_valid(rc->email)) {
		snprintf(err, errsz, "the e-mail address is not valid");
		return MAIL_FAILED;
	}
	char seed[33];
	if (crypto_random_hex(seed, 16) != 0)
		snprintf(seed, sizeof seed, "%lld", rc->id);
	struct receipt_seller seller;
	receipt_seller_from_config(m->cfg, &seller);
	struct receipt_mail_opts o = {
		.seller = &seller,
		.from = m->cfg->mail_from,
		.issuer = m->cfg->receipt_issuer,
		.public_url = m->cfg->public_url,
		.boundary_seed = seed,
		.now = time(NULL),
	};
	size_t len = 0;
	char *msg = receipt_render_mail(rc, &o, &len);
	if (!msg) {
		snprintf(err, errsz, "out of memory while rendering the mail");
		return MAIL_RETRY;
	}
	enum mail_outcome out = file_mode ? file_send(rc, msg, len, err, errsz) : smtp_send(m, rc, msg, len, err, errsz);
	free(msg);
	return out;
}

/* "file:///var/mail" -> "/var/mail" with %XX decoded; creates it (and missing parents). */
static int prepare_dir(const char *url)
{
	const char *s = url + strlen("file://");
	size_t o = 0;
	for (; *s && o + 1 < sizeof dir; s++) {
		unsigned hi, lo;
		if (s[0] == '%' && s[1] && s[2] && sscanf(s + 1, "%1x%1x", &hi, &lo) == 2) {
			dir[o++] = (char)(hi * 16 + lo);
			s += 2;
		} else {
			dir[o++] = *s;
		}
	}
	dir[o] = '\0';
	while (o > 1 && dir[o - 1] == '/')
		dir[--o] = '\0';
	for (char *p = dir + 1;; p++) {
		char c = *p;
		if (c == '/' || c == '\0') {
			*p = '\0';
			int rc = mkdir(dir, 0750);
			*p = c;
			if (rc != 0 && errno != EEXIST)
				return -1;
		}
		if (!c)
			break;
	}
	return 0;
}

int mail_send_init(const struct config *cfg)
{
	file_mode = strncmp(cfg->mail_url, "file://", 7) == 0;
	if (file_mode && prepare_dir(cfg->mail_url) != 0)
		log_kv(LOG_WARN, "mailer: cannot create the mail directory; mails wait until it exists", "dir", dir,
		       "error", strerror(errno), NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "gatewayd: cannot initialise libcurl\n");
		return -1;
	}
	curl_ready = true;
	return 0;
}

void mail_send_cleanup(void)
{
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = false;
}

struct mail_sender *mail_sender_new(const struct config *cfg, const _Atomic uint64_t *hard_stop_ms)
{
	struct mail_sender *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->cfg = cfg;
	m->hard_stop_ms = hard_stop_ms;
	if (!file_mode && smtp_init(m) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

void mail_sender_free(struct mail_sender *m)
{
	if (!m)
		return;
	if (m->curl)
		curl_easy_cleanup(m->curl);
	free(m);
}
