/* test_builtins.c - the builtins file. Parser cases check the exact
 * messages for unknown keys, wrong types and missing keys, and the mapping
 * of every key to its config field. Open cases start each section's
 * toolbox on temporary directories (fetch against a server on 127.0.0.1),
 * try an escape from a files root, and check cleanup when a later section
 * fails. The last case resolves the "builtins" setting from each source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock_provider.h"
#include "mvm.h"
#include "runtime/builtins.h"
#include "runtime/settings.h"
#include "tools/sandbox.h"

#define SECRET "OUTSIDE-SECRET-CONTENT"
#define NOBODY 65534

struct fixture {
  char base[64];
  char file[128];    /* the builtins file */
  char notes[128];   /* read-only root */
  char work[128];    /* read-write root, exec root */
  char outside[128]; /* contains the secret no tool may read */
};

static struct fixture fx;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  return remove(path);
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
  char path[256];

  snprintf(fx.base, sizeof fx.base, "/tmp/mvm-builtins-XXXXXX");
  if (mkdtemp(fx.base) == NULL || chmod(fx.base, 0755) != 0)
    return -1;
  snprintf(fx.file, sizeof fx.file, "%s/builtins.json", fx.base);
  snprintf(fx.notes, sizeof fx.notes, "%s/notes", fx.base);
  snprintf(fx.work, sizeof fx.work, "%s/work", fx.base);
  snprintf(fx.outside, sizeof fx.outside, "%s/outside", fx.base);
  if (mkdir(fx.notes, 0755) != 0 || mkdir(fx.work, 0755) != 0 ||
      mkdir(fx.outside, 0755) != 0)
    return -1;
  /* Commands run as uid 65534 when the tests run as root. */
  if (geteuid() == 0 && chown(fx.work, NOBODY, NOBODY) != 0)
    return -1;
  snprintf(path, sizeof path, "%s/hello.txt", fx.notes);
  write_text(path, "hello from notes\n");
  snprintf(path, sizeof path, "%s/secret", fx.outside);
  write_text(path, SECRET);
  snprintf(path, sizeof path, "%s/escape", fx.notes);
  if (symlink(fx.outside, path) != 0)
    return -1;
  return 0;
}

