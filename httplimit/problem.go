package httplimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/throttled-go/throttled"
)

// Problem types of the responses the middleware writes.
const (
	// TypeQuotaExceeded is the problem type of a 429, from
	// draft-ietf-httpapi-ratelimit-headers-10 §5.1.
	TypeQuotaExceeded = "https://iana.org/assignments/http-problem-types#quota-exceeded"
	// TitleQuotaExceeded is its title, as the draft gives it.
	TitleQuotaExceeded = "Request cannot be satisfied as assigned quota has been exceeded"
)

// Problem is an RFC 9457 problem details object, as the middleware writes
// it in application/problem+json. ViolatedPolicies (the draft's
// violated-policies) names the quotas that denied a 429; RetryAfter repeats
// its Retry-After field, in seconds. Both are left out when empty.
type Problem struct {
	Type             string   `json:"type"`
	Title            string   `json:"title"`
	Status           int      `json:"status"`
	Detail           string   `json:"detail,omitempty"`
	ViolatedPolicies []string `json:"violated-policies,omitempty"`
	RetryAfter       int64    `json:"retry-after,omitempty"`
}

// WriteProblem writes p with status p.Status as application/problem+json,
// with its Content-Length; a HEAD request gets the fields without the body.
// Fields already set on w (RateLimit, Retry-After) are kept.
func WriteProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	body, _ := json.Marshal(p) // strings and integers: it cannot fail
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client may be gone: nothing to do about it
	}
}

// Denial is a request the limiter denied, as a DeniedHandler sees it.
type Denial struct {
	Key    string           // the request's key
	Cost   int64            // its cost
	Result throttled.Result // the limiter's decision (Limited is set)
	// Violated names the quotas that denied the request, in the limiter's
	// order, as the RateLimit fields name them.
	Violated []string
	// RetryAfter is when the request would pass with no other traffic,
	// rounded up to whole seconds, as the Retry-After field says; 0 when it
	// never can (its cost exceeds a quota's capacity), and then no
	// Retry-After is sent.
	RetryAfter time.Duration
}

// Problem returns the default problem for d: 429 Too Many Requests of type
// TypeQuotaExceeded, naming the violated quotas and the retry delay.
func (d *Denial) Problem() Problem {
	p := Problem{
		Type:             TypeQuotaExceeded,
		Title:            TitleQuotaExceeded,
		Status:           http.StatusTooManyRequests,
		ViolatedPolicies: d.Violated,
		RetryAfter:       int64(d.RetryAfter / time.Second),
	}
	quotas := "Quota " + quoteList(d.Violated)
	if len(d.Violated) > 1 {
		quotas = "Quotas " + quoteList(d.Violated)
	}
	if d.RetryAfter == 0 {
		p.Detail = fmt.Sprintf("%s cannot ever admit a request of cost %d.", quotas, d.Cost)
	} else {
		p.Detail = fmt.Sprintf("%s exceeded: retry in %d s.", quotas, p.RetryAfter)
	}
	return p
}

// quoteList renders names as "a", "b".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// Error is a request the middleware could not decide, as an ErrorHandler
// sees it. It wraps the cause: match it with errors.Is (ErrBadRequest,
// throttled.ErrUnavailable, context.Canceled, …).
type Error struct {
	// Status is the status the default handler answers: 400 for
	// ErrBadRequest; 503 when the store is unavailable (fail-closed outage
	// policy) or the request's context ended first (the client went away);
	// 500 otherwise.
	Status int
	Op     string // what failed: "key", "cost" or "limit"
	Key    string // the request's key; "" when Op is "key"
	Err    error
	// RetryAfter is the Retry-After of a 503 outage (WithOutageRetryAfter),
	// already set on the response; 0 otherwise.
	RetryAfter time.Duration
}

// Error returns "httplimit: " + Op + ": " + the cause.
func (e *Error) Error() string { return "httplimit: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Problem returns the default problem for e, of type about:blank with the
// status's title. A 400 shows the cause's message, meant for the client; a
// 500 or 503 does not show it, as it may name servers or keys.
func (e *Error) Problem() Problem {
	p := Problem{Type: "about:blank", Title: http.StatusText(e.Status), Status: e.Status, RetryAfter: int64(e.RetryAfter / time.Second)}
	switch {
	case e.Status == http.StatusBadRequest:
		p.Detail = strings.TrimPrefix(e.Err.Error(), ErrBadRequest.Error()+": ")
	case e.RetryAfter > 0:
		p.Detail = fmt.Sprintf("The rate limiter is unavailable: retry in %d s.", p.RetryAfter)
	case e.Status == http.StatusServiceUnavailable:
		p.Detail = "The request ended before the rate limiter decided it."
	default:
		p.Detail = "The rate limiter failed; the request was not processed."
	}
	return p
}
