/* test_policy_parse.c - the policy parser: every error message with its
 * position, the hard limits, and what a valid policy parses into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "monitor/policy.h"
#include "monitor/policy_internal.h"
#include "support.h"

struct parse_error_case {
  const char *text;
  int code;
  const char *where; /* "t.policy:line:col: " */
  const char *message; /* a part of the message */
};

static const struct parse_error_case error_cases[] = {
    /* tokens */
    {"allow tool \"a.b\\q\"\n", MVM_EPARSE, "t.policy:1:16: ",
     "unknown escape '\\q' in a string"},
    {"allow tool \"a.b\n", MVM_EPARSE, "t.policy:1:12: ",
     "has no closing \" on this line"},
    {"allow tool 'a.b\n", MVM_EPARSE, "t.policy:1:12: ",
     "has no closing ' on this line"},
    {"allow\ttool \"a.b\"\x01\n", MVM_EPARSE, "t.policy:1:17: ",
     "control character 0x01"},
    {"allow tool a.b;\n", MVM_EPARSE, "t.policy:1:15: ",
     "unexpected character ';'"},
    {"allow tool \xc3\xa9\n", MVM_EPARSE, "t.policy:1:12: ",
     "unexpected character '\xc3\xa9"},
    {"allow tool \"a.b\" \xff\n", MVM_EPARSE, "t.policy:1:18: ",
     "invalid UTF-8 byte 0xff"},
    {"allow tool \"a.b\" \xc0\xaf\n", MVM_EPARSE, "t.policy:1:18: ",
     "invalid UTF-8 byte 0xc0"},
    /* statements */
    {"allow\n", MVM_EPARSE, "t.policy:1:6: ",
     "expected an effect (tool, model, user.show, ...), found the end of "
     "the line"},
    {"permit tool \"a.b\"\n", MVM_EPARSE, "t.policy:1:1: ",
     "unknown statement 'permit'"},
    {"\"allow\" tool \"a.b\"\n", MVM_EPARSE, "t.policy:1:1: ",
     "a statement starts with a keyword, not a string"},
    {"{\n", MVM_EPARSE, "t.policy:1:1: ",
     "a statement starts with a keyword, not '{'"},
    {"}\n", MVM_EPARSE, "t.policy:1:1: ", "'}' closes no block"},
    {"allow tol \"a.b\"\n", MVM_EPARSE, "t.policy:1:7: ",
     "unknown effect 'tol'"},
    {"allow \"tool\" \"a.b\"\n", MVM_EPARSE, "t.policy:1:7: ",
     "unknown effect 'tool'"},
    {"allow tool\n", MVM_EPARSE, "t.policy:1:11: ",
     "a tool rule needs a name or pattern"},
    {"allow tool \"\"\n", MVM_EPARSE, "t.policy:1:12: ",
     "the tool pattern is empty"},
    {"allow tool readfile\n", MVM_EPARSE, "t.policy:1:12: ",
     "tool name 'readfile' has no server part"},
    {"allow model gpt-4o\n", MVM_EPARSE, "t.policy:1:13: ",
     "model 'gpt-4o' has no provider part"},
    {"allow user.show \"x\"\n", MVM_EPARSE, "t.policy:1:17: ",
     "a user.show rule takes no target name, found 'x'"},
    {"allow tool a.b c.d\n", MVM_EPARSE, "t.policy:1:16: ",
     "unexpected 'c.d'; the statement has ended"},
    {"allow tool a.b {\n", MVM_EPARSE, "t.policy:1:1: ",
     "the block opened here is not closed"},
    {"allow tool a.b {\n  } x\n", MVM_EPARSE, "t.policy:2:5: ",
     "unexpected 'x'"},
    {"version 2\n", MVM_EPARSE, "t.policy:1:9: ",
     "unsupported policy version '2'"},
    {"version\n", MVM_EPARSE, "t.policy:1:8: ", "unsupported policy version"},
    {"pin maybe\n", MVM_EPARSE, "t.policy:1:5: ",
     "expected ask, auto or off after 'pin'"},
    {"pin ask\npin off\n", MVM_EPARSE, "t.policy:2:1: ",
     "pin is already set on line 1"},
    /* sinks */
    {"sink disk readers a\n", MVM_EPARSE, "t.policy:1:6: ",
     "unknown sink 'disk'"},
    {"sink user a\n", MVM_EPARSE, "t.policy:1:11: ",
     "expected 'readers' after 'sink the user'"},
    {"sink user readers\n", MVM_EPARSE, "t.policy:1:18: ",
     "expected a reader name, everyone or none"},
    {"sink user readers a,\n", MVM_EPARSE, "t.policy:1:21: ",
     "expected a reader name"},
    {"sink user readers a\nsink user readers b\n", MVM_EPARSE,
     "t.policy:2:1: ", "the readers of the user are already declared on "
     "line 1"},
    {"sink provider openai readers a\nsink provider openai readers b\n",
     MVM_EPARSE, "t.policy:2:1: ",
     "the readers of provider 'openai' are already declared on line 1"},
    {"sink provider\n", MVM_EPARSE, "t.policy:1:14: ",
     "expected a provider name, e.g. openai"},
    {"sink user readers \"user\", everyone\n", MVM_EPARSE,
     "t.policy:1:19: ", "'everyone' in a list of readers would name a "
     "reader called 'everyone'; write 'readers everyone' or 'readers none' "
     "on its own"},
    {"sink memory readers \"user\", none\n", MVM_EPARSE, "t.policy:1:21: ",
     "'none' in a list of readers"},
    {"tool a.b {\n  result readers \"everyone\"\n}\n", MVM_EPARSE,
     "t.policy:2:18: ", "'everyone' in a list of readers"},
    {"tool a.b {\n  sink readers \"*\", \"user\"\n}\n", MVM_EPARSE,
     "t.policy:2:16: ", "'*' in a list of readers"},
    /* budgets */
    {"budget money 5\n", MVM_EPARSE, "t.policy:1:8: ",
     "unknown budget 'money'"},
    {"budget calls ten\n", MVM_EPARSE, "t.policy:1:14: ",
     "'ten' is not a whole number"},
    {"budget calls -1\n", MVM_EPARSE, "t.policy:1:14: ",
     "'-1' is not a whole number"},
    {"budget calls 1234567890123456\n", MVM_EPARSE, "t.policy:1:14: ",
     "is not a whole number from 0 to 999999999999999"},
    {"budget calls\n", MVM_EPARSE, "t.policy:1:13: ",
     "expected the number of calls (a whole number)"},
    {"budget calls mail 3\n", MVM_EPARSE, "t.policy:1:14: ",
     "tool name 'mail' has no server part"},
    {"budget tokens 5\nbudget tokens 6\n", MVM_EPARSE, "t.policy:2:8: ",
     "budget tokens is already set on line 1"},
    {"budget calls a.b 1\nbudget calls a.b 2\n", MVM_EPARSE,
     "t.policy:2:8: ", "budget calls a.b is already set on line 1"},
    {"budget cost abc\n", MVM_EPARSE, "t.policy:1:13: ",
     "'abc' is not a decimal number"},
    {"budget cost inf\n", MVM_EPARSE, "t.policy:1:13: ",
     "'inf' is not a decimal number"},
    {"budget cost 0x10\n", MVM_EPARSE, "t.policy:1:13: ",
     "'0x10' is not a decimal number"},
    {"budget cost -2\n", MVM_EPARSE, "t.policy:1:13: ",
     "the cost budget must be 0 or more USD"},
    {"budget time 5 minutes\n", MVM_EPARSE, "t.policy:1:15: ",
     "'5 minutes' is not a duration; write the unit right after the "
     "number, with s, m or h (5m)"},
    {"budget time 5d\n", MVM_EPARSE, "t.policy:1:13: ",
     "'5d' is not a duration"},
    {"budget time 0s\n", MVM_EPARSE, "t.policy:1:13: ",
     "duration '0s' must be positive and finite"},
    {"budget time\n", MVM_EPARSE, "t.policy:1:12: ",
     "expected a duration, e.g. 90s, 5m or 1h"},
    /* rule blocks */
    {"allow tool a.b {\n  arg\n}\n", MVM_EPARSE, "t.policy:2:6: ",
     "expected an argument name or *"},
    {"allow tool a.b {\n  arg x\n}\n", MVM_EPARSE, "t.policy:2:8: ",
     "expected a check after 'arg x'"},
    {"allow tool a.b {\n  arg x rnage 1\n}\n", MVM_EPARSE, "t.policy:2:9: ",
     "unknown check 'rnage'"},
    {"allow tool a.b {\n  arg x , 1\n}\n", MVM_EPARSE, "t.policy:2:9: ",
     "expected a check"},
    {"allow tool a.b {\n  arg x type text\n}\n", MVM_EPARSE,
     "t.policy:2:14: ", "unknown JSON type 'text'"},
    {"allow tool a.b {\n  arg x min\n}\n", MVM_EPARSE, "t.policy:2:12: ",
     "expected the minimum (a number), found the end of the line"},
    {"allow tool a.b {\n  arg x max \"5\"\n}\n", MVM_EPARSE,
     "t.policy:2:13: ", "expected the maximum (a number), found the string \"5\""},
    {"allow tool a.b {\n  arg x enum EUR\n}\n", MVM_EPARSE,
     "t.policy:2:14: ", "enum value 'EUR' must be a quoted string"},
    {"allow tool a.b {\n  arg x enum\n}\n", MVM_EPARSE, "t.policy:2:13: ",
     "expected an enum value"},
    {"allow tool a.b {\n  arg x pattern abc\n}\n", MVM_EPARSE,
     "t.policy:2:17: ", "expected a quoted regular expression"},
    {"allow tool a.b {\n  arg x pattern '(ab'\n}\n", MVM_EPARSE,
     "t.policy:2:21: ", "invalid regular expression '(ab': missing closing "
     "parenthesis at offset 3"},
    {"allow tool a.b {\n  arg x under \"srv\"\n}\n", MVM_EPARSE,
     "t.policy:2:15: ", "directory 'srv' must be an absolute path"},
    {"allow tool a.b {\n  arg x relative\n}\n", MVM_EPARSE,
     "t.policy:2:17: ", "'relative' needs the directory that the tool "
     "takes relative paths from, as in 'relative to \"/srv/files\"'"},
    {"allow tool a.b {\n  arg x under \"/a\" relative\n}\n", MVM_EPARSE,
     "t.policy:2:28: ", "'relative' needs the directory"},
    {"allow tool a.b {\n  arg x relative to \"/a\"\n}\n", MVM_EPARSE,
     "t.policy:2:7: ", "'relative to' needs an 'under DIR' check"},
    {"allow tool a.b {\n  arg x under \"/a\" relative to \"b\"\n}\n",
     MVM_EPARSE, "t.policy:2:32: ", "directory 'b' must be an absolute path"},
    {"allow tool a.b {\n  arg x under \"/a\" relative to\n}\n", MVM_EPARSE,
     "t.policy:2:31: ", "expected a directory after 'relative to'"},
    {"allow tool a.b {\n  arg x scheme \"https:\"\n}\n", MVM_EPARSE,
     "t.policy:2:16: ", "'https:' is not a URL scheme"},
    {"allow tool a.b {\n  arg x host \"a.*.com\"\n}\n", MVM_EPARSE,
     "t.policy:2:14: ", "host 'a.*.com' may use '*' only as its first "
     "label"},
    {"allow tool a.b {\n  arg x host \"a/b\"\n}\n", MVM_EPARSE,
     "t.policy:2:14: ", "invalid host 'a/b': 'a/b' is not a host name"},
    {"allow tool a.b {\n  arg x maxlen 1.5\n}\n", MVM_EPARSE,
     "t.policy:2:16: ", "'1.5' is not a whole number"},
    {"allow tool a.b {\n  arg x required forbidden\n}\n", MVM_EPARSE,
     "t.policy:2:7: ", "argument 'x' cannot be both required and "
     "forbidden"},
    {"allow tool a.b {\n  arg * required\n}\n", MVM_EPARSE,
     "t.policy:2:7: ", "'arg *' stands for arguments the rule does not "
     "name, so it cannot be required"},
    {"allow tool a.b {\n  args size 5\n}\n", MVM_EPARSE, "t.policy:2:8: ",
     "expected 'maxsize' after 'args'"},
    {"allow tool a.b {\n  args maxsize 5\n  args maxsize 6\n}\n",
     MVM_EPARSE, "t.policy:3:3: ", "the rule already has a 'args maxsize' "
     "line"},
    {"allow tool a.b {\n  reason why\n}\n", MVM_EPARSE, "t.policy:2:10: ",
     "expected a quoted sentence after 'reason'"},
    {"allow tool a.b {\n  reason \"a\"\n  reason \"b\"\n}\n", MVM_EPARSE,
     "t.policy:3:1: ", "the rule already has a reason"},
    {"allow tool a.b {\n  quarantined\n}\n", MVM_EPARSE, "t.policy:2:3: ",
     "'quarantined' does not belong in a tool rule; expected arg, args "
     "maxsize or reason"},
    {"allow user.show {\n  arg x required\n}\n", MVM_EPARSE,
     "t.policy:2:3: ", "'arg' does not belong in a user.show rule; "
     "expected reason"},
    {"allow endorse {\n  quarantined text\n}\n", MVM_EPARSE,
     "t.policy:2:15: ", "unknown query type 'text'"},
    {"allow endorse {\n  type string\n}\n", MVM_EPARSE, "t.policy:2:8: ",
     "unknown value type 'string'"},
    {"allow endorse {\n  type bool\n  type int\n}\n", MVM_EPARSE,
     "t.policy:3:3: ", "the rule already has a 'type' line"},
    {"allow endorse {\n  to a\n}\n", MVM_EPARSE, "t.policy:2:3: ",
     "'to' does not belong in a endorse rule; expected from, quarantined, "
     "type or reason"},
    {"allow declassify {\n  quarantined\n}\n", MVM_EPARSE,
     "t.policy:2:3: ", "expected to, type or reason"},
    {"allow endorse {\n  quarantined\n  quarantined\n}\n", MVM_EPARSE,
     "t.policy:3:3: ", "the rule already has a 'quarantined' line"},
    /* tool declarations */
    {"tool a.b {\n  readonly\n  consequential\n}\n", MVM_EPARSE,
     "t.policy:3:3: ", "the tool is already marked readonly on line 2"},
    {"tool a.b {\n  trusted-args\n}\n", MVM_EPARSE, "t.policy:2:15: ",
     "expected an argument name"},
    {"tool a.b {\n  trusted-args a\n  trusted-args b\n}\n", MVM_EPARSE,
     "t.policy:3:3: ", "trusted-args is already set on line 2"},
    {"tool a.b {\n  untrusted-context allow\n}\n", MVM_EPARSE,
     "t.policy:2:21: ", "expected deny or ask after 'untrusted-context'"},
    {"tool a.b {\n  untrusted-context ask\n  untrusted-context deny\n}\n",
     MVM_EPARSE, "t.policy:3:3: ", "untrusted-context is already set on "
     "line 2"},
    {"tool a.b {\n  sink a\n}\n", MVM_EPARSE, "t.policy:2:8: ",
     "expected 'readers' after 'sink'"},
    {"tool a.b {\n  sink readers a\n  sink readers b\n}\n", MVM_EPARSE,
     "t.policy:3:1: ", "the sink readers of this tool are already declared "
     "on line 2"},
    {"tool a.b {\n  result maybe\n}\n", MVM_EPARSE, "t.policy:2:10: ",
     "expected trusted, untrusted SOURCE..., readers READER... or secret, "
     "found 'maybe'"},
    {"tool a.b {\n  result untrusted\n}\n", MVM_EPARSE, "t.policy:2:19: ",
     "expected an integrity source"},
    {"tool a.b {\n  result trusted when path\n}\n", MVM_EPARSE,
     "t.policy:2:23: ", "expected 'arg NAME CHECK...' after 'when'"},
    {"tool a.b {\n  result trusted when arg * required\n}\n", MVM_EPARSE,
     "t.policy:2:27: ", "cannot be required"},
    {"tool a.b {\n  result trusted when arg * maxlen 3\n}\n", MVM_EPARSE,
     "t.policy:2:27: ", "a 'when' condition must name one argument, not *"},
    {"tool a.b {\n  field\n}\n", MVM_EPARSE, "t.policy:2:8: ",
     "expected a field name of the result's structuredContent"},
    {"tool a.b {\n  arg x required\n}\n", MVM_EPARSE, "t.policy:2:3: ",
     "'arg' does not belong in a tool declaration"},
    {"tool a.b consequential extra\n", MVM_EPARSE, "t.policy:1:24: ",
     "unexpected 'extra'"},
    /* numbers, durations, names */
    {"budget cost 1e\n", MVM_EPARSE, "t.policy:1:13: ",
     "'1e' is not a decimal number; write the cost in USD like 12 or 0.5"},
    {"budget calls 99999999999999999\n", MVM_EPARSE, "t.policy:1:14: ",
     "is not a whole number from 0 to 999999999999999; write the number "
     "of calls in digits"},
    {"allow tool a.b {\n  arg x maxlen 1.5\n}\n", MVM_EPARSE,
     "t.policy:2:16: ", "'1.5' is not a whole number"},
    {"budget time 5x\n", MVM_EPARSE, "t.policy:1:13: ",
     "'5x' is not a duration; write a number of seconds, or a number with "
     "s, m or h (90s, 5m, 1h)"},
    {"allow model \"gpt-4o\"\n", MVM_EPARSE, "t.policy:1:13: ",
     "model 'gpt-4o' has no provider part; write PROVIDER:MODEL"},
    {"allow tool a.b {\n  arg x scheme \"https:\"\n}\n", MVM_EPARSE,
     "t.policy:2:16: ", "'https:' is not a URL scheme; write it without ':'"},
    {"allow tool a.b {\n  arg x\n}\n", MVM_EPARSE, "t.policy:2:8: ",
     "expected a check after 'arg x': required, forbidden, type"},
    {"budget cost \"1\"\n", MVM_EPARSE, "t.policy:1:13: ",
     "expected the cost in USD (a number), found the string \"1\""},
    {"allow tool a.b {\n  arg x enum {\n}\n", MVM_EPARSE,
     "t.policy:2:14: ", "expected an enum value (a quoted string, a number, "
     "true, false or null)"},
};