static int teardown(void **state)
{
  nftw(fx.base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* ---------------------------------------------------------------- helpers */

static void write_config(const char *text)
{
  write_text(fx.file, text);
}

/* Loads `text` as the builtins file and expects status `code` with the
 * message "builtins file 'FILE': " followed by `rest`. */
static void expect_load_error(const char *text, int code, const char *rest)
{
  mvm_builtins_config c;
  mvm_error err;
  char expected[MVM_ERROR_MSG_MAX];

  write_config(text);
  snprintf(expected, sizeof expected, "builtins file '%s': %s", fx.file,
           rest);
  int rc = mvm_builtins_load(fx.file, &c, &err);
  if (rc != code)
    fail_msg("%s: status %s, expected %s (%s)", text, mvm_status_name(rc),
             mvm_status_name(code), err.msg);
  assert_string_equal(err.msg, expected);
}

static json_t *call_tool(mvm_toolbox *tb, const char *name, const char *args)
{
  json_t *a = json_loads(args, 0, NULL);
  json_t *result = NULL;
  mvm_tool_call_opts opts = {0};
  mvm_error err;

  assert_non_null(a);
  int rc = tb->ops->call(tb->self, name, a, &opts, &result, &err);
  json_decref(a);
  if (rc)
    fail_msg("%s.%s: %s", tb->server, name, err.msg);
  return result;
}

static bool is_error(const json_t *result)
{
  return json_is_true(json_object_get(result, "isError"));
}

static const char *error_kind(const json_t *result)
{
  const json_t *sc = json_object_get(result, "structuredContent");
  return json_string_value(json_object_get(sc, "error"));
}

static const char *first_text(const json_t *result)
{
  const json_t *item = json_array_get(json_object_get(result, "content"), 0);
  const char *text = json_string_value(json_object_get(item, "text"));
  assert_non_null(text);
  return text;
}

static void close_all(mvm_toolbox *boxes, size_t n)
{
  for (size_t i = n; i > 0; i--)
    boxes[i - 1].ops->close(boxes[i - 1].self);
}

static int count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  int n = 0;

  assert_non_null(d);
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

/* ---------------------------------------------------------------- parser */

static void unknown_keys_list_valid_keys(void **state)
{
  expect_load_error("{\"file\": {}}", MVM_ECONFIG,
                    "unknown key 'file'; valid keys: files, fetch, exec");
  expect_load_error("{\"files\": {\"max_read\": 1}}", MVM_ECONFIG,
                    "unknown key 'files.max_read'; valid keys: server, "
                    "roots, no_symlinks, resolver, max_read_bytes, "
                    "max_write_bytes, max_list_entries");
  expect_load_error("{\"files\": {\"roots\": [{\"name\": \"a\", \"path\": "
                    "\"/tmp\", \"readonly\": true}]}}",
                    MVM_ECONFIG,
                    "unknown key 'files.roots[0].readonly'; valid keys: "
                    "name, path, read_only");
  expect_load_error("{\"fetch\": {\"host\": [\"a\"]}}", MVM_ECONFIG,
                    "unknown key 'fetch.host'; valid keys: server, "
                    "schemes, hosts, allow_nets, max_bytes, "
                    "max_header_bytes, max_url_bytes, timeout_s, "
                    "connect_timeout_s, max_redirects");
  expect_load_error("{\"exec\": {\"network\": true}}", MVM_ECONFIG,
                    "unknown key 'exec.network'; valid keys: server, root, "
                    "read_paths, write_paths, env, pass_env, commands, "
                    "search_path, timeout_s, kill_grace_ms, max_stdout, "
                    "max_stderr, max_stdin, max_argv_bytes, limits, "
                    "allow_network, uid, gid, landlock, seccomp, "
                    "namespaces");
  expect_load_error("{\"exec\": {\"limits\": {\"cpu\": 1}}}", MVM_ECONFIG,
                    "unknown key 'exec.limits.cpu'; valid keys: cpu_s, "
                    "as_bytes, fsize_bytes, nofile, nproc");
}

static void wrong_types_name_the_key(void **state)
{
  static const struct {
    const char *text;
    const char *rest;
  } cases[] = {
      {"{\"files\": []}", "key 'files' must be an object"},
      {"{\"files\": {\"no_symlinks\": \"yes\"}}",
       "key 'files.no_symlinks' must be true or false"},
      {"{\"files\": {\"roots\": []}}",
       "key 'files.roots' must be an array of 1 to 16 root objects"},
      {"{\"files\": {\"roots\": [\"/tmp\"]}}",
       "key 'files.roots[0]' must be an object"},
      {"{\"files\": {\"roots\": [{\"name\": 7}]}}",
       "key 'files.roots[0].name' must be a string"},
      {"{\"files\": {\"roots\": [{\"name\": \"a\", \"path\": \"\"}]}}",
       "key 'files.roots[0].path' must be a non-empty path"},
      {"{\"files\": {\"resolver\": \"fast\"}}",
       "key 'files.resolver' must be one of \"auto\", \"openat2\", "
       "\"walk\""},
      {"{\"files\": {\"max_read_bytes\": 0}}",
       "key 'files.max_read_bytes' must be a positive integer"},
      {"{\"files\": {\"max_read_bytes\": \"1MiB\"}}",
       "key 'files.max_read_bytes' must be a positive integer"},
      {"{\"files\": {\"max_list_entries\": 2.5}}",
       "key 'files.max_list_entries' must be a positive integer"},
      {"{\"files\": {\"server\": \"my.files\"}}",
       "key 'files.server' must be a server name of 1 to 64 letters, "
       "digits, '_' or '-'"},
      {"{\"fetch\": {\"server\": \"\"}}",
       "key 'fetch.server' must be a server name of 1 to 64 letters, "
       "digits, '_' or '-'"},
      {"{\"fetch\": {\"hosts\": \"example.org\"}}",
       "key 'fetch.hosts' must be an array of strings"},
      {"{\"fetch\": {\"schemes\": [\"https\", 1]}}",
       "key 'fetch.schemes[1]' must be a string"},
      {"{\"fetch\": {\"timeout_s\": 0}}",
       "key 'fetch.timeout_s' must be a number of seconds above 0 and at "
       "most 86400"},
      {"{\"fetch\": {\"connect_timeout_s\": 86401}}",
       "key 'fetch.connect_timeout_s' must be a number of seconds above 0 "
       "and at most 86400"},
      {"{\"fetch\": {\"max_redirects\": -1}}",
       "key 'fetch.max_redirects' must be an integer from 0 to 2147483647"},
      {"{\"exec\": {\"root\": true}}",
       "key 'exec.root' must be a path string"},
      {"{\"exec\": {\"read_paths\": [\"/usr\", \"lib\"]}}",
       "key 'exec.read_paths[1]' must be an absolute path"},
      {"{\"exec\": {\"commands\": {}}}",
       "key 'exec.commands' must be an array of absolute paths"},
      {"{\"exec\": {\"kill_grace_ms\": 3000000000}}",
       "key 'exec.kill_grace_ms' must be an integer from 0 to 2147483647"},
      {"{\"exec\": {\"limits\": {\"nproc\": -1}}}",
       "key 'exec.limits.nproc' must be an integer of 0 or more (0 keeps "
       "the inherited limit)"},
      {"{\"exec\": {\"limits\": 5}}", "key 'exec.limits' must be an object"},
      {"{\"exec\": {\"allow_network\": 1}}",
       "key 'exec.allow_network' must be true or false"},
      {"{\"exec\": {\"uid\": -3}}",
       "key 'exec.uid' must be \"auto\", \"keep\" or an id from 0 to "
       "4294967294"},
      {"{\"exec\": {\"gid\": \"nobody\"}}",
       "key 'exec.gid' must be \"auto\", \"keep\" or an id from 0 to "
       "4294967294"},
      {"{\"exec\": {\"seccomp\": false}}",
       "key 'exec.seccomp' must be one of \"required\", \"if_available\", "
       "\"off\""},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_load_error(cases[i].text, MVM_ECONFIG, cases[i].rest);
}

static void missing_keys_are_named(void **state)
{
  expect_load_error("{\"files\": {}}", MVM_ECONFIG,
                    "key 'files.roots' is missing; list the directories "
                    "the file tools may use, as [{\"name\": ..., \"path\": "
                    "...}]");
  expect_load_error("{\"files\": {\"roots\": [{\"path\": \"/tmp\"}]}}",
                    MVM_ECONFIG,
                    "key 'files.roots[0].name' is missing; each root needs "
                    "a name and a path");
  expect_load_error("{\"files\": {\"roots\": [{\"name\": \"t\"}]}}",
                    MVM_ECONFIG,
                    "key 'files.roots[0].path' is missing; each root needs "
                    "a name and a path");
  expect_load_error("{\"exec\": {\"timeout_s\": 5}}", MVM_ECONFIG,
                    "key 'exec.root' is missing; give the directory "
                    "commands may write to");
}

static void file_level_errors(void **state)
{
  mvm_builtins_config c;
  mvm_error err;
  char expected[MVM_ERROR_MSG_MAX];
  char missing[160];

  expect_load_error("{\"fetch\": {\"server\": \"tools\"}, \"exec\": "
                    "{\"root\": \"/tmp\", \"server\": \"tools\"}}",
                    MVM_ECONFIG,
                    "two sections use the server name 'tools'; give each "
                    "its own \"server\"");

  write_config("[1, 2]");
  assert_int_equal(mvm_builtins_load(fx.file, &c, &err), MVM_ECONFIG);
  snprintf(expected, sizeof expected,
           "builtins file '%s' must contain a JSON object with the "
           "sections files, fetch and exec",
           fx.file);
  assert_string_equal(err.msg, expected);

  write_config("{\"files\": ");
  assert_int_equal(mvm_builtins_load(fx.file, &c, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "invalid builtins file: "));

  /* The JSON parser rejects NUL, which no C string could carry. */
  write_config("{\"fetch\": {\"server\": \"a\\u0000b\"}}");
  assert_int_equal(mvm_builtins_load(fx.file, &c, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "invalid builtins file: "));

  snprintf(missing, sizeof missing, "%s/absent.json", fx.base);
  assert_int_equal(mvm_builtins_load(missing, &c, &err), MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "cannot read the builtins file: "));
  assert_non_null(strstr(err.msg, missing));

  /* Over the size limit: a valid object padded with spaces. */
  size_t size = MVM_BUILTINS_MAX_BYTES + 1;
  char *big = malloc(size + 1);
  assert_non_null(big);
  memset(big, ' ', size);
  big[0] = '{';
  big[size - 1] = '}';
  big[size] = '\0';
  write_config(big);
  free(big);
  assert_int_equal(mvm_builtins_load(fx.file, &c, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "over the limit"));
}

static void long_list_is_rejected(void **state)
{
  char *text = malloc(16 * (MVM_BUILTINS_MAX_LIST + 2) + 64);
  char rest[160];
  size_t used;

  assert_non_null(text);
  used = (size_t)sprintf(text, "{\"fetch\": {\"hosts\": [");
  for (int i = 0; i <= MVM_BUILTINS_MAX_LIST; i++)
    used += (size_t)sprintf(text + used, "%s\"h%d\"", i ? "," : "", i);
  sprintf(text + used, "]}}");
  snprintf(rest, sizeof rest,
           "key 'fetch.hosts' has %d entries; at most %d are allowed",
           MVM_BUILTINS_MAX_LIST + 1, MVM_BUILTINS_MAX_LIST);
  expect_load_error(text, MVM_ECONFIG, rest);
  free(text);
}

/* Every key of every section reaches the field of the same name. */
static void every_key_sets_its_field(void **state)
{
  mvm_builtins_config c;
  mvm_error err;
  char dir[PATH_MAX];
  char notes[PATH_MAX + 16];

  write_config(
      "{\"files\": {\"server\": \"f1\", \"roots\": ["
      "  {\"name\": \"notes\", \"path\": \"notes\", \"read_only\": true},"
      "  {\"name\": \"abs\", \"path\": \"/srv/data\"}],"
      " \"no_symlinks\": true, \"resolver\": \"walk\","
      " \"max_read_bytes\": 11, \"max_write_bytes\": 12,"
      " \"max_list_entries\": 13},"
      " \"fetch\": {\"server\": \"f2\", \"schemes\": [\"https\"],"
      " \"hosts\": [\"docs.python.org\", \"*.example.org\"],"
      " \"allow_nets\": [\"127.0.0.1/32\"], \"max_bytes\": 21,"
      " \"max_header_bytes\": 22, \"max_url_bytes\": 23, \"timeout_s\": 2.5,"
      " \"connect_timeout_s\": 3, \"max_redirects\": 0},"
      " \"exec\": {\"server\": \"f3\", \"root\": \"/srv/work\","
      " \"read_paths\": [\"/usr\"], \"write_paths\": [],"
      " \"env\": [\"A=1\"], \"pass_env\": [\"TERM\"],"
      " \"commands\": [\"/usr/bin/env\"], \"search_path\": \"/usr/bin\","
      " \"timeout_s\": 7, \"kill_grace_ms\": 0, \"max_stdout\": 31,"
      " \"max_stderr\": 32, \"max_stdin\": 33, \"max_argv_bytes\": 34,"
      " \"limits\": {\"cpu_s\": 41, \"as_bytes\": 42, \"fsize_bytes\": 43,"
      "   \"nofile\": 44, \"nproc\": 0},"
      " \"allow_network\": true, \"uid\": \"keep\", \"gid\": 1000,"
      " \"landlock\": \"if_available\", \"seccomp\": \"off\","
      " \"namespaces\": \"required\"}}");
  int rc = mvm_builtins_load(fx.file, &c, &err);
  if (rc)
    fail_msg("mvm_builtins_load: %s", err.msg);

  assert_true(c.has_files && c.has_fetch && c.has_exec);
  assert_string_equal(c.files.server, "f1");
  assert_int_equal(c.files.nroots, 2);
  assert_string_equal(c.files.roots[0].name, "notes");
  /* A relative root is taken from the file's directory. */
  assert_non_null(realpath(fx.base, dir));
  snprintf(notes, sizeof notes, "%s/notes", dir);
  assert_string_equal(c.files.roots[0].path, notes);
  assert_true(c.files.roots[0].read_only);
  assert_string_equal(c.files.roots[1].name, "abs");
  assert_string_equal(c.files.roots[1].path, "/srv/data");
  assert_false(c.files.roots[1].read_only);
  assert_true(c.files.no_symlinks);
  assert_int_equal(c.files.resolver, MVM_RESOLVER_WALK);
  assert_int_equal(c.files.max_read_bytes, 11);
  assert_int_equal(c.files.max_write_bytes, 12);
  assert_int_equal(c.files.max_list_entries, 13);

  assert_string_equal(c.fetch.server, "f2");
  assert_string_equal(c.fetch.schemes[0], "https");
  assert_null(c.fetch.schemes[1]);
  assert_string_equal(c.fetch.hosts[0], "docs.python.org");
  assert_string_equal(c.fetch.hosts[1], "*.example.org");
  assert_null(c.fetch.hosts[2]);
  assert_string_equal(c.fetch.allow_nets[0], "127.0.0.1/32");
  assert_int_equal(c.fetch.max_bytes, 21);
  assert_int_equal(c.fetch.max_header_bytes, 22);
  assert_int_equal(c.fetch.max_url_bytes, 23);
  assert_true(c.fetch.timeout_s == 2.5);
  assert_true(c.fetch.connect_timeout_s == 3.0);
  assert_int_equal(c.fetch.max_redirects, 0);

  assert_string_equal(c.exec.server, "f3");
  assert_string_equal(c.exec.root, "/srv/work");
  assert_string_equal(c.exec.read_paths[0], "/usr");
  assert_null(c.exec.read_paths[1]);
  assert_non_null(c.exec.write_paths);
  assert_null(c.exec.write_paths[0]);
  assert_string_equal(c.exec.env[0], "A=1");
  assert_string_equal(c.exec.pass_env[0], "TERM");
  assert_string_equal(c.exec.commands[0], "/usr/bin/env");
  assert_string_equal(c.exec.search_path, "/usr/bin");
  assert_true(c.exec.timeout_s == 7.0);
  assert_int_equal(c.exec.kill_grace_ms, 0);
  assert_int_equal(c.exec.max_stdout, 31);
  assert_int_equal(c.exec.max_stderr, 32);
  assert_int_equal(c.exec.max_stdin, 33);
  assert_int_equal(c.exec.max_argv_bytes, 34);
  assert_int_equal(c.exec.limits.cpu_s, 41);
  assert_int_equal(c.exec.limits.as_bytes, 42);
  assert_int_equal(c.exec.limits.fsize_bytes, 43);
  assert_int_equal(c.exec.limits.nofile, 44);
  assert_int_equal(c.exec.limits.nproc, 0);
  assert_true(c.exec.allow_network);
  assert_int_equal(c.exec.uid, MVM_EXEC_ID_KEEP);
  assert_int_equal(c.exec.gid, 1000);
  assert_int_equal(c.exec.landlock, MVM_SANDBOX_IF_AVAILABLE);
  assert_int_equal(c.exec.seccomp, MVM_SANDBOX_OFF);
  assert_int_equal(c.exec.namespaces, MVM_SANDBOX_REQUIRED);
  mvm_builtins_config_free(&c);
}

/* Keys left out keep the *_config_init defaults, server names included. */
static void omitted_keys_keep_defaults(void **state)
{
  mvm_builtins_config c;
  mvm_builtin_fetch_config fetch;
  mvm_builtin_exec_config exec;
  mvm_error err;

  mvm_builtin_fetch_config_init(&fetch);
  mvm_builtin_exec_config_init(&exec);
  write_config("{\"fetch\": {}, \"exec\": {\"root\": \"/srv/work\"}}");
  int rc = mvm_builtins_load(fx.file, &c, &err);
  if (rc)
    fail_msg("mvm_builtins_load: %s", err.msg);
  assert_false(c.has_files);
  assert_string_equal(c.fetch.server, "fetch");
  assert_null(c.fetch.schemes);
  assert_null(c.fetch.hosts);
  assert_int_equal(c.fetch.max_bytes, fetch.max_bytes);
  assert_true(c.fetch.timeout_s == fetch.timeout_s);
  assert_string_equal(c.exec.server, "exec");
  assert_ptr_equal(c.exec.env, exec.env);
  assert_int_equal(c.exec.uid, MVM_EXEC_ID_AUTO);
  assert_int_equal(c.exec.landlock, MVM_SANDBOX_REQUIRED);
  assert_int_equal(c.exec.limits.nproc, exec.limits.nproc);
  mvm_builtins_config_free(&c);
}

/* ---------------------------------------------------------------- open */

static void files_section_opens_sandboxed_tools(void **state)
{
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char text[512];
  char summary[256];
  char path[256];
  size_t n = 0;
  json_t *r;

  snprintf(text, sizeof text,
           "{\"files\": {\"roots\": ["
           "{\"name\": \"notes\", \"path\": \"%s\", \"read_only\": true},"
           "{\"name\": \"work\", \"path\": \"%s\"}]}}",
           fx.notes, fx.work);
  write_config(text);
  int rc = mvm_builtins_open_summary(fx.file, boxes, MVM_BUILTINS_MAX_BOXES,
                                     &n, summary, sizeof summary, &err);
  if (rc)
    fail_msg("mvm_builtins_open_summary: %s", err.msg);
  assert_int_equal(n, 1);
  assert_string_equal(boxes[0].server, "files");
  assert_string_equal(summary, "files");

  r = call_tool(&boxes[0], "read_file",
                "{\"root\": \"notes\", \"path\": \"hello.txt\"}");
  assert_false(is_error(r));
  assert_string_equal(first_text(r), "hello from notes\n");
  json_decref(r);

  r = call_tool(&boxes[0], "write_file",
                "{\"root\": \"work\", \"path\": \"out.txt\", "
                "\"content\": \"written\"}");
  assert_false(is_error(r));
  json_decref(r);
  snprintf(path, sizeof path, "%s/out.txt", fx.work);
  assert_int_equal(access(path, F_OK), 0);

  r = call_tool(&boxes[0], "write_file",
                "{\"root\": \"notes\", \"path\": \"new.txt\", "
                "\"content\": \"x\"}");
  assert_true(is_error(r));
  assert_string_equal(error_kind(r), "denied");
  json_decref(r);
  snprintf(path, sizeof path, "%s/new.txt", fx.notes);
  assert_int_equal(access(path, F_OK), -1);

  close_all(boxes, n);
}

static void files_root_escape_is_denied(void **state)
{
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char text[512];
  size_t n = 0;
  json_t *r;
  static const char *const escapes[] = {
      "{\"path\": \"../outside/secret\"}",
      "{\"path\": \"escape/secret\"}",
      "{\"path\": \"/etc/passwd\"}",
  };

  snprintf(text, sizeof text,
           "{\"files\": {\"roots\": [{\"name\": \"notes\", \"path\": "
           "\"%s\"}]}}",
           fx.notes);
  write_config(text);
  int rc = mvm_builtins_open(fx.file, boxes, MVM_BUILTINS_MAX_BOXES, &n,
                             &err);
  if (rc)
    fail_msg("mvm_builtins_open: %s", err.msg);

  for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
    r = call_tool(&boxes[0], "read_file", escapes[i]);
    assert_true(is_error(r));
    assert_string_equal(error_kind(r), "denied");
    assert_null(strstr(first_text(r), SECRET));
    json_decref(r);
  }
  close_all(boxes, n);
}

static void fetch_section_fetches_from_loopback(void **state)
{
  mvm_mock_provider *mock = mvm_mock_start();
  mvm_mock_response page = {.status = 200,
                            .content_type = "text/plain",
                            .body = "fetched body"};
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char text[512];
  char args[512];
  size_t n = 0;
  json_t *r;

  assert_non_null(mock);
  assert_int_equal(mvm_mock_push(mock, &page), 0);
  write_config("{\"fetch\": {\"server\": \"web\", \"schemes\": [\"http\"], "
               "\"hosts\": [\"127.0.0.1\"], \"allow_nets\": "
               "[\"127.0.0.1/32\"], \"timeout_s\": 10}}");
  int rc = mvm_builtins_open(fx.file, boxes, MVM_BUILTINS_MAX_BOXES, &n,
                             &err);
  if (rc)
    fail_msg("mvm_builtins_open: %s", err.msg);
  assert_int_equal(n, 1);
  assert_string_equal(boxes[0].server, "web");

  snprintf(args, sizeof args, "{\"url\": \"%s/page\"}", mvm_mock_url(mock));
  r = call_tool(&boxes[0], "fetch", args);
  if (is_error(r))
    fail_msg("fetch failed: %s", first_text(r));
  assert_non_null(strstr(first_text(r), "fetched body"));
  json_decref(r);
  assert_int_equal(mvm_mock_request_count(mock), 1);
  assert_string_equal(mvm_mock_request_at(mock, 0)->path, "/page");

  /* A host outside "hosts" is rejected before any connection. */
  snprintf(text, sizeof text, "%s", mvm_mock_url(mock));
  snprintf(args, sizeof args, "{\"url\": \"http://localhost:%s/page\"}",
           strrchr(text, ':') + 1);
  r = call_tool(&boxes[0], "fetch", args);
  assert_true(is_error(r));
  assert_string_equal(error_kind(r), "denied");
  json_decref(r);
  assert_int_equal(mvm_mock_request_count(mock), 1);

  close_all(boxes, n);
  mvm_mock_stop(mock);
}

static void exec_section_runs_commands(void **state)
{
  mvm_sandbox_features f;
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char text[512];
  char summary[512];
  size_t n = 0;
  json_t *r;

  mvm_sandbox_probe(&f);
  if (f.landlock_abi == 0 || !f.seccomp)
    skip(); /* the exec defaults require Landlock and seccomp */

  snprintf(text, sizeof text,
           "{\"exec\": {\"root\": \"%s\", \"timeout_s\": 10}}", fx.work);
  write_config(text);
  int rc = mvm_builtins_open_summary(fx.file, boxes, MVM_BUILTINS_MAX_BOXES,
                                     &n, summary, sizeof summary, &err);
  if (rc)
    fail_msg("mvm_builtins_open_summary: %s", err.msg);
  assert_int_equal(n, 1);
  assert_string_equal(boxes[0].server, "exec");
  assert_true(strncmp(summary, "exec (sandbox: landlock ABI ", 28) == 0);
  assert_non_null(strstr(summary, "network denied)"));

  r = call_tool(&boxes[0], "run_command", "{\"argv\": [\"echo\", \"hi\"]}");
  if (is_error(r))
    fail_msg("run_command failed: %s", first_text(r));
  assert_string_equal(first_text(r), "hi\n");
  json_decref(r);

  /* Landlock keeps the command inside its trees. */
  snprintf(text, sizeof text, "{\"argv\": [\"cat\", \"%s/secret\"]}",
           fx.outside);
  r = call_tool(&boxes[0], "run_command", text);
  assert_true(is_error(r));
  assert_null(strstr(first_text(r), SECRET));
  json_decref(r);
  close_all(boxes, n);
}

static void failed_section_closes_opened_ones(void **state)
{
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char text[512];
  char expected[MVM_ERROR_MSG_MAX];
  size_t n = 7;

  snprintf(text, sizeof text,
           "{\"files\": {\"roots\": [{\"name\": \"notes\", \"path\": "
           "\"%s\"}]}, \"fetch\": {\"schemes\": [\"ftp\"]}}",
           fx.notes);
  write_config(text);
  int before = count_fds();
  int rc = mvm_builtins_open(fx.file, boxes, MVM_BUILTINS_MAX_BOXES, &n,
                             &err);
  assert_int_equal(rc, MVM_ECONFIG);
  assert_int_equal(n, 0);
  snprintf(expected, sizeof expected,
           "builtins file '%s', section 'fetch': scheme 'ftp' is not "
           "supported; use http or https",
           fx.file);
  assert_string_equal(err.msg, expected);
  /* The files toolbox opened first and its root fd is closed again. */
  assert_int_equal(count_fds(), before);

  snprintf(text, sizeof text,
           "{\"files\": {\"roots\": [{\"name\": \"notes\", \"path\": "
           "\"%s/none\"}]}}",
           fx.base);
  write_config(text);
  rc = mvm_builtins_open(fx.file, boxes, MVM_BUILTINS_MAX_BOXES, &n, &err);
  assert_int_equal(rc, MVM_ECONFIG);
  assert_int_equal(n, 0);
  assert_non_null(strstr(err.msg, "section 'files': root 'notes'"));
}

static void too_many_boxes_is_a_limit(void **state)
{
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char text[512];
  char expected[MVM_ERROR_MSG_MAX];
  size_t n = 7;

  snprintf(text, sizeof text,
           "{\"files\": {\"roots\": [{\"name\": \"notes\", \"path\": "
           "\"%s\"}]}, \"fetch\": {}}",
           fx.notes);
  write_config(text);
  int before = count_fds();
  assert_int_equal(mvm_builtins_open(fx.file, boxes, 1, &n, &err),
                   MVM_ELIMIT);
  assert_int_equal(n, 0);
  snprintf(expected, sizeof expected,
           "builtins file '%s' opens 2 toolboxes, but only 1 more fit in "
           "this run",
           fx.file);
  assert_string_equal(err.msg, expected);
  assert_int_equal(count_fds(), before);
}

static void empty_file_opens_nothing(void **state)
{
  mvm_toolbox boxes[MVM_BUILTINS_MAX_BOXES];
  mvm_error err;
  char summary[64];
  size_t n = 7;

  write_config("{}");
  assert_int_equal(mvm_builtins_open_summary(fx.file, boxes,
                                             MVM_BUILTINS_MAX_BOXES, &n,
                                             summary, sizeof summary, &err),
                   MVM_OK);
  assert_int_equal(n, 0);
  assert_string_equal(summary, "no toolboxes");
}

/* ---------------------------------------------------------------- setting */

static void setting_comes_from_each_source(void **state)
{
  mvm_settings_flags flags = {0};
  mvm_settings s;
  mvm_error err;
  char config[160];
  char state_dir[160];
  char expected[PATH_MAX + 32];
  char dir[PATH_MAX];

  snprintf(config, sizeof config, "%s/config.json", fx.base);
  snprintf(state_dir, sizeof state_dir, "%s/state", fx.base);
  write_text(config, "{\"builtins\": \"tools.json\"}");
  setenv("MVM_STATE_DIR", state_dir, 1);
  unsetenv("MVM_BUILTINS");
  flags.config = config;

  /* The config file's relative path is taken from its directory. */
  assert_int_equal(mvm_settings_resolve(&flags, &s, &err), MVM_OK);
  snprintf(expected, sizeof expected, "%s/tools.json", fx.base);
  assert_string_equal(s.builtins.value, expected);
  assert_string_equal(s.builtins.origin, "config file");
  mvm_settings_free(&s);

  setenv("MVM_BUILTINS", "/env/builtins.json", 1);
  assert_int_equal(mvm_settings_resolve(&flags, &s, &err), MVM_OK);
  assert_string_equal(s.builtins.value, "/env/builtins.json");
  assert_string_equal(s.builtins.origin, "MVM_BUILTINS");
  mvm_settings_free(&s);

  flags.builtins = "/flag/builtins.json";
  assert_int_equal(mvm_settings_resolve(&flags, &s, &err), MVM_OK);
  assert_string_equal(s.builtins.value, "/flag/builtins.json");
  assert_string_equal(s.builtins.origin, "--builtins");
  json_t *j = mvm_settings_to_json(&s);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "builtins"),
                                        "value")),
      "/flag/builtins.json");
  json_decref(j);
  mvm_settings_free(&s);

  /* No default. */
  unsetenv("MVM_BUILTINS");
  flags.builtins = NULL;
  flags.config = NULL;
  unsetenv("MVM_CONFIG");
  assert_non_null(realpath(fx.base, dir));
  setenv("XDG_CONFIG_HOME", dir, 1); /* no mvm/config.json there */
  assert_int_equal(mvm_settings_resolve(&flags, &s, &err), MVM_OK);
  assert_null(s.builtins.value);
  mvm_settings_free(&s);
  unsetenv("MVM_STATE_DIR");
  unsetenv("XDG_CONFIG_HOME");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unknown_keys_list_valid_keys),
      cmocka_unit_test(wrong_types_name_the_key),
      cmocka_unit_test(missing_keys_are_named),
      cmocka_unit_test(file_level_errors),
      cmocka_unit_test(long_list_is_rejected),
      cmocka_unit_test(every_key_sets_its_field),
      cmocka_unit_test(omitted_keys_keep_defaults),
      cmocka_unit_test(files_section_opens_sandboxed_tools),
      cmocka_unit_test(files_root_escape_is_denied),
      cmocka_unit_test(fetch_section_fetches_from_loopback),
      cmocka_unit_test(exec_section_runs_commands),
      cmocka_unit_test(failed_section_closes_opened_ones),
      cmocka_unit_test(too_many_boxes_is_a_limit),
      cmocka_unit_test(empty_file_opens_nothing),
      cmocka_unit_test(setting_comes_from_each_source),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
