/* test_builtin_fs.c - the file tools: reads, writes and listings beneath a
 * root, escape attempts through ".." and symbolic links (also while a link
 * is swapped in), size limits and write atomicity. Escape and race tests
 * run once with openat2 and once with the component walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mvm.h"
#include "tools/builtin_fs.h"

#define SECRET "OUTSIDE-SECRET-CONTENT"

/* Reads of the flipping path in the race test. */
#define RACE_READS 3000

static const mvm_sandbox_resolver resolver_openat2 = MVM_RESOLVER_OPENAT2;
static const mvm_sandbox_resolver resolver_walk = MVM_RESOLVER_WALK;

struct fixture {
  char base[64];
  char root[96];
  char outside[96];
  char ro[96];
  mvm_toolbox tb;
};

static void put_file(const char *dir, const char *name, const char *text)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static char *get_file(const char *dir, const char *name)
{
  static char text[4096];
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return NULL;
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  return text;
}

static void put_link(const char *dir, const char *name, const char *target)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_int_equal(symlink(target, path), 0);
}

static void put_dir(const char *dir, const char *name)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_int_equal(mkdir(path, 0755), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  return remove(path);
}

static void open_toolbox(struct fixture *fx, mvm_sandbox_resolver resolver,
                         bool no_symlinks, size_t max_read, size_t max_write,
                         size_t max_list)
{
  mvm_builtin_fs_config cfg;
  mvm_builtin_fs_root roots[2] = {{"work", fx->root, false},
                                  {"docs", fx->ro, true}};
  mvm_error err;

  mvm_builtin_fs_config_init(&cfg);
  cfg.roots = roots;
  cfg.nroots = 2;
  cfg.resolver = resolver;
  cfg.no_symlinks = no_symlinks;
  if (max_read)
    cfg.max_read_bytes = max_read;
  if (max_write)
    cfg.max_write_bytes = max_write;
  if (max_list)
    cfg.max_list_entries = max_list;
  int rc = mvm_builtin_fs_new(&cfg, &fx->tb, &err);
  if (rc)
    fail_msg("mvm_builtin_fs_new: %s", err.msg);
}

/* Builds base/{root,outside,ro} with files, links and directories. */
static struct fixture *make_fixture(mvm_sandbox_resolver resolver)
{
  struct fixture *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  snprintf(fx->base, sizeof fx->base, "/tmp/mvm-fs-XXXXXX");
  assert_non_null(mkdtemp(fx->base));
  snprintf(fx->root, sizeof fx->root, "%s/root", fx->base);
  snprintf(fx->outside, sizeof fx->outside, "%s/outside", fx->base);
  snprintf(fx->ro, sizeof fx->ro, "%s/ro", fx->base);
  assert_int_equal(mkdir(fx->root, 0755), 0);
  assert_int_equal(mkdir(fx->outside, 0755), 0);
  assert_int_equal(mkdir(fx->ro, 0755), 0);

  put_file(fx->outside, "secret", SECRET);
  put_file(fx->root, "hello.txt", "hello world\n");
  put_file(fx->ro, "readme.txt", "read only\n");
  put_dir(fx->root, "sub");
  put_file(fx->root, "sub/inner.txt", "inner\n");

  put_link(fx->root, "link_abs", "/etc/passwd");
  char target[256];
  snprintf(target, sizeof target, "%s/secret", fx->outside);
  put_link(fx->root, "link_abs_secret", target);
  put_link(fx->root, "link_rel", "../outside/secret");
  put_link(fx->root, "chain1", "chain2");
  put_link(fx->root, "chain2", "sub/chain3");
  put_link(fx->root, "sub/chain3", "../../outside/secret");
  put_link(fx->root, "dangling", "../outside/missing");
  put_link(fx->root, "dangling_in", "nowhere");
  put_link(fx->root, "outdir", "../outside");
  put_link(fx->root, "link_in", "sub/inner.txt");
  put_link(fx->root, "loop", "loop");

  open_toolbox(fx, resolver, false, 0, 0, 0);
  return fx;
}

