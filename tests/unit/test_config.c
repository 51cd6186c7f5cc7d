/* test_config.c — configuration parsing: listen addresses, sizes, numbers, _FILE secrets, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static void clear_env(void)
{
	for (size_t i = 0; i < config_nvars; i++) {
		char name[96];
		unsetenv(config_vars[i].name);
		snprintf(name, sizeof name, "%s_FILE", config_vars[i].name);
		unsetenv(name);
	}
}

static int setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static void test_listen_accepts_ipv4_and_ipv6(void **state)
{
	(void)state;
	char host[64], err[CONFIG_ERRSZ];
	uint16_t port;
	assert_int_equal(config_parse_listen("127.0.0.1:8080", host, sizeof host, &port, err), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	assert_int_equal(config_parse_listen("[::1]:443", host, sizeof host, &port, err), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 443);
	assert_int_equal(config_parse_listen("0.0.0.0:1", host, sizeof host, &port, err), 0);
}

static void test_listen_rejects_bad_addresses(void **state)
{
	(void)state;
	static const char *const bad[] = {"", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
					  "127.0.0.1:80a", "localhost:8080", "::1:8080", "[::1]8080", "[::1]:",
					  "1.2.3.4:-1", "1.2.3.4: 80", "300.1.1.1:80", "[zz]:80", NULL};
	for (int i = 0; bad[i]; i++) {
		char host[64], err[CONFIG_ERRSZ] = "";
		uint16_t port;
		if (config_parse_listen(bad[i], host, sizeof host, &port, err) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "GATEWAY_LISTEN"));
	}
}

static void test_size_suffixes(void **state)
{
	(void)state;
	size_t v;
	assert_int_equal(config_parse_size("65536", 1 << 24, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(config_parse_size("64k", 1 << 24, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(config_parse_size("1M", 1 << 24, &v), 0);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(config_parse_size("16m", 1 << 24, &v), 0);
	assert_int_equal(config_parse_size("17m", 1 << 24, &v), -1);
	assert_int_equal(config_parse_size("", 1 << 24, &v), -1);
	assert_int_equal(config_parse_size("k", 1 << 24, &v), -1);
	assert_int_equal(config_parse_size("1.5k", 1 << 24, &v), -1);
	assert_int_equal(config_parse_size("-1", 1 << 24, &v), -1);
	assert_int_equal(config_parse_size("99999999999999999999k", 1 << 24, &v), -1);
}

static void test_int_bounds(void **state)
{
	(void)state;
	long v;
	assert_int_equal(config_parse_int("1", 1, 64, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(config_parse_int("64", 1, 64, &v), 0);
	assert_int_equal(config_parse_int("65", 1, 64, &v), -1);
	assert_int_equal(config_parse_int("0", 1, 64, &v), -1);
	assert_int_equal(config_parse_int("+4", 1, 64, &v), -1);
	assert_int_equal(config_parse_int(" 4", 1, 64, &v), -1);
	assert_int_equal(config_parse_int("4x", 1, 64, &v), -1);
	assert_int_equal(config_parse_int("1234567890123", 1, 64, &v), -1);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config c;
	char err[CONFIG_ERRSZ];
	assert_int_equal(config_load(&c, err), 0);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8080);
	assert_string_equal(c.public_url, "http://127.0.0.1:8080");
	assert_null(c.admin_token);
	assert_true(c.threads >= 1);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(strncmp(c.mail_url, "file:///", 8), 0);
	config_free(&c);
}

static void test_public_url_trailing_slash_removed(void **state)
{
	(void)state;
	struct config c;
	char err[CONFIG_ERRSZ];
	setenv("GATEWAY_PUBLIC_URL", "https://pay.example.ru///", 1);
	assert_int_equal(config_load(&c, err), 0);
	assert_string_equal(c.public_url, "https://pay.example.ru");
	config_free(&c);
}

static void test_secret_from_file_strips_newline(void **state)
{
	(void)state;
	char path[] = "/tmp/gw-secret-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char content[] = "0123456789abcdef-secret\n";
	assert_int_equal(write(fd, content, sizeof content - 1), (ssize_t)(sizeof content - 1));
	close(fd);
	setenv("GATEWAY_ADMIN_TOKEN_FILE", path, 1);
	struct config c;
	char err[CONFIG_ERRSZ];
	assert_int_equal(config_load(&c, err), 0);
	assert_string_equal(c.admin_token, "0123456789abcdef-secret");
	config_free(&c);
	setenv("GATEWAY_ADMIN_TOKEN", "0123456789abcdef-other", 1);
	assert_int_equal(config_load(&c, err), -1);
	assert_non_null(strstr(err, "both set"));
	unlink(path);
}

static void test_secret_is_not_echoed_in_errors(void **state)
{
	(void)state;
	struct config c;
	char err[CONFIG_ERRSZ];
	setenv("GATEWAY_ADMIN_TOKEN", "tooshort", 1);
	assert_int_equal(config_load(&c, err), -1);
	assert_null(strstr(err, "tooshort"));
}

static void test_bad_values_name_the_variable(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"GATEWAY_THREADS", "0"},          {"GATEWAY_THREADS", "many"},     {"GATEWAY_DB_POOL", "65"},
		{"GATEWAY_MAX_BODY", "1g"},        {"GATEWAY_PUBLIC_URL", "pay.ru"}, {"GATEWAY_MAIL_URL", "mailto:x"},
		{"GATEWAY_LOG_LEVEL", "loud"},     {"GATEWAY_TLS_CERT", "/x.pem"},  {"GATEWAY_SHUTDOWN_TIMEOUT", "-1"},
		{"GATEWAY_DB_TIMEOUT_MS", "1"},    {"GATEWAY_TRUSTED_PROXIES", "10.0.0.1/8"},
		{"GATEWAY_TRUSTED_PROXIES", "lb.example.net"}, {"GATEWAY_PROXY_PROTOCOL", "yes"},
		{"GATEWAY_PROXY_PROTOCOL", "on"},  /* without trusted proxies */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		clear_env();
		setenv(cases[i][0], cases[i][1], 1);
		struct config c;
		char err[CONFIG_ERRSZ] = "";
		if (config_load(&c, err) == 0)
			fail_msg("%s=%s accepted", cases[i][0], cases[i][1]);
		if (!strstr(err, cases[i][0]) && !strstr(err, "GATEWAY_TLS"))
			fail_msg("error for %s does not name it: %s", cases[i][0], err);
	}
}