static void error_messages(void **state)
{
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    const struct parse_error_case *c = &error_cases[i];
    size_t len = strlen(c->text);
    mvm_policy *p = NULL;
    mvm_error err;

    mvm_error_clear(&err);
    int rc = mvm_policy_parse(c->text, len, "t.policy", &p, &err);
    if (rc != c->code)
      fail_msg("case %zu (%s): status %d, expected %d: %s", i, c->text, rc,
               c->code, err.msg);
    assert_null(p);
    if (strncmp(err.msg, c->where, strlen(c->where)) != 0)
      fail_msg("case %zu: message '%s' does not start with '%s'", i, err.msg,
               c->where);
    if (strstr(err.msg, c->message) == NULL)
      fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, c->message);
  }
}

static void nul_byte(void **state)
{
  static const char text[] = "pin ask\nallow\0 tool\n";
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_parse(text, sizeof text - 1, "t.policy", &p,
                                    &err),
                   MVM_EPARSE);
  assert_string_equal(err.msg, "t.policy:2:6: NUL byte in the policy text");
}

/* Editors may start a UTF-8 file with a byte order mark, which is
 * skipped; columns on the first line count from after it. Elsewhere it
 * is an unexpected character. */
static void byte_order_mark(void **state)
{
  static const char ok[] = "\xef\xbb\xbfversion 1\nallow user.show\n";
  static const char bad[] = "\xef\xbb\xbfpermit user.show\n";
  static const char inner[] = "version 1\n\xef\xbb\xbf" "allow user.show\n";
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_parse(ok, sizeof ok - 1, "t.policy", &p, &err),
                   MVM_OK);
  assert_int_equal(p->nrules, 1);
  mvm_policy_free(p);
  p = NULL;

  assert_int_equal(mvm_policy_parse(bad, sizeof bad - 1, "t.policy", &p,
                                    &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "t.policy:1:1: unknown statement "
                                  "'permit'"));
  assert_int_equal(mvm_policy_parse(inner, sizeof inner - 1, "t.policy", &p,
                                    &err),
                   MVM_EPARSE);
  assert_non_null(strstr(err.msg, "t.policy:2:1: unexpected character"));
}

