/*
 * RFC 3339 timestamps to and from microseconds since the epoch (UTC). The
 * calendar arithmetic is done here, not with gmtime/timegm, so neither the
 * process time zone nor the C library's range limits can change a result.
 */
#include <stdint.h>
#include <string.h>

#include <agentrail/query.h>

#include "internal.h"

#define US_PER_SEC  INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: what 4-digit years can say. */
#define MIN_US (INT64_C(-62167219200) * US_PER_SEC)
#define MAX_US (INT64_C(253402300800) * US_PER_SEC - 1)

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int atr__days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date. Counting years from
 * March makes the leap day the last day of the year, so the day of the year
 * follows from the month by one linear formula.
 */
int64_t atr__days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of atr__days_from_civil. */
void atr__civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Exactly 'n' decimal digits at 's'; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int bad(const char *text, const char *why)
{
	return atr__err(ATR_EINVALID, "'%.64s' is not an RFC 3339 timestamp: %s", text, why);
}

int atr_time_parse(const char *text, int64_t *us)
{
	const char *s = text;
	int year, mon, day, hour, min, sec, frac = 0, off = 0;
	int64_t t;

	if (!text)
		return atr__err(ATR_EINVALID, "no timestamp given");
	/* Check each separator before reading past it: 's' never passes the NUL. */
	if ((year = digits(s, 4)) < 0 || s[4] != '-' || (mon = digits(s + 5, 2)) < 0 ||
	    s[7] != '-' || (day = digits(s + 8, 2)) < 0)
		return bad(text, "expected YYYY-MM-DD");
	if (s[10] != 'T' && s[10] != 't')
		return bad(text, "expected 'T' after the date");
	if ((hour = digits(s + 11, 2)) < 0 || s[13] != ':' || (min = digits(s + 14, 2)) < 0 ||
	    s[16] != ':' || (sec = digits(s + 17, 2)) < 0)
		return bad(text, "expected HH:MM:SS after the date");
	if (mon < 1 || mon > 12)
		return bad(text, "month out of range");
	if (day < 1 || day > atr__days_in_month(year, mon))
		return bad(text, "day out of range for the month");
	if (hour > 23 || min > 59)
		return bad(text, "time of day out of range");
	if (sec > 59)
		return bad(text, "seconds out of range (leap seconds are not supported)");
	s += 19;
	if (*s == '.') {
		int n = 0;

		/* Up to nanoseconds; digits past the microsecond are dropped, not rounded. */
		for (s++; *s >= '0' && *s <= '9'; s++, n++) {
			if (n >= 9)
				return bad(text, "more than 9 fractional digits");
			if (n < 6)
				frac = frac * 10 + (*s - '0');
		}
		if (n == 0)
			return bad(text, "expected digits after '.'");
		for (; n < 6; n++)
			frac *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int oh, om;

		if ((oh = digits(s + 1, 2)) < 0 || s[3] != ':' || (om = digits(s + 4, 2)) < 0)
			return bad(text, "expected an offset like +02:00");
		if (oh > 23 || om > 59)
			return bad(text, "offset out of range");
		off = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
		s += 6;
	} else {
		return bad(text, "expected 'Z' or an offset like +02:00");
	}
	if (*s)
		return bad(text, "unexpected text after the timestamp");
	t = (atr__days_from_civil(year, mon, day) * SEC_PER_DAY + hour * 3600 + min * 60 + sec -
	     off) *
	        US_PER_SEC +
	    frac;
	if (t < MIN_US || t > MAX_US)
		return bad(text, "outside years 0000 to 9999 in UTC");
	*us = t;
	return 0;
}

static void put_digits(char *out, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void atr_time_format(int64_t us, char out[28])
{
	int64_t days, secs, y;
	int m, d, frac;

	/* Clamp so the text always has the fixed shape. */
	if (us < MIN_US)
		us = MIN_US;
	if (us > MAX_US)
		us = MAX_US;
	days = us / US_PER_SEC / SEC_PER_DAY;
	secs = us / US_PER_SEC - days * SEC_PER_DAY;
	frac = (int)(us % US_PER_SEC);
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	if (secs < 0) {
		secs += SEC_PER_DAY;
		days--;
	}
	atr__civil_from_days(days, &y, &m, &d);
	/* By hand: this runs for every event, and snprintf costs more than the rest. */
	put_digits(out, (int)y, 4);
	out[4] = '-';
	put_digits(out + 5, m, 2);
	out[7] = '-';
	put_digits(out + 8, d, 2);
	out[10] = 'T';
	put_digits(out + 11, (int)(secs / 3600), 2);
	out[13] = ':';
	put_digits(out + 14, (int)(secs / 60 % 60), 2);
	out[16] = ':';
	put_digits(out + 17, (int)(secs % 60), 2);
	out[19] = '.';
	put_digits(out + 20, frac, 6);
	out[26] = 'Z';
	out[27] = '\0';
}