static void test_trusted_proxies_and_proxy_protocol(void **state)
{
	(void)state;
	struct config c;
	char err[CONFIG_ERRSZ] = "";
	assert_int_equal(config_load(&c, err), 0);
	assert_false(c.proxy_protocol);
	config_free(&c);
	setenv("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7", 1);
	setenv("GATEWAY_PROXY_PROTOCOL", "on", 1);
	assert_int_equal(config_load(&c, err), 0);
	assert_true(c.proxy_protocol);
	config_free(&c);
	/* PROXY headers come before TLS: the proxy must terminate TLS */
	setenv("GATEWAY_TLS_CERT", "/nonexistent/cert.pem", 1);
	setenv("GATEWAY_TLS_KEY", "/nonexistent/key.pem", 1);
	assert_int_equal(config_load(&c, err), -1);
	assert_non_null(strstr(err, "GATEWAY_PROXY_PROTOCOL"));
}

static void test_reference_lists_every_variable(void **state)
{
	(void)state;
	for (size_t i = 0; i < config_nvars; i++) {
		assert_int_equal(strncmp(config_vars[i].name, "GATEWAY_", 8), 0);
		assert_true(strlen(config_vars[i].help) > 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_listen_accepts_ipv4_and_ipv6, setup),
		cmocka_unit_test_setup(test_listen_rejects_bad_addresses, setup),
		cmocka_unit_test_setup(test_size_suffixes, setup),
		cmocka_unit_test_setup(test_int_bounds, setup),
		cmocka_unit_test_setup(test_defaults, setup),
		cmocka_unit_test_setup(test_public_url_trailing_slash_removed, setup),
		cmocka_unit_test_setup(test_secret_from_file_strips_newline, setup),
		cmocka_unit_test_setup(test_secret_is_not_echoed_in_errors, setup),
		cmocka_unit_test_setup(test_bad_values_name_the_variable, setup),
		cmocka_unit_test_setup(test_trusted_proxies_and_proxy_protocol, setup),
		cmocka_unit_test_setup(test_reference_lists_every_variable, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
