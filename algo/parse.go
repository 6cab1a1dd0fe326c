package algo

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ParseQuota parses a quota written in throttled-py's grammar:
//
//	quota  = limit ( "/" | "per" ) period [ "burst" burst ]
//	period = [ n ] unit | duration
//	unit   = "s" | "sec" | "secs" | "second" | "seconds"
//	       | "m" | "min" | "mins" | "minute" | "minutes"
//	       | "h" | "hr" | "hrs" | "hour" | "hours"
//	       | "d" | "day" | "days"
//	       | "w" | "wk" | "wks" | "week" | "weeks"
//
// limit, n and burst are decimal integers of at least 1; n defaults to 1.
// Words are case-insensitive and any whitespace may separate the tokens; n
// and unit may also be written together ("2m"). A duration is a Go duration
// as [time.ParseDuration] reads it ("1.5s", "250ms"); it is how
// [Quota.String] writes a period that is not a whole number of seconds.
//
// Examples:
//
//	"100/s"              PerSec(100)
//	"100 / s"            PerSec(100)
//	"100 per second"     PerSec(100)
//	"120/2m"             PerDuration(2*time.Minute, 120)
//	"5 per 10 minutes"   PerDuration(10*time.Minute, 5)
//	"100/s burst 200"    PerSec(100).WithBurst(200)
//	"10/250ms"           PerDuration(250*time.Millisecond, 10)
//
// ParseQuota reads what Quota.String writes: for every quota q it returns,
// ParseQuota(q.String()) returns q again, except that an explicit burst equal
// to the limit comes back as 0 (the default, which means the same).
//
// ParseQuota checks the syntax only: it rejects empty input, a missing or
// non-numeric limit, numbers below 1 or beyond int64, unknown units, periods
// beyond time.Duration and trailing text, with a *DataError (matching
// ErrInvalid) that quotes the input and names the bad token. Whether the
// quota can be represented exactly (period of at least 1ms, whole
// microseconds, products within 2^52) is checked by Compile.
func ParseQuota(s string) (Quota, error) {
	fail := func(reason string, args ...any) (Quota, error) {
		return Quota{}, invalid("quota", s, reason, args...)
	}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return fail(`empty; want <limit>/<period> such as "100/s" or "5 per 10 minutes"`)
	}

	// The limit runs up to the first space or "/".
	end := strings.IndexFunc(rest, func(r rune) bool { return r == '/' || unicode.IsSpace(r) })
	if end < 0 {
		end = len(rest)
	}
	limitTok := rest[:end]
	rest = strings.TrimLeftFunc(rest[end:], unicode.IsSpace)
	switch {
	case limitTok == "":
		return fail(`missing limit before "/"`)
	case strings.EqualFold(limitTok, "per"):
		return fail(`missing limit before %q`, limitTok)
	}
	limit, reason := parseCount("limit", limitTok)
	if reason != "" {
		return fail("%s", reason)
	}

	// The separator, then the fields of the period and the burst.
	var fields []string
	var sep string
	if strings.HasPrefix(rest, "/") {
		sep, fields = "/", strings.Fields(rest[1:])
	} else {
		fields = strings.Fields(rest)
		if len(fields) == 0 {
			return fail(`missing "/" or "per" after the limit`)
		}
		if !strings.EqualFold(fields[0], "per") {
			return fail(`want "/" or "per" after the limit, got %q`, fields[0])
		}
		sep, fields = fields[0], fields[1:]
	}
	periodFields, burstFields := fields, []string(nil)
	for i, f := range fields {
		if strings.EqualFold(f, "burst") {
			periodFields, burstFields = fields[:i], fields[i:]
			break
		}
	}
	if len(periodFields) == 0 {
		return fail("missing period after %q", sep)
	}

	period, used, reason := parsePeriod(periodFields)
	if reason != "" {
		return fail("%s", reason)
	}
	if used < len(periodFields) {
		return fail("unexpected %q after the period", periodFields[used])
	}

	q := Quota{Rate: Rate{Period: period, Limit: limit}}
	if burstFields != nil {
		if len(burstFields) == 1 {
			return fail("missing number after %q", burstFields[0])
		}
		q.Burst, reason = parseCount("burst", burstFields[1])
		if reason != "" {
			return fail("%s", reason)
		}
		if len(burstFields) > 2 {
			return fail("unexpected %q after the burst", burstFields[2])
		}
	}
	return q, nil
}

// parseCount parses a decimal integer of at least 1; on failure it returns
// the reason, naming what and the token.
func parseCount(what, tok string) (int64, string) {
	v, err := strconv.ParseInt(tok, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, what + " " + strconv.Quote(tok) + " overflows int64"
	case err != nil:
		return 0, what + " " + strconv.Quote(tok) + " is not a number"
	case v < 1:
		return 0, what + " " + strconv.Quote(tok) + " must be at least 1"
	}
	return v, ""
}

// quotaUnits maps the unit words of the grammar to their lengths.
var quotaUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "wks": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// parsePeriod reads a period from the start of fields: "m", "2m", "2 m" or a
// Go duration. It returns the period and how many fields it used, or the
// reason it cannot.
func parsePeriod(fields []string) (period time.Duration, used int, reason string) {
	tok := fields[0]
	digits := tok[:len(tok)-len(strings.TrimLeftFunc(tok, isDigit))]
	word := tok[len(digits):]
	text := tok // the period as written, for messages
	used = 1
	if word == "" {
		// A bare count: the unit is the next field.
		if len(fields) < 2 {
			return 0, 0, "missing unit after " + strconv.Quote(tok)
		}
		word = fields[1]
		text = tok + " " + word
		used = 2
	}
	if unit, ok := quotaUnits[strings.ToLower(word)]; ok {
		n := int64(1)
		if digits != "" {
			var why string
			if n, why = parseCount("period count", digits); why != "" {
				return 0, 0, why
			}
		}
		if n > math.MaxInt64/int64(unit) {
			return 0, 0, "period " + strconv.Quote(text) + " overflows time.Duration (at most about 292 years)"
		}
		return time.Duration(n) * unit, used, ""
	}
	// Not n·unit: a Go duration such as "1.5s", "250ms" or "1h30m" (written
	// without spaces, or as "250 ms").
	goText := tok
	if used == 2 {
		if !isWord(word) {
			return 0, 0, "missing unit after " + strconv.Quote(tok)
		}
		goText = tok + word
	}
	if d, err := time.ParseDuration(strings.ToLower(goText)); err == nil {
		if d <= 0 {
			return 0, 0, "period " + strconv.Quote(text) + " must be positive"
		}
		return d, used, ""
	}
	if isWord(word) {
		return 0, 0, "unknown unit " + strconv.Quote(word) + " (want s, m, h, d or w)"
	}
	return 0, 0, "bad period " + strconv.Quote(text) + ` (want [<n>] <unit> such as "10m" or "10 minutes", or a Go duration such as "1.5s")`
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

// isWord reports whether s is made of letters only (a would-be unit).
func isWord(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return s != ""
}