/* `relative to` keeps its directory, without a trailing slash. */
static void relative_base_parses(void **state)
{
  static const char text[] =
      "allow tool a.b {\n"
      "  arg path under \"/srv/x/notes\" relative to \"/srv/x/\"\n"
      "}\n";
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_parse(text, sizeof text - 1, "t.policy", &p,
                                    &err),
                   MVM_OK);
  const pol_argspec *spec = &p->rules[0].args[0];
  assert_true(spec->relative);
  assert_int_equal(spec->nchecks, 2);
  assert_int_equal(spec->checks[1].kind, CK_RELATIVE);
  assert_string_equal(spec->checks[1].text, "/srv/x");
  mvm_policy_free(p);
}

static char *repeat_lines(const char *line, size_t n)
{
  size_t len = strlen(line);
  char *text = malloc(len * n + 1);
  assert_non_null(text);
  for (size_t i = 0; i < n; i++)
    memcpy(text + i * len, line, len);
  text[len * n] = '\0';
  return text;
}

static void limit_bytes(void **state)
{
  size_t n = MVM_POLICY_MAX_BYTES + 1;
  char *text = malloc(n);
  mvm_policy *p = NULL;
  mvm_error err;

  assert_non_null(text);
  memset(text, '\n', n);
  assert_int_equal(mvm_policy_parse(text, n, "big", &p, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "over the limit of 1048576"));
  free(text);
}

