/* schema_number.c - exact number comparison and JSON equality for JSON
 * Schema: jansson stores an integer as int64 and any other number as a
 * double, and JSON Schema compares them by mathematical value. */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "value/schema_internal.h"

static int compare_int(long long a, long long b)
{
  return (a > b) - (a < b);
}

/* Compares an int64 with a finite double without rounding either: the
 * double's integer part is compared first, then its fraction decides. */
static int compare_int_double(long long i, double d)
{
  if (d >= 9223372036854775808.0)
    return -1;
  if (d < -9223372036854775808.0)
    return 1;

  double whole = floor(d);
  long long w = (long long)whole;
  if (i != w)
    return compare_int(i, w);
  return d > whole ? -1 : 0;
}

int mvm_schema_number_compare(const json_t *a, const json_t *b)
{
  if (json_is_integer(a) && json_is_integer(b))
    return compare_int(json_integer_value(a), json_integer_value(b));
  if (json_is_integer(a))
    return compare_int_double(json_integer_value(a), json_real_value(b));
  if (json_is_integer(b))
    return -compare_int_double(json_integer_value(b), json_real_value(a));

  double x = json_real_value(a);
  double y = json_real_value(b);
  return (x > y) - (x < y);
}

/* Reads a number that is a whole value fitting int64 into *out. */
static bool whole_number(const json_t *v, long long *out)
{
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return true;
  }
  double d = json_real_value(v);
  if (floor(d) != d || d >= 9223372036854775808.0 ||
      d < -9223372036854775808.0)
    return false;
  *out = (long long)d;
  return true;
}

bool mvm_schema_is_multiple(const json_t *value, const json_t *divisor)
{
  long long x;
  long long m;

  /* Whole numbers are checked exactly, so 2^62 + 1 is not a multiple
   * of 2 even though a double cannot tell it from 2^62. */
  if (whole_number(value, &x) && whole_number(divisor, &m) && m > 0)
    return x % m == 0;

  double q = json_number_value(value) / json_number_value(divisor);
  if (!isfinite(q))
    return false;
  /* Decimal divisors such as 0.01 have no exact binary form, so the
   * quotient of a true multiple can miss a whole number by a few units in
   * the last place: 0.0075 / 0.0001 is 74.99999999999999. */
  double r = fabs(q - nearbyint(q));
  return r <= 4 * DBL_EPSILON * fmax(fabs(q), 1.0);
}

bool mvm_schema_json_equal(const json_t *a, const json_t *b)
{
  if (json_is_number(a) && json_is_number(b))
    return mvm_schema_number_compare(a, b) == 0;
  if (json_typeof(a) != json_typeof(b))
    return false;

  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b))
      return false;
    for (size_t i = 0; i < json_array_size(a); i++) {
      if (!mvm_schema_json_equal(json_array_get(a, i), json_array_get(b, i)))
        return false;
    }
    return true;
  }
  if (json_is_object(a)) {
    const char *key;
    const json_t *value;
    if (json_object_size(a) != json_object_size(b))
      return false;
    json_object_foreach((json_t *)a, key, value) {
      const json_t *other = json_object_get(b, key);
      if (other == NULL || !mvm_schema_json_equal(value, other))
        return false;
    }
    return true;
  }
  return json_equal((json_t *)a, (json_t *)b);
}
