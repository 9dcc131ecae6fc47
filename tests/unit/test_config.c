/* test_config: the table-driven key = value loader (common/config.c).
 *
 * Each case writes a file into a mkdtemp directory, loads it against a small
 * table and checks either the values or the exact error message (which must
 * name the file, the line and the setting). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

typedef struct test_cfg {
    char name[CONFIG_STR_MAX];
    char host[CONFIG_STR_MAX];
    int64_t port;
    int64_t retries;
    int64_t offset;
} test_cfg;

#define F(field) offsetof(test_cfg, field)

static const config_setting table[] = {
    {"name", CONFIG_STR, NULL, 0, 0, F(name), "device name"},
    {"host", CONFIG_STR, "localhost", 0, 0, F(host), "broker host"},
    {"port", CONFIG_INT, "8883", 1, 65535, F(port), "broker TLS port"},
    {"retries", CONFIG_INT, NULL, 0, 10, F(retries), "how often to retry"},
    {"offset", CONFIG_INT, "-5", -100, 100, F(offset), "clock offset"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/test.conf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const fixture *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Loads text; returns config_load's rc, the error in err. */
static int load(const fixture *f, const char *text, test_cfg *cfg, char *err, size_t errlen)
{
    write_file(f, text);
    memset(cfg, 0x5a, sizeof *cfg);
    err[0] = '\0';
    return config_load(f->path, table, cfg, err, errlen);
}

/* err must equal "<path><suffix>". */
static void assert_error(const fixture *f, const char *err, const char *suffix)
{
    char want[512];
    snprintf(want, sizeof want, "%s%s", f->path, suffix);
    assert_string_equal(err, want);
}