static void limit_line(void **state)
{
  char *text = repeat_lines("#", MVM_POLICY_MAX_LINE + 1);
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_parse(text, strlen(text), "t", &p, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "t:1:4097: the line is 4097 bytes"));
  free(text);
}

static void limit_tokens(void **state)
{
  char *items = repeat_lines("a,", 200);
  char *text = NULL;
  mvm_policy *p = NULL;
  mvm_error err;

  assert_true(asprintf(&text, "sink user readers %sa\n", items) > 0);
  assert_int_equal(mvm_policy_parse(text, strlen(text), "t", &p, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "the line has more than 256 tokens"));
  free(items);
  free(text);
}

static void limit_statements(void **state)
{
  char *text = repeat_lines("allow tool a.b\n", MVM_POLICY_MAX_STATEMENTS +
                                                    1);
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_parse(text, strlen(text), "t", &p, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "t:20001:1: the policy has more than "
                                  "20000 statements"));
  free(text);
}

static void limit_block_lines(void **state)
{
  char *body = repeat_lines("  arg x required\n",
                            MVM_POLICY_MAX_BLOCK_LINES + 1);
  char *text = NULL;
  mvm_policy *p = NULL;
  mvm_error err;

  assert_true(asprintf(&text, "allow tool a.b {\n%s}\n", body) > 0);
  assert_int_equal(mvm_policy_parse(text, strlen(text), "t", &p, &err),
                   MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "the block opened on line 1 has more "
                                  "than 512 lines"));
  free(body);
  free(text);
}

