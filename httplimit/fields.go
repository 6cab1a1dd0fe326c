package httplimit

import (
	"net/http"
	"strconv"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
)

// The response fields the middleware writes, in net/http's canonical form
// (field names are case-insensitive; HTTP/2 and HTTP/3 send them in lower
// case anyway).
const (
	HeaderRateLimit       = "Ratelimit"        // RateLimit, draft-ietf-httpapi-ratelimit-headers-10 §4
	HeaderRateLimitPolicy = "Ratelimit-Policy" // RateLimit-Policy, the draft's §3
	HeaderRetryAfter      = "Retry-After"      // RFC 9110 §10.2.3, in delay-seconds
	HeaderLegacyLimit     = "X-Ratelimit-Limit"
	HeaderLegacyRemaining = "X-Ratelimit-Remaining"
	HeaderLegacyReset     = "X-Ratelimit-Reset"
)

// DefaultPolicyName is the RateLimit name of a limiter's one unnamed quota.
// Unnamed quotas of a limiter with several are named "quota1", "quota2", …
// by their position.
const DefaultPolicyName = "default"

// BurstParam is the vendor parameter of a RateLimit-Policy item that gives a
// bucket quota's burst when it differs from q (the draft asks for vendor
// prefixes on parameters of its own).
const BurstParam = "throttled-burst"

// seconds returns d in whole seconds, rounded up: a client told to wait it
// never comes back early.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// quotaName returns the RateLimit name of quota i of n named name.
func quotaName(name string, i, n int) string {
	if name != "" {
		return name
	}
	if n == 1 {
		return DefaultPolicyName
	}
	return "quota" + strconv.Itoa(i+1)
}

// validName reports whether s can be an sf-string: printable ASCII.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// appendString appends s as an sf-string (RFC 9651 §4.1.6); s is printable
// ASCII.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// appendPolicy appends q's RateLimit-Policy item: q = the limit, w = the
// period in seconds rounded up, qu when unit is set, and the burst when a
// bucket's differs from the limit.
func appendPolicy(b []byte, name string, q algo.Quota, unit string) []byte {
	b = appendString(b, name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, q.Limit, 10)
	if unit != "" {
		b = append(b, ";qu="...)
		b = appendString(b, unit)
	}
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, seconds(q.Period), 10)
	if q.Algorithm.IsBucket() && q.EffectiveBurst() != q.Limit {
		b = append(b, ';')
		b = append(b, BurstParam...)
		b = append(b, '=')
		b = strconv.AppendInt(b, q.EffectiveBurst(), 10)
	}
	return b
}

// reset returns a quota's t: the seconds until a denied request passes, or
// until the quota is whole again.
func reset(limited bool, s throttled.State) int64 {
	if limited && s.RetryAfter != throttled.Never {
		return seconds(s.RetryAfter)
	}
	return seconds(s.ResetAfter)
}

// appendLimit appends one RateLimit item: r and, when not 0, t.
func appendLimit(b []byte, name string, limited bool, s throttled.State) []byte {
	b = appendString(b, name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, s.Remaining, 10)
	if t := reset(limited, s); t > 0 {
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, t, 10)
	}
	return b
}

// policies is what the middleware knows of a limiter's quotas before any
// request: their names and RateLimit-Policy field; nil with a quota func.
type policies struct {
	names  []string
	header string
}

// staticPolicies checks qs's names and renders their RateLimit-Policy.
func staticPolicies(qs []algo.Quota, unit string) (*policies, error) {
	p := &policies{names: make([]string, len(qs))}
	var b []byte
	seen := map[string]bool{}
	for i, q := range qs {
		name := quotaName(q.Name, i, len(qs))
		if !validName(name) {
			return nil, &algo.DataError{Name: "quota name", Value: name, Reason: "must be printable ASCII to be sent in RateLimit fields"}
		}
		if seen[name] {
			return nil, &algo.DataError{Name: "quota name", Value: name, Reason: "names two quotas: RateLimit fields need distinct names"}
		}
		seen[name] = true
		p.names[i] = name
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPolicy(b, name, q, unit)
	}
	p.header = string(b)
	return p, nil
}

// dynamicName returns the name of quota i of n from a quota func: its own
// when it can be sent, else its positional default.
func dynamicName(q algo.Quota, i, n int) string {
	if q.Name != "" && validName(q.Name) {
		return q.Name
	}
	return quotaName("", i, n)
}

// setFields writes the RateLimit fields of res (and the legacy ones when
// asked) to h. It allocates one slice for every value.
func (m *Middleware) setFields(h http.Header, res *throttled.Result) {
	n := 2
	if m.legacy {
		n = 5
	}
	vals := make([]string, n)
	var arr [256]byte
	b := arr[:0]

	// RateLimit-Policy.
	switch {
	case m.static != nil:
		vals[0] = m.static.header
	case res.Quotas != nil:
		for i, q := range res.Quotas {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendPolicy(b, dynamicName(q.Quota, i, len(res.Quotas)), q.Quota, m.unit)
		}
		vals[0] = string(b)
		b = b[:0]
	case res.Quota != nil: // one quota, from a quota func
		vals[0] = string(appendPolicy(b, dynamicName(*res.Quota, 0, 1), *res.Quota, m.unit))
	}
	if vals[0] != "" {
		h[HeaderRateLimitPolicy] = vals[0:1:1]
	}
	if res.Source == throttled.FromFailOpen {
		return // nothing was decided: no state to tell
	}

	// RateLimit.
	least := 0 // the quota the legacy fields describe: the least Remaining
	if res.Quotas == nil {
		name := DefaultPolicyName
		if m.static != nil {
			name = m.static.names[0]
		} else if res.Quota != nil {
			name = dynamicName(*res.Quota, 0, 1)
		}
		b = appendLimit(b, name, res.Limited, res.State)
	} else {
		for i, q := range res.Quotas {
			if i > 0 {
				b = append(b, ", "...)
			}
			name := ""
			if m.static != nil && i < len(m.static.names) {
				name = m.static.names[i]
			} else {
				name = dynamicName(q.Quota, i, len(res.Quotas))
			}
			b = appendLimit(b, name, q.Limited, q.State)
			if q.State.Remaining < res.Quotas[least].State.Remaining {
				least = i
			}
		}
	}
	vals[1] = string(b)
	h[HeaderRateLimit] = vals[1:2:2]

	if !m.legacy {
		return
	}
	resetAfter := res.State.ResetAfter
	if res.Quotas != nil {
		resetAfter = res.Quotas[least].State.ResetAfter
	}
	var rs int64
	if res.Limited && res.State.RetryAfter != throttled.Never {
		rs = seconds(res.State.RetryAfter)
	} else {
		rs = seconds(resetAfter)
	}
	vals[2] = strconv.FormatInt(res.State.Limit, 10)
	vals[3] = strconv.FormatInt(res.State.Remaining, 10)
	vals[4] = strconv.FormatInt(rs, 10)
	h[HeaderLegacyLimit] = vals[2:3:3]
	h[HeaderLegacyRemaining] = vals[3:4:4]
	h[HeaderLegacyReset] = vals[4:5:5]
}