static int setup(void **state)
{
  const mvm_sandbox_resolver *r = *state;
  *state = make_fixture(r ? *r : MVM_RESOLVER_AUTO);
  return 0;
}

static int teardown(void **state)
{
  struct fixture *fx = *state;
  if (fx->tb.ops != NULL)
    fx->tb.ops->close(fx->tb.self);
  nftw(fx->base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static void reopen(struct fixture *fx, bool no_symlinks, size_t max_read,
                   size_t max_write, size_t max_list)
{
  fx->tb.ops->close(fx->tb.self);
  open_toolbox(fx, MVM_RESOLVER_AUTO, no_symlinks, max_read, max_write,
               max_list);
}

static json_t *call(struct fixture *fx, const char *tool, const char *args)
{
  json_error_t jerr;
  json_t *a = json_loads(args, JSON_ALLOW_NUL, &jerr);
  if (a == NULL)
    fail_msg("bad test arguments %s: %s", args, jerr.text);
  json_t *result = NULL;
  mvm_error err;
  mvm_tool_call_opts opts = {0};
  int rc = fx->tb.ops->call(fx->tb.self, tool, a, &opts, &result, &err);
  json_decref(a);
  if (rc)
    fail_msg("%s(%s): %s", tool, args, err.msg);
  assert_non_null(result);
  return result;
}

static const char *text_of(const json_t *result)
{
  const json_t *item = json_array_get(json_object_get(result, "content"), 0);
  const char *text = json_string_value(json_object_get(item, "text"));
  assert_non_null(text);
  return text;
}

static bool is_error(const json_t *result)
{
  return json_is_true(json_object_get(result, "isError"));
}

static const char *error_kind(const json_t *result)
{
  const json_t *sc = json_object_get(result, "structuredContent");
  const char *kind = json_string_value(json_object_get(sc, "error"));
  return kind ? kind : "(none)";
}

static void expect_error(struct fixture *fx, const char *tool,
                         const char *args, const char *kind)
{
  json_t *r = call(fx, tool, args);
  if (!is_error(r))
    fail_msg("%s(%s) succeeded: %s", tool, args, text_of(r));
  assert_string_equal(error_kind(r), kind);
  assert_null(strstr(text_of(r), SECRET));
  assert_null(strstr(text_of(r), "root:"));
  json_decref(r);
}

static void expect_text(struct fixture *fx, const char *tool,
                        const char *args, const char *text)
{
  json_t *r = call(fx, tool, args);
  if (is_error(r))
    fail_msg("%s(%s) failed: %s", tool, args, text_of(r));
  assert_string_equal(text_of(r), text);
  json_decref(r);
}

/* ---------------------------------------------------------------- basics */

static void list_has_four_tools(void **state)
{
  struct fixture *fx = *state;
  json_t *tools = NULL;
  mvm_error err;

  assert_int_equal(fx->tb.ops->list(fx->tb.self, &tools, &err), MVM_OK);
  assert_int_equal(json_array_size(tools), 4);
  const json_t *read = json_array_get(tools, 0);
  assert_string_equal(json_string_value(json_object_get(read, "name")),
                      "read_file");
  const json_t *schema = json_object_get(read, "inputSchema");
  assert_string_equal(
      json_string_value(json_object_get(schema, "type")), "object");
  const json_t *roots = json_object_get(
      json_object_get(json_object_get(schema, "properties"), "root"), "enum");
  assert_int_equal(json_array_size(roots), 2);
  assert_string_equal(json_string_value(json_array_get(roots, 1)), "docs");
  json_decref(tools);
}

static void read_file_returns_text(void **state)
{
  struct fixture *fx = *state;
  expect_text(fx, "read_file", "{\"path\": \"hello.txt\"}", "hello world\n");
  expect_text(fx, "read_file", "{\"path\": \"sub/inner.txt\"}", "inner\n");
  expect_text(fx, "read_file", "{\"path\": \"sub/../hello.txt\"}",
              "hello world\n");
  expect_text(fx, "read_file", "{\"path\": \"./sub//inner.txt\"}",
              "inner\n");
  expect_text(fx, "read_file", "{\"path\": \"link_in\"}", "inner\n");
  expect_text(fx, "read_file", "{\"path\": \"readme.txt\", \"root\": "
                               "\"docs\"}",
              "read only\n");
  expect_text(fx, "read_file",
              "{\"path\": \"hello.txt\", \"offset\": 6, \"length\": 5}",
              "world");
  expect_text(fx, "read_file",
              "{\"path\": \"hello.txt\", \"encoding\": \"base64\"}",
              "aGVsbG8gd29ybGQK");
}

static void read_file_replaces_bad_utf8(void **state)
{
  struct fixture *fx = *state;
  put_file(fx->root, "bin", "a\xff\xc3(b\xe2\x82\xac");
  json_t *r = call(fx, "read_file", "{\"path\": \"bin\"}");
  assert_false(is_error(r));
  assert_string_equal(text_of(r),
                      "a\xef\xbf\xbd\xef\xbf\xbd(b\xe2\x82\xac");
  const json_t *sc = json_object_get(r, "structuredContent");
  assert_int_equal(json_integer_value(json_object_get(sc, "replaced_bytes")),
                   2);
  json_decref(r);
}

static void read_file_rejects_bad_arguments(void **state)
{
  struct fixture *fx = *state;
  expect_error(fx, "read_file", "{}", "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": 3}", "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": \"a\\u0000b\"}",
               "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": \"hello.txt\", \"mode\": 1}",
               "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": \"hello.txt\", \"root\": "
                                "\"etc\"}",
               "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": \"hello.txt\", \"offset\": -1}",
               "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": \"sub\"}", "invalid_argument");
  expect_error(fx, "read_file", "{\"path\": \"missing\"}", "not_found");
  expect_error(fx, "read_file", "{\"path\": \"hello.txt/x\"}", "not_found");
}

static void unknown_tool_is_not_found(void **state)
{
  struct fixture *fx = *state;
  json_t *args = json_object();
  json_t *result = NULL;
  mvm_error err;
  mvm_tool_call_opts opts = {0};

  assert_int_equal(fx->tb.ops->call(fx->tb.self, "delete_file", args, &opts,
                                    &result, &err),
                   MVM_ENOTFOUND);
  assert_null(result);
  assert_non_null(strstr(err.msg, "delete_file"));
  json_decref(args);
}

static void list_directory_sorts_entries(void **state)
{
  struct fixture *fx = *state;
  json_t *r = call(fx, "list_directory", "{\"path\": \"sub\"}");
  assert_false(is_error(r));
  assert_string_equal(text_of(r), "[symlink] chain3\n[file] inner.txt\n");
  const json_t *sc = json_object_get(r, "structuredContent");
  assert_false(json_is_true(json_object_get(sc, "truncated")));
  json_decref(r);

  r = call(fx, "list_directory", "{}");
  assert_false(is_error(r));
  assert_non_null(strstr(text_of(r), "[file] hello.txt\n"));
  assert_non_null(strstr(text_of(r), "[directory] sub\n"));
  assert_non_null(strstr(text_of(r), "[symlink] outdir\n"));
  json_decref(r);
}

static void get_file_info_reports_links(void **state)
{
  struct fixture *fx = *state;
  json_t *r = call(fx, "get_file_info", "{\"path\": \"link_rel\"}");
  assert_false(is_error(r));
  const json_t *sc = json_object_get(r, "structuredContent");
  assert_string_equal(json_string_value(json_object_get(sc, "type")),
                      "symlink");
  assert_string_equal(json_string_value(json_object_get(sc, "target")),
                      "../outside/secret");
  json_decref(r);

  r = call(fx, "get_file_info", "{\"path\": \"hello.txt\"}");
  sc = json_object_get(r, "structuredContent");
  assert_string_equal(json_string_value(json_object_get(sc, "type")), "file");
  assert_int_equal(json_integer_value(json_object_get(sc, "size")), 12);
  json_decref(r);
}

/* ---------------------------------------------------------------- escapes */

static void escapes_fail(void **state)
{
  struct fixture *fx = *state;

  expect_error(fx, "read_file", "{\"path\": \"../outside/secret\"}",
               "denied");
  expect_error(fx, "read_file", "{\"path\": \"sub/../../outside/secret\"}",
               "denied");
  expect_error(fx, "read_file", "{\"path\": \"sub/../..\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"/etc/passwd\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"link_abs\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"link_abs_secret\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"link_rel\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"chain1\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"dangling\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"outdir/secret\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"loop\"}", "denied");
  expect_error(fx, "list_directory", "{\"path\": \"outdir\"}", "denied");
  expect_error(fx, "list_directory", "{\"path\": \"..\"}", "denied");
  expect_error(fx, "get_file_info", "{\"path\": \"outdir/secret\"}",
               "denied");
  expect_error(fx, "get_file_info", "{\"path\": \"../outside\"}", "denied");
  expect_error(fx, "write_file",
               "{\"path\": \"outdir/new\", \"content\": \"x\"}", "denied");
  expect_error(fx, "write_file",
               "{\"path\": \"../outside/new\", \"content\": \"x\"}",
               "denied");
  expect_error(fx, "write_file",
               "{\"path\": \"/tmp/new\", \"content\": \"x\"}", "denied");

  /* A dangling link inside the root is just a missing file. */
  expect_error(fx, "read_file", "{\"path\": \"dangling_in\"}", "not_found");

  char path[256];
  snprintf(path, sizeof path, "%s/new", fx->outside);
  assert_int_equal(access(path, F_OK), -1);
}

static void no_symlinks_rejects_inside_links(void **state)
{
  struct fixture *fx = *state;
  reopen(fx, true, 0, 0, 0);
  expect_error(fx, "read_file", "{\"path\": \"link_in\"}", "denied");
  expect_error(fx, "read_file", "{\"path\": \"link_rel\"}", "denied");
  expect_text(fx, "read_file", "{\"path\": \"sub/inner.txt\"}", "inner\n");
}

struct flipper {
  char flip[256];
  char alt[256];
  volatile int stop;
  long swaps;
};

/* Swaps the directory and the link at "flip" and "alt" until stopped. */
static void *flip_loop(void *arg)
{
  struct flipper *f = arg;
  while (!f->stop) {
    if (renameat2(AT_FDCWD, f->flip, AT_FDCWD, f->alt, RENAME_EXCHANGE) == 0)
      f->swaps++;
  }
  return NULL;
}

static void swapped_link_never_escapes(void **state)
{
  struct fixture *fx = *state;
  struct flipper f = {0};
  pthread_t thread;
  int inside = 0;

  put_dir(fx->root, "flip");
  put_file(fx->root, "flip/secret", "inside");
  put_link(fx->root, "alt", "../outside");
  snprintf(f.flip, sizeof f.flip, "%s/flip", fx->root);
  snprintf(f.alt, sizeof f.alt, "%s/alt", fx->root);

  assert_int_equal(pthread_create(&thread, NULL, flip_loop, &f), 0);
  for (int i = 0; i < RACE_READS; i++) {
    json_t *r = call(fx, "read_file", "{\"path\": \"flip/secret\"}");
    const char *text = text_of(r);
    if (strstr(text, SECRET) != NULL) {
      f.stop = 1;
      pthread_join(thread, NULL);
      fail_msg("read %d returned the outside file", i);
    }
    if (!is_error(r)) {
      assert_string_equal(text, "inside");
      inside++;
    }
    json_decref(r);
  }
  f.stop = 1;
  assert_int_equal(pthread_join(thread, NULL), 0);
  /* The race was real: the path flipped while reads went on. */
  assert_true(f.swaps > 0);
  print_message("swaps %ld, inside reads %d of %d\n", f.swaps, inside,
                RACE_READS);
}

/* ---------------------------------------------------------------- limits */

static void read_limit_is_enforced(void **state)
{
  struct fixture *fx = *state;
  reopen(fx, false, 8, 0, 0);
  expect_error(fx, "read_file", "{\"path\": \"hello.txt\"}", "limit");
  expect_error(fx, "read_file", "{\"path\": \"hello.txt\", \"length\": 9}",
               "limit");
  expect_text(fx, "read_file", "{\"path\": \"hello.txt\", \"length\": 8}",
              "hello wo");
  expect_text(fx, "read_file", "{\"path\": \"hello.txt\", \"offset\": 6}",
              "world\n");
}

static void write_limit_is_enforced(void **state)
{
  struct fixture *fx = *state;
  reopen(fx, false, 0, 4, 0);
  expect_error(fx, "write_file",
               "{\"path\": \"hello.txt\", \"content\": \"12345\"}", "limit");
  assert_string_equal(get_file(fx->root, "hello.txt"), "hello world\n");
  expect_text(fx, "write_file", "{\"path\": \"w.txt\", \"content\": \"1234\"}",
              "wrote 4 bytes to 'w.txt' in root 'work'");
}

static void list_limit_truncates(void **state)
{
  struct fixture *fx = *state;
  reopen(fx, false, 0, 0, 3);
  json_t *r = call(fx, "list_directory", "{}");
  assert_false(is_error(r));
  const json_t *sc = json_object_get(r, "structuredContent");
  assert_true(json_is_true(json_object_get(sc, "truncated")));
  assert_int_equal(json_array_size(json_object_get(sc, "entries")), 3);
  assert_non_null(strstr(text_of(r), "(listing cut at 3 entries)"));
  json_decref(r);
}

/* ---------------------------------------------------------------- writes */

static int count_temp_files(const char *dir)
{
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c '^\\.mvm-write-'", dir);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int n = -1;
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

static void write_file_replaces_content(void **state)
{
  struct fixture *fx = *state;
  struct stat st;
  char path[256];

  snprintf(path, sizeof path, "%s/hello.txt", fx->root);
  assert_int_equal(chmod(path, 0600), 0);
  expect_text(fx, "write_file",
              "{\"path\": \"hello.txt\", \"content\": \"new\"}",
              "wrote 3 bytes to 'hello.txt' in root 'work'");
  assert_string_equal(get_file(fx->root, "hello.txt"), "new");
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);

  expect_text(fx, "write_file",
              "{\"path\": \"sub/new.txt\", \"content\": \"n\"}",
              "wrote 1 bytes to 'sub/new.txt' in root 'work'");
  assert_string_equal(get_file(fx->root, "sub/new.txt"), "n");
  assert_int_equal(count_temp_files(fx->root), 0);
  assert_int_equal(count_temp_files(fx->base), 0);
}

static void write_file_checks_target(void **state)
{
  struct fixture *fx = *state;
  expect_error(fx, "write_file",
               "{\"path\": \"hello.txt\", \"content\": \"x\", "
               "\"overwrite\": false}",
               "denied");
  assert_string_equal(get_file(fx->root, "hello.txt"), "hello world\n");
  expect_error(fx, "write_file", "{\"path\": \"sub\", \"content\": \"x\"}",
               "invalid_argument");
  expect_error(fx, "write_file", "{\"path\": \"sub/\", \"content\": \"x\"}",
               "invalid_argument");
  expect_error(fx, "write_file", "{\"path\": \"..\", \"content\": \"x\"}",
               "invalid_argument");
  expect_error(fx, "write_file", "{\"path\": \"none/x\", \"content\": \"x\"}",
               "not_found");
  expect_error(fx, "write_file",
               "{\"path\": \"readme.txt\", \"root\": \"docs\", \"content\": "
               "\"x\"}",
               "denied");
  assert_string_equal(get_file(fx->ro, "readme.txt"), "read only\n");
  expect_error(fx, "write_file", "{\"path\": \"a\", \"content\": 1}",
               "invalid_argument");
  assert_int_equal(count_temp_files(fx->root), 0);
}

static void write_replaces_link_not_target(void **state)
{
  struct fixture *fx = *state;
  struct stat st;
  char path[256];

  expect_text(fx, "write_file",
              "{\"path\": \"link_rel\", \"content\": \"mine\"}",
              "wrote 4 bytes to 'link_rel' in root 'work'");
  assert_string_equal(get_file(fx->outside, "secret"), SECRET);
  snprintf(path, sizeof path, "%s/link_rel", fx->root);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_string_equal(get_file(fx->root, "link_rel"), "mine");
}

/* Fails a write part-way with RLIMIT_FSIZE in a child process, then checks
 * that the old content and no temporary file are left. */
static void failed_write_leaves_old_file(void **state)
{
  struct fixture *fx = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit lim = {16, 16};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
      _exit(10);
    json_t *args = json_pack("{ssss}", "path", "hello.txt", "content",
                             "0123456789012345678901234567890123456789");
    json_t *result = NULL;
    mvm_error err;
    mvm_tool_call_opts opts = {0};
    if (fx->tb.ops->call(fx->tb.self, "write_file", args, &opts, &result,
                         &err) != MVM_OK)
      _exit(11);
    if (!is_error(result))
      _exit(12);
    _exit(strcmp(error_kind(result), "limit") == 0 ? 0 : 13);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_string_equal(get_file(fx->root, "hello.txt"), "hello world\n");
  assert_int_equal(count_temp_files(fx->root), 0);
}

/* ---------------------------------------------------------------- config */

static void config_errors_name_the_root(void **state)
{
  struct fixture *fx = *state;
  mvm_builtin_fs_config cfg;
  mvm_toolbox tb;
  mvm_error err;
  mvm_builtin_fs_root missing = {"m", "/nonexistent/mvm-test", false};
  mvm_builtin_fs_root bad_name = {"a/b", fx->root, false};
  mvm_builtin_fs_root twice[2] = {{"a", fx->root, false},
                                  {"a", fx->ro, false}};

  mvm_builtin_fs_config_init(&cfg);
  assert_int_equal(mvm_builtin_fs_new(&cfg, &tb, &err), MVM_ECONFIG);
  cfg.roots = &missing;
  cfg.nroots = 1;
  assert_int_equal(mvm_builtin_fs_new(&cfg, &tb, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "/nonexistent/mvm-test"));
  cfg.roots = &bad_name;
  assert_int_equal(mvm_builtin_fs_new(&cfg, &tb, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "a/b"));
  cfg.roots = twice;
  cfg.nroots = 2;
  assert_int_equal(mvm_builtin_fs_new(&cfg, &tb, &err), MVM_ECONFIG);
  assert_non_null(strstr(err.msg, "twice"));
}

#define RESOLVER_TESTS(name)                                                  \
  cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,             \
                                           (void *)&resolver_openat2),        \
      cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,         \
                                               (void *)&resolver_walk)

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(list_has_four_tools, setup, teardown),
      RESOLVER_TESTS(read_file_returns_text),
      cmocka_unit_test_setup_teardown(read_file_replaces_bad_utf8, setup,
                                      teardown),
      RESOLVER_TESTS(read_file_rejects_bad_arguments),
      cmocka_unit_test_setup_teardown(unknown_tool_is_not_found, setup,
                                      teardown),
      RESOLVER_TESTS(list_directory_sorts_entries),
      cmocka_unit_test_setup_teardown(get_file_info_reports_links, setup,
                                      teardown),
      RESOLVER_TESTS(escapes_fail),
      cmocka_unit_test_setup_teardown(no_symlinks_rejects_inside_links, setup,
                                      teardown),
      RESOLVER_TESTS(swapped_link_never_escapes),
      cmocka_unit_test_setup_teardown(read_limit_is_enforced, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(write_limit_is_enforced, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(list_limit_truncates, setup, teardown),
      RESOLVER_TESTS(write_file_replaces_content),
      RESOLVER_TESTS(write_file_checks_target),
      cmocka_unit_test_setup_teardown(write_replaces_link_not_target, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(failed_write_leaves_old_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(config_errors_name_the_root, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