static void valid_policy_parses(void **state)
{
  static const char text[] =
      "# a comment\r\n"
      "version 1\n"
      "pin auto   # trailing comment\n"
      "\n"
      "allow tool 'files.read_file' {\n"
      "  arg path required type string under \"/srv/x/\"\n"
      "  arg n type integer, number min -1 max 1e3\n"
      "  arg mode enum \"r\", 'w', 1, true, null\n"
      "  arg * forbidden\n"
      "}\n"
      "deny tool files.*\n"
      "tool \"files.read_file\" readonly {\n"
      "  result untrusted \"file\", \"disk\"\n"
      "  result readers \"user\" when arg path under \"/srv/x/private\"\n"
      "  field \"meta\" trusted\n"
      "}\n"
      "sink provider \"openai\" readers everyone\n"
      "budget calls files.read_file 3\n"
      "budget time 1.5m\n";
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_parse(text, sizeof text - 1, "dir/v.policy",
                                    &p, &err),
                   MVM_OK);
  assert_int_equal(p->nrules, 2);
  assert_int_equal(p->rules[0].nargs, 4);
  assert_string_equal(p->rules[0].args[0].checks[2].text, "/srv/x");
  assert_int_equal(p->rules[0].args[1].checks[0].types,
                   JT_INTEGER | JT_NUMBER);
  assert_true(p->rules[0].args[1].checks[1].number == -1);
  assert_true(p->rules[0].args[1].checks[2].number == 1000);
  assert_int_equal(json_array_size(p->rules[0].args[2].checks[0].values), 5);
  assert_null(p->rules[0].args[3].name);
  assert_int_equal(p->pin, PIN_AUTO);
  assert_int_equal(p->ntools, 1);
  assert_int_equal(p->tools[0].consequential, 0);
  assert_int_equal(p->tools[0].nlabels, 3);
  assert_non_null(p->tools[0].labels[1].when);
  assert_string_equal(p->tools[0].labels[2].field, "meta");
  assert_int_equal(p->nbudgets, 2);
  assert_true(p->budgets[1].limit == 90);
  assert_int_equal(p->providers[0].kind, SINK_EVERYONE);
  assert_string_equal(p->loc_name, "v.policy");
  assert_null(mvm_policy_lock_path(p));
  mvm_policy_free(p);
}

