/* cmd_audit.c - `mvm audit`: verify the audit log's hash chain, show its
 * records as a timeline, and make a MAC key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "cli/cli.h"
#include "mvm.h"
#include "store/audit.h"
#include "store/paths.h"

/* Maximum bytes of one field printed in the timeline. Longer text is cut
 * and ends in "...". */
#define SHOW_FIELD_MAX 200
#define SHOW_LAST_MAX 1000000000ull

static void print_usage(FILE *out)
{
  fprintf(out,
          "usage: mvm audit verify [--db PATH] [--head HASH] "
          "[--key-file PATH]\n"
          "       mvm audit show [--db PATH] [--run ID] [--last N] "
          "[--json]\n"
          "       mvm audit keygen --out PATH\n"
          "\n"
          "verify  recomputes every record's hash and the links between "
          "them;\n"
          "        exits 0 and prints the record count and head hash when "
          "the\n"
          "        log is intact, or exits 9 naming the first bad record.\n"
          "show    prints records as a timeline: time, run, effect, "
          "target,\n"
          "        verdict, rule, reason and labels.\n"
          "keygen  writes a new random MAC key to a file with mode 0600.\n"
          "\n"
          "options:\n"
          "  --db PATH        audit database (default: "
          "$MVM_STATE_DIR/audit.db,\n"
          "                   else $XDG_STATE_HOME/mvm/audit.db, else\n"
          "                   ~/.local/state/mvm/audit.db)\n"
          "  --head HASH      a head hash kept from an earlier run (64 hex "
          "digits);\n"
          "                   verify fails unless the log contains it, "
          "which\n"
          "                   detects removed trailing records and a "
          "rebuilt chain\n"
          "  --key-file PATH  MAC key file; verify requires a valid MAC on "
          "every record\n"
          "  --run ID         show only the records of run ID\n"
          "  --last N         show only the last N records (after --run)\n"
          "  --json           show one JSON object per record and line\n"
          "  --out PATH       where keygen writes the key\n"
          "  -h, --help       print this help\n");
}

struct audit_args {
  const char *db;
  const char *head;
  const char *key_file;
  const char *run;
  const char *out;
  unsigned long long last;
  bool json;
};

enum { OPT_DB = 1, OPT_HEAD, OPT_KEY, OPT_RUN, OPT_LAST, OPT_JSON, OPT_OUT };

static const struct option long_options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"head", required_argument, NULL, OPT_HEAD},
    {"key-file", required_argument, NULL, OPT_KEY},
    {"run", required_argument, NULL, OPT_RUN},
    {"last", required_argument, NULL, OPT_LAST},
    {"json", no_argument, NULL, OPT_JSON},
    {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, const char *value)
{
  fprintf(stderr, "mvm audit: ");
  fprintf(stderr, fmt, value);
  fprintf(stderr, "; run 'mvm audit --help' for usage\n");
  return MVM_EXIT_USAGE;
}

static int parse_last(const char *text, unsigned long long *out)
{
  char *end = NULL;

  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
      n == 0 || n > SHOW_LAST_MAX)
    return -1;
  *out = n;
  return 0;
}

/* Parses the options after the subcommand name. Returns -1 when the
 * subcommand should run, or an exit code to return at once. */