static void test_defaults_applied(void **state)
{
    fixture *f = *state;
    test_cfg cfg;
    char err[512];

    assert_int_equal(load(f, "name = m1\nretries = 3\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "m1");
    assert_string_equal(cfg.host, "localhost");
    assert_int_equal(cfg.port, 8883);
    assert_int_equal(cfg.retries, 3);
    assert_int_equal(cfg.offset, -5);
}

static void test_values_comments_blanks(void **state)
{
    fixture *f = *state;
    test_cfg cfg;
    char err[512];

    int rc = load(f,
                  "# a comment line\n"
                  "\n"
                  "   \t  \n"
                  "name=dev-7\n"
                  "  host   =   broker.example.org   # where it lives\n"
                  "port = 1\r\n"
                  "\t# indented comment\n"
                  "retries = 0   \n"
                  "offset = -100\n"
                  "# trailing comment without newline",
                  &cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("load failed: %s", err);
    assert_string_equal(cfg.name, "dev-7");
    assert_string_equal(cfg.host, "broker.example.org");
    assert_int_equal(cfg.port, 1);
    assert_int_equal(cfg.retries, 0);
    assert_int_equal(cfg.offset, -100);

    /* upper bound, '=' inside a value, no trailing newline */
    assert_int_equal(load(f, "name = a=b\nretries = 10\nport = 65535", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "a=b");
    assert_int_equal(cfg.retries, 10);
    assert_int_equal(cfg.port, 65535);

    /* the longest string value */
    char text[CONFIG_STR_MAX + 64];
    char value[CONFIG_STR_MAX];
    memset(value, 'v', CONFIG_STR_MAX - 1);
    value[CONFIG_STR_MAX - 1] = '\0';
    snprintf(text, sizeof text, "retries = 1\nname = %s\n", value);
    assert_int_equal(load(f, text, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, value);
}

typedef struct bad_config {
    const char *name;
    const char *text;
    const char *suffix;     /* error after the path */
} bad_config;

static const bad_config bad_configs[] = {
    {"unknown key", "name = a\nretries = 1\nx = 3\n", ":3: unknown setting 'x'"},
    {"unknown key differs in case", "Name = a\n", ":1: unknown setting 'Name'"},
    {"empty key", "name = a\n = 3\n", ":2: unknown setting ''"},
    {"no '='", "name = a\nretries 3\n", ":2: expected 'key = value'"},
    {"int not a number", "name = a\nport = abc\nretries = 1\n",
     ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int with trailing text", "name = a\nport = 88x\n",
     ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int with inner space", "name = a\nport = 88 83\n",
     ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int empty", "name = a\nport =\n", ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int below min", "name = a\nport = 0\n",
     ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int above max", "name = a\nport = 65536\n",
     ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int overflow", "name = a\nport = 99999999999999999999\n",
     ":2: port: must be an integer 1..65535 (broker TLS port)"},
    {"int fraction", "retries = 1.5\n", ":1: retries: must be an integer 0..10 (how often to retry)"},
    {"negative bound", "offset = -101\n", ":1: offset: must be an integer -100..100 (clock offset)"},
    {"missing required str", "retries = 1\n", ": required setting 'name' is missing (device name)"},
    {"missing required int", "name = a\n",
     ": required setting 'retries' is missing (how often to retry)"},
    {"missing everything", "", ": required setting 'name' is missing (device name)"},
    {"repeated key", "name = a\nretries = 1\nname = b\n", ":3: name set twice"},
    {"repeated key with the same value", "retries = 1\n# x\nretries = 1\n", ":3: retries set twice"},
    {"repeated key after comment and blank", "port = 1\n\n# c\n\nport = 2\n", ":5: port set twice"},
};

static void test_bad_configs(void **state)
{
    fixture *f = *state;
    int failures = 0;

    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        const bad_config *c = &bad_configs[i];
        test_cfg cfg;
        char err[512], want[512];
        int rc = load(f, c->text, &cfg, err, sizeof err);
        snprintf(want, sizeof want, "%s%s", f->path, c->suffix);
        if (rc != -1 || strcmp(err, want) != 0) {
            print_error("case '%s': rc=%d err='%s' (want '%s')\n", c->name, rc, err, want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_string_too_long(void **state)
{
    fixture *f = *state;
    test_cfg cfg;
    char err[512];
    char text[CONFIG_STR_MAX + 64];
    char value[CONFIG_STR_MAX + 1];

    memset(value, 'v', CONFIG_STR_MAX);
    value[CONFIG_STR_MAX] = '\0';
    snprintf(text, sizeof text, "retries = 1\nname = %s\n", value);
    assert_int_equal(load(f, text, &cfg, err, sizeof err), -1);
    assert_error(f, err, ":2: name: longer than 511 bytes (device name)");
}

static void test_missing_file(void **state)
{
    fixture *f = *state;
    test_cfg cfg;
    char err[512], path[160];

    snprintf(path, sizeof path, "%s/absent.conf", f->dir);
    assert_int_equal(config_load(path, table, &cfg, err, sizeof err), -1);
    char want[300];
    snprintf(want, sizeof want, "%s: cannot open config: No such file or directory", path);
    assert_string_equal(err, want);
}

static void test_bad_builtin_default(void **state)
{
    fixture *f = *state;
    static const config_setting broken[] = {
        {"port", CONFIG_INT, "0", 1, 10, F(port), "p"},
        {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
    };
    test_cfg cfg;
    char err[512];

    write_file(f, "");
    assert_int_equal(config_load(f->path, broken, &cfg, err, sizeof err), -1);
    assert_string_equal(err, "built-in default of port: must be an integer 1..10");
}

/* A small error buffer is never overrun and still NUL-terminated. */
static void test_small_error_buffer(void **state)
{
    fixture *f = *state;
    test_cfg cfg;
    char *err = malloc(8);

    assert_non_null(err);
    write_file(f, "nonsense = 1\n");
    assert_int_equal(config_load(f->path, table, &cfg, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    assert_memory_equal(err, f->path, 7);
    free(err);
}

/* Regression (found by this test, fixed in c244077): lines were read with
 * fgets into a 1024-byte buffer, so a line longer than 1023 bytes was split
 * and its tail parsed as a line of its own: a long comment failed with
 * "<file>:2: expected 'key = value'" and later line numbers were off by one. */
static void test_long_comment_line(void **state)
{
    fixture *f = *state;
    test_cfg cfg;
    char err[512];
    size_t n = 1500;
    char *text = malloc(n + 64);

    assert_non_null(text);
    text[0] = '#';
    memset(text + 1, 'c', n - 1);
    snprintf(text + n, 64, "\nname = a\nretries = 2\n");
    int rc = load(f, text, &cfg, err, sizeof err);
    free(text);
    if (rc != 0)
        fail_msg("a 1500-byte comment line broke loading: %s", err);
    assert_string_equal(cfg.name, "a");
    assert_int_equal(cfg.retries, 2);

    /* what a long comment says is never read as a setting */
    text = malloc(n + 64);
    assert_non_null(text);
    memcpy(text, "name = a # ", 11);
    memset(text + 11, ' ', n - 11);
    snprintf(text + n - 12, 76, "port = 1234\nretries = 2\n");
    assert_int_equal(load(f, text, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.port, 8883);

    /* and line numbers after a long line stay right */
    memset(text, '#', n);
    snprintf(text + n, 64, "\nx = 1\n");
    assert_int_equal(load(f, text, &cfg, err, sizeof err), -1);
    assert_error(f, err, ":2: unknown setting 'x'");
    free(text);
}

/* ---- CONFIG_PATH: relative paths resolve against the file's directory ---- */

typedef struct path_cfg {
    char ca[CONFIG_STR_MAX];
    char data[CONFIG_STR_MAX];
    char sock[CONFIG_STR_MAX];
    char label[CONFIG_STR_MAX];
} path_cfg;

#define P(field) offsetof(path_cfg, field)

static const config_setting path_table[] = {
    {"ca", CONFIG_PATH, NULL, 0, 0, P(ca), "CA file"},
    {"data", CONFIG_PATH, "rel/default", 0, 0, P(data), "data directory"},
    {"sock", CONFIG_PATH, "", 0, 0, P(sock), "socket (empty: none)"},
    {"label", CONFIG_STR, "x", 0, 0, P(label), "not a path"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

static int load_paths(const fixture *f, const char *file, const char *text, path_cfg *cfg,
                      char *err, size_t errlen)
{
    write_file(f, text);
    memset(cfg, 0x5a, sizeof *cfg);
    err[0] = '\0';
    return config_load(file, path_table, cfg, err, errlen);
}

static void test_relative_paths_resolve_against_config_dir(void **state)
{
    fixture *f = *state;
    path_cfg cfg;
    char err[512], want[256];

    int rc = load_paths(f, f->path, "ca = pki/ca.crt\nlabel = pki/ca.crt\n", &cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("load failed: %s", err);
    snprintf(want, sizeof want, "%s/pki/ca.crt", f->dir);
    assert_string_equal(cfg.ca, want);
    /* a plain string is never touched, nor a default, nor an empty path */
    assert_string_equal(cfg.label, "pki/ca.crt");
    assert_string_equal(cfg.data, "rel/default");
    assert_string_equal(cfg.sock, "");

    /* absolute stays, "./" is dropped, "../" is kept (no symlinks resolved) */
    assert_int_equal(load_paths(f, f->path, "ca = /etc/ca.crt\ndata = ./d\nsock = ../s.sock\n",
                                &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.ca, "/etc/ca.crt");
    snprintf(want, sizeof want, "%s/d", f->dir);
    assert_string_equal(cfg.data, want);
    snprintf(want, sizeof want, "%s/../s.sock", f->dir);
    assert_string_equal(cfg.sock, want);
    assert_int_equal(load_paths(f, f->path, "ca = \n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.ca, "");
}

/* A config named relatively ("test.conf", "./test.conf") resolves against
 * the working directory at load time, made absolute. */
static void test_relative_config_file(void **state)
{
    fixture *f = *state;
    path_cfg cfg;
    char err[512], want[256], old[512];

    assert_non_null(getcwd(old, sizeof old));
    assert_int_equal(chdir(f->dir), 0);
    snprintf(want, sizeof want, "%s/ca.crt", f->dir);
    assert_int_equal(load_paths(f, "test.conf", "ca = ca.crt\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.ca, want);
    assert_int_equal(load_paths(f, "./test.conf", "ca = ./ca.crt\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.ca, want);
    assert_int_equal(chdir("/tmp"), 0);
    char rel[128];
    snprintf(rel, sizeof rel, "%s/test.conf", f->dir + strlen("/tmp/"));
    assert_int_equal(load_paths(f, rel, "ca = ca.crt\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.ca, want);
    assert_int_equal(chdir(old), 0);
}

/* The resolved path must still fit; the error names file, line, setting. */
static void test_resolved_path_too_long(void **state)
{
    fixture *f = *state;
    path_cfg cfg;
    char err[1024], text[CONFIG_STR_MAX + 16], name[CONFIG_STR_MAX];

    memset(name, 'n', CONFIG_STR_MAX - 8);
    name[CONFIG_STR_MAX - 8] = '\0';
    snprintf(text, sizeof text, "\nca = %s\n", name);
    assert_int_equal(load_paths(f, f->path, text, &cfg, err, sizeof err), -1);
    char want[1024];
    snprintf(want, sizeof want, "%s:2: ca: resolved against %s it is longer than %d bytes; use a "
             "shorter path (CA file)", f->path, f->dir, CONFIG_STR_MAX - 1);
    assert_string_equal(err, want);
}

static void test_changed(void **state)
{
    (void)state;
    test_cfg a = {.name = "m", .host = "h", .port = 1, .retries = 2, .offset = 3}, b = a;
    static const char *const skip[] = {"retries", NULL};
    char out[128];

    assert_int_equal(config_changed(table, &a, &b, NULL, out, sizeof out), 0);
    assert_string_equal(out, "");
    strcpy(b.host, "other");
    b.port = 2;
    b.retries = 9;
    assert_int_equal(config_changed(table, &a, &b, skip, out, sizeof out), 2);
    assert_string_equal(out, "host, port");
    assert_int_equal(config_changed(table, &a, &b, NULL, out, sizeof out), 3);
    assert_string_equal(out, "host, port, retries");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_comments_blanks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_builtin_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_error_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_comment_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths_resolve_against_config_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_config_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolved_path_too_long, setup, teardown),
        cmocka_unit_test(test_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