static void example_policies_parse(void **state)
{
  static const char *const files[] = {
      "examples/policies/files.policy", "examples/policies/email.policy",
      "examples/policies/payments.policy"};

  for (size_t i = 0; i < 3; i++) {
    mvm_policy *p = NULL;
    mvm_error err;
    int rc = mvm_policy_load_file(mvm_test_path(files[i]), &p, &err);
    if (rc != MVM_OK)
      fail_msg("%s: %s", files[i], err.msg);
    assert_non_null(strstr(mvm_policy_lock_path(p), ".policy.lock"));
    mvm_policy_free(p);
  }
}

static void load_file_too_big(void **state)
{
  char path[] = "/tmp/mvm-test-policy-big-XXXXXX";
  int fd = mkstemp(path);
  mvm_policy *p = NULL;
  mvm_error err;

  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  for (size_t i = 0; i <= MVM_POLICY_MAX_BYTES / 8; i++)
    fputs("#######\n", f);
  fclose(f);
  assert_int_equal(mvm_policy_load_file(path, &p, &err), MVM_ELIMIT);
  assert_non_null(strstr(err.msg, "the policy is over the limit of "
                                  "1048576 bytes"));
  assert_null(p);
  unlink(path);
}

static void load_missing_file(void **state)
{
  mvm_policy *p = NULL;
  mvm_error err;

  assert_int_equal(mvm_policy_load_file("/nonexistent/x.policy", &p, &err),
                   MVM_ENOTFOUND);
  assert_non_null(strstr(err.msg, "cannot open policy file "
                                  "'/nonexistent/x.policy'"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(error_messages),
      cmocka_unit_test(nul_byte),
      cmocka_unit_test(byte_order_mark),
      cmocka_unit_test(relative_base_parses),
      cmocka_unit_test(limit_bytes),
      cmocka_unit_test(limit_line),
      cmocka_unit_test(limit_tokens),
      cmocka_unit_test(limit_statements),
      cmocka_unit_test(limit_block_lines),
      cmocka_unit_test(valid_policy_parses),
      cmocka_unit_test(example_policies_parse),
      cmocka_unit_test(load_file_too_big),
      cmocka_unit_test(load_missing_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