static int parse_args(int argc, char **argv, struct audit_args *a)
{
  int c;

  /* glibc re-initializes getopt when optind is 0. */
  optind = 0;
  opterr = 0;
  /* The leading ':' makes a missing value return ':' rather than '?'. */
  while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_DB:
      a->db = optarg;
      break;
    case OPT_HEAD:
      a->head = optarg;
      break;
    case OPT_KEY:
      a->key_file = optarg;
      break;
    case OPT_RUN:
      a->run = optarg;
      break;
    case OPT_LAST:
      if (parse_last(optarg, &a->last) != 0)
        return usage_error("--last needs a whole number from 1 to "
                           "1000000000, not '%s'",
                           optarg);
      break;
    case OPT_JSON:
      a->json = true;
      break;
    case OPT_OUT:
      a->out = optarg;
      break;
    case 'h':
      print_usage(stdout);
      return MVM_EXIT_OK;
    case ':':
      return usage_error("option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return usage_error("unexpected argument '%s'", argv[optind]);
  return -1;
}

static int report_error(const char *what, const mvm_error *err)
{
  fprintf(stderr, "mvm audit %s: %s\n", what, err->msg);
  return mvm_cli_exit_code(err->code);
}

/* Opens the log read-only at --db or the default path. */
static int open_log(const struct audit_args *a, const unsigned char *key,
                    const char *what, mvm_audit **log, char *path,
                    size_t size)
{
  mvm_audit_options opts = {.db.mode = MVM_DB_READ_ONLY, .mac_key = key};
  mvm_error err;
  int rc;

  if (a->db != NULL) {
    snprintf(path, size, "%s", a->db);
  } else {
    rc = mvm_audit_default_path(path, size, &err);
    if (rc)
      return report_error(what, &err);
  }
  rc = mvm_audit_open(path, &opts, log, &err);
  if (rc)
    return report_error(what, &err);
  return MVM_EXIT_OK;
}

static void print_verified(const char *path, const mvm_audit_report *r,
                           bool keyed)
{
  char hex[MVM_AUDIT_HEX_SIZE];

  mvm_audit_hash_to_hex(r->head.hash, hex);
  printf("audit log '%s' is intact: %llu records\n", path,
         (unsigned long long)r->records);
  printf("head: %llu %s\n", (unsigned long long)r->head.seq, hex);
  if (r->known_head_found)
    printf("known head found at record %llu (%llu records after it)\n",
           (unsigned long long)r->known_head_seq,
           (unsigned long long)(r->head.seq - r->known_head_seq));
  if (keyed)
    printf("MAC checked on all %llu records\n",
           (unsigned long long)r->records);
  else if (r->macs > 0)
    printf("%llu records carry a MAC; pass --key-file to check them\n",
           (unsigned long long)r->macs);
}

static int cmd_verify(const struct audit_args *a)
{
  unsigned char known[MVM_AUDIT_HASH_BYTES];
  unsigned char key[MVM_AUDIT_KEY_BYTES];
  char path[4096];
  mvm_audit *log = NULL;
  mvm_audit_report report;
  mvm_error err;
  int code;

  if (a->head != NULL && mvm_audit_hash_from_hex(a->head, known, &err))
    return usage_error("%s", err.msg);
  if (a->key_file != NULL && mvm_audit_key_load(a->key_file, key, &err))
    return report_error("verify", &err);

  code = open_log(a, a->key_file != NULL ? key : NULL, "verify", &log, path,
                  sizeof path);
  sodium_memzero(key, sizeof key);
  if (code != MVM_EXIT_OK)
    return code;

  int rc = mvm_audit_verify(log, a->head != NULL ? known : NULL, &report,
                            &err);
  if (rc == MVM_OK) {
    print_verified(path, &report, a->key_file != NULL);
    code = MVM_EXIT_OK;
  } else if (rc == MVM_ETAMPER) {
    char hex[MVM_AUDIT_HEX_SIZE];
    mvm_audit_hash_to_hex(report.head.hash, hex);
    fprintf(stderr, "mvm audit verify: '%s' failed verification: %s\n", path,
            report.problem);
    if (report.records > 0)
      fprintf(stderr,
              "mvm audit verify: records 1 to %llu are intact; hash of "
              "record %llu: %s\n",
              (unsigned long long)report.records,
              (unsigned long long)report.head.seq, hex);
    code = MVM_EXIT_TAMPER;
  } else {
    code = report_error("verify", &err);
  }
  mvm_audit_close(log);
  return code;
}

/* Prints text with control characters escaped, cut to SHOW_FIELD_MAX
 * bytes. Record fields may contain text from tools and web pages, which
 * must not send escape sequences to the terminal. */
static void print_safe(const char *text)
{
  size_t n = 0;

  for (const unsigned char *p = (const unsigned char *)text; *p; p++, n++) {
    if (n == SHOW_FIELD_MAX) {
      fputs("...", stdout);
      return;
    }
    if (*p < 0x20 || *p == 0x7f)
      printf("\\x%02x", *p);
    else
      putchar(*p);
  }
}

static void print_field(const char *name, const json_t *value)
{
  if (value == NULL || json_is_null(value))
    return;
  printf("  %s%s", name, name[0] != '\0' ? "=" : "");
  if (json_is_string(value)) {
    print_safe(json_string_value(value));
    return;
  }
  char *text = mvm_json_dump_canonical(value);
  print_safe(text != NULL ? text : "?");
  free(text);
}

static void print_label(const char *name, const json_t *value)
{
  char text[256];
  mvm_label *label = NULL;

  if (value == NULL)
    return;
  if (mvm_label_from_json(value, &label, NULL) != MVM_OK) {
    printf("  %s=?", name);
    return;
  }
  mvm_label_format(label, text, sizeof text);
  mvm_label_unref(label);
  printf("  %s=", name);
  print_safe(text);
}

/* Prints one record of the timeline: the effect fields of decisions and
 * outcomes, the whole body of other kinds. */
static void print_record_text(const mvm_audit_record *rec, const json_t *body)
{
  printf("#%llu  %s  ", (unsigned long long)rec->seq, rec->time);
  print_safe(rec->run_id);
  printf("  ");
  print_safe(rec->kind);

  bool effect = json_is_string(json_object_get(body, "effect"));
  if (!effect) {
    print_field("", body);
    putchar('\n');
    return;
  }
  print_field("", json_object_get(body, "effect"));
  print_field("", json_object_get(body, "target"));
  print_field("", json_object_get(body, "verdict"));
  print_field("rule", json_object_get(body, "rule"));
  print_field("reason", json_object_get(body, "reason"));
  print_label("args", json_object_get(body, "args_label"));
  print_label("context", json_object_get(body, "context_label"));
  print_field("outcome", json_object_get(body, "outcome"));
  putchar('\n');
}

static int print_record_json(const mvm_audit_record *rec, json_t *body,
                             mvm_error *err)
{
  char hex[MVM_AUDIT_HEX_SIZE];

  mvm_audit_hash_to_hex(rec->hash, hex);
  json_t *line = json_pack("{s:I, s:s, s:s, s:s, s:s, s:O}", "seq",
                           (json_int_t)rec->seq, "run_id", rec->run_id,
                           "time", rec->time, "kind", rec->kind, "hash", hex,
                           "body", body);
  char *text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
  json_decref(line);
  if (text == NULL)
    return mvm_error_set(err, MVM_ENOMEM, "audit",
                         "cannot print record %llu: out of memory or text "
                         "that is not UTF-8",
                         (unsigned long long)rec->seq);
  puts(text);
  free(text);
  return MVM_OK;
}

struct show_ctx {
  const struct audit_args *args;
  uint64_t shown;
};

static int show_record(void *ctx, const mvm_audit_record *rec,
                       mvm_error *err)
{
  struct show_ctx *sc = ctx;
  const struct audit_args *a = sc->args;
  json_t *body = NULL;

  sc->shown++;

  /* A body that does not parse is shown as its text. */
  if (mvm_json_parse(rec->body, rec->body_len, NULL, "record body", &body,
                     NULL) != MVM_OK)
    body = json_stringn(rec->body, rec->body_len);
  if (body == NULL)
    body = json_string("(body is not UTF-8)");

  int rc = MVM_OK;
  if (a->json)
    rc = print_record_json(rec, body, err);
  else
    print_record_text(rec, body);
  json_decref(body);
  return rc;
}

static int cmd_show(const struct audit_args *a)
{
  char path[4096];
  mvm_audit *log = NULL;
  mvm_error err;
  int code = open_log(a, NULL, "show", &log, path, sizeof path);
  if (code != MVM_EXIT_OK)
    return code;

  struct show_ctx sc = {a, 0};
  int rc = mvm_audit_iterate(log, a->run, a->last, show_record, &sc, &err);
  code = rc == MVM_OK ? MVM_EXIT_OK : report_error("show", &err);
  /* An unknown run id is most likely a typo: say so instead of printing
   * nothing. */
  if (rc == MVM_OK && sc.shown == 0 && a->run != NULL) {
    fprintf(stderr, "mvm audit show: no records of run '%s' in '%s'; "
                    "'mvm audit show --last 20' lists recent runs\n",
            a->run, path);
    code = MVM_EXIT_FAIL;
  }
  if (fflush(stdout) != 0 && code == MVM_EXIT_OK) {
    fprintf(stderr, "mvm audit show: cannot write output: %s\n",
            strerror(errno));
    code = MVM_EXIT_IO;
  }
  mvm_audit_close(log);
  return code;
}

static int cmd_keygen(const struct audit_args *a)
{
  mvm_error err;

  if (a->out == NULL)
    return usage_error("%s", "keygen needs --out PATH");
  if (mvm_audit_key_create(a->out, &err) != MVM_OK)
    return report_error("keygen", &err);
  printf("wrote a new audit MAC key to '%s'\n", a->out);
  return MVM_EXIT_OK;
}

int mvm_cli_audit(int argc, char **argv)
{
  struct audit_args a = {0};

  if (argc < 2) {
    print_usage(stderr);
    return MVM_EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
      strcmp(sub, "help") == 0) {
    print_usage(stdout);
    return MVM_EXIT_OK;
  }

  int code = parse_args(argc - 1, argv + 1, &a);
  if (code >= 0)
    return code;
  if (strcmp(sub, "verify") == 0)
    return cmd_verify(&a);
  if (strcmp(sub, "show") == 0)
    return cmd_show(&a);
  if (strcmp(sub, "keygen") == 0)
    return cmd_keygen(&a);
  return usage_error("unknown subcommand '%s'", sub);
}
