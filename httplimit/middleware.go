package httplimit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/throttled-go/throttled"
	"github.com/throttled-go/throttled/algo"
)

// DefaultOutageRetryAfter is the default Retry-After of the 503 answered
// while the limiter's store is unavailable (WithOutageRetryAfter).
const DefaultOutageRetryAfter = 5 * time.Second

// Middleware rate-limits HTTP requests with a limiter. Build it with New;
// the zero Middleware is not usable. It is immutable and safe for
// concurrent use; its Handler method is the middleware.
type Middleware struct {
	l           *throttled.Limiter
	key         KeyFunc
	cost        func(*http.Request) (int64, error)
	skip        func(*http.Request) bool
	wait        time.Duration
	legacy      bool
	unit        string
	outageRetry time.Duration
	denied      func(http.ResponseWriter, *http.Request, *Denial)
	onError     func(http.ResponseWriter, *http.Request, *Error)
	static      *policies // nil with a quota func
}

// Option configures a Middleware.
type Option func(*Middleware) error

// New returns a Middleware deciding every request on l. Defaults:
//
//   - key: the client's IP address, the peer's (KeyByIP with no option);
//   - cost: l.Cost() (throttled.WithCost, default 1) per request;
//   - CORS preflight requests pass unlimited (Preflight); HEAD is limited
//     like any request (and KeyByPattern gives it GET's key);
//   - no waiting: a request over quota is denied at once;
//   - RateLimit-Policy and RateLimit fields on every decided response, no
//     legacy X-RateLimit-* fields;
//   - denials answered 429 with a problem (Denial.Problem), errors answered
//     400, 500 or 503 with a problem (Error.Problem), a 503 for an
//     unavailable store carrying Retry-After: 5.
//
// A nil limiter, a bad option or a limiter whose quotas cannot be named in
// RateLimit fields (two with one name, a name that is not printable ASCII)
// gives a *algo.DataError.
func New(l *throttled.Limiter, opts ...Option) (*Middleware, error) {
	if l == nil {
		return nil, &algo.DataError{Name: "limiter", Value: "nil", Reason: "the middleware needs a limiter"}
	}
	m := &Middleware{l: l, skip: Preflight, outageRetry: DefaultOutageRetryAfter}
	for _, o := range opts {
		if o == nil {
			return nil, &algo.DataError{Name: "option", Value: "nil", Reason: "options must not be nil"}
		}
		if err := o(m); err != nil {
			return nil, err
		}
	}
	if m.key == nil {
		m.key, _ = KeyByIP() // no option: cannot fail
	}
	if qs := l.Quotas(); qs != nil {
		p, err := staticPolicies(qs, m.unit)
		if err != nil {
			return nil, err
		}
		m.static = p
	}
	return m, nil
}

// WithKey sets how requests are keyed (default: KeyByIP()). See KeyFunc
// for what its errors become.
func WithKey(f KeyFunc) Option {
	return func(m *Middleware) error {
		if f == nil {
			return &algo.DataError{Name: "key function", Value: "nil", Reason: "WithKey needs a function"}
		}
		m.key = f
		return nil
	}
}

// WithCost sets each request's cost (default: the limiter's Cost, 1 unless
// set with throttled.WithCost), for example by the size of its upload. Cost
// 0 passes and only reports the key's state. An error is treated as a key
// function's (KeyFunc); a negative cost is answered 500.
func WithCost(f func(r *http.Request) (int64, error)) Option {
	return func(m *Middleware) error {
		if f == nil {
			return &algo.DataError{Name: "cost function", Value: "nil", Reason: "WithCost needs a function"}
		}
		m.cost = f
		return nil
	}
}

// Preflight reports whether r is a CORS preflight request: OPTIONS with
// Origin and Access-Control-Request-Method. It is the default of WithSkip:
// a browser sends one before a cross-origin request it must not fail, and
// it does no work worth limiting.
func Preflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// WithSkip sets which requests pass without being limited, charged or
// given RateLimit fields (default Preflight); nil limits every request.
func WithSkip(f func(r *http.Request) bool) Option {
	return func(m *Middleware) error {
		m.skip = f
		return nil
	}
}

// WithWait makes a request over quota wait up to d for the limiter to
// admit it, as throttled-py's timeout= does (default 0: denied at once). A
// request whose Retry-After exceeds d is denied at once, as is one that can
// never pass; otherwise it waits (limiter.Wait, with the request's context
// bounded by d) and is denied if d passes first. A client that goes away
// while waiting ends the wait and is charged nothing. d must not be
// negative.
func WithWait(d time.Duration) Option {
	return func(m *Middleware) error {
		if d < 0 {
			return &algo.DataError{Name: "wait", Value: d, Reason: "must not be negative"}
		}
		m.wait = d
		return nil
	}
}

// WithLegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset for clients that read them (default off). They
// describe the quota with the least remaining: Limit is its capacity (the
// burst of a bucket), Remaining what it has left, and Reset a number of
// seconds from now (delta seconds, as throttled/throttled v2 sends, not a
// Unix time): the Retry-After of a denied request, else the time until that
// quota is whole again, rounded up.
func WithLegacyHeaders() Option {
	return func(m *Middleware) error {
		m.legacy = true
		return nil
	}
}

// WithQuotaUnit sets the qu parameter of the RateLimit-Policy items, the
// unit the quotas count (default: none sent, meaning "requests"); for
// example "content-bytes" with a cost function counting bytes. It must be
// printable ASCII.
func WithQuotaUnit(unit string) Option {
	return func(m *Middleware) error {
		if unit == "" || !validName(unit) {
			return &algo.DataError{Name: "quota unit", Value: unit, Reason: "must be non-empty printable ASCII"}
		}
		m.unit = unit
		return nil
	}
}

// WithOutageRetryAfter sets the Retry-After of the 503 answered when the
// limiter's store is unavailable and its outage policy fails closed
// (default DefaultOutageRetryAfter, 5 s; rounded up to whole seconds).
// Between the store's probes and a client's patience, a few seconds lets a
// blip pass without hammering a store that is down. d must be positive.
func WithOutageRetryAfter(d time.Duration) Option {
	return func(m *Middleware) error {
		if d <= 0 {
			return &algo.DataError{Name: "outage Retry-After", Value: d, Reason: "must be positive"}
		}
		m.outageRetry = time.Duration(seconds(d)) * time.Second
		return nil
	}
}

// WithDeniedHandler replaces the answer to a denied request (default: 429
// with Denial.Problem, written by WriteProblem). f is called after the
// RateLimit fields and Retry-After are set on w; it writes the status and
// body. It must be safe for concurrent use.
func WithDeniedHandler(f func(w http.ResponseWriter, r *http.Request, d *Denial)) Option {
	return func(m *Middleware) error {
		if f == nil {
			return &algo.DataError{Name: "denied handler", Value: "nil", Reason: "WithDeniedHandler needs a function"}
		}
		m.denied = f
		return nil
	}
}

// WithErrorHandler replaces the answer to a request that could not be
// decided (default: Error.Problem with Error.Status, written by
// WriteProblem, and a 500 logged with slog.Default at level ERROR). f is
// called after a 503 outage's Retry-After is set on w. It must be safe for
// concurrent use.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, e *Error)) Option {
	return func(m *Middleware) error {
		if f == nil {
			return &algo.DataError{Name: "error handler", Value: "nil", Reason: "WithErrorHandler needs a function"}
		}
		m.onError = f
		return nil
	}
}

// Handler returns next limited by m. Its type, func(http.Handler)
// http.Handler, is the middleware of http.ServeMux users and of chi
// (r.Use, r.With) and most routers. Wrap a router to limit every request,
// or each route's handler for limits per route, with a Middleware per
// route or KeyByPattern. Handler panics if next is nil, a mistake in
// setting up.
//
// For each request not skipped (WithSkip) it computes the key and cost,
// decides the request with the limiter, sets the RateLimit fields from the
// decision, and then calls next, or answers 429 with Retry-After (see New).
// It never panics on a failure of the limiter, the store, or a key or cost
// function.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("httplimit: Handler needs a handler to limit")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if m.skip != nil && m.skip(r) {
		next.ServeHTTP(w, r)
		return
	}
	key, err := m.key(r)
	if err != nil {
		m.fail(w, r, &Error{Op: "key", Err: err})
		return
	}
	cost := m.l.Cost()
	if m.cost != nil {
		if cost, err = m.cost(r); err != nil {
			m.fail(w, r, &Error{Op: "cost", Key: key, Err: err})
			return
		}
	}
	res, err := m.decide(r.Context(), key, cost)
	if err != nil {
		m.fail(w, r, &Error{Op: "limit", Key: key, Err: err})
		return
	}
	h := w.Header()
	m.setFields(h, &res)
	if !res.Limited {
		next.ServeHTTP(w, r)
		return
	}
	d := &Denial{Key: key, Cost: cost, Result: res, Violated: m.violated(&res)}
	if res.State.RetryAfter != throttled.Never {
		s := seconds(res.State.RetryAfter)
		d.RetryAfter = time.Duration(s) * time.Second
		h.Set(HeaderRetryAfter, itoa(s))
	}
	if m.denied != nil {
		m.denied(w, r, d)
		return
	}
	WriteProblem(w, r, d.Problem())
}

// decide decides one request, waiting for it when WithWait allows.
func (m *Middleware) decide(ctx context.Context, key string, cost int64) (throttled.Result, error) {
	res, err := m.l.Limit(ctx, key, cost)
	if err != nil || !res.Limited || m.wait == 0 || res.State.RetryAfter > m.wait {
		return res, err // Never (MaxInt64) exceeds every wait
	}
	wctx, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	waited, err := m.l.Wait(wctx, key, cost)
	switch {
	case err == nil:
		return waited, nil
	case errors.Is(err, throttled.ErrLimited):
		return waited, nil // denied: its Result says so
	case ctx.Err() == nil && wctx.Err() != nil:
		// The bound passed while waiting: a denial. The last Result's
		// RetryAfter was measured earlier, so it errs late, never early.
		if waited.Limited {
			return waited, nil
		}
		return res, nil
	}
	return waited, err
}

// violated returns the names of the quotas that denied res.
func (m *Middleware) violated(res *throttled.Result) []string {
	if res.Quotas == nil {
		if m.static != nil {
			return []string{m.static.names[0]}
		}
		if res.Quota != nil {
			return []string{dynamicName(*res.Quota, 0, 1)}
		}
		return []string{DefaultPolicyName}
	}
	var names []string
	for i, q := range res.Quotas {
		if !q.Limited {
			continue
		}
		if m.static != nil {
			names = append(names, m.static.names[i])
		} else {
			names = append(names, dynamicName(q.Quota, i, len(res.Quotas)))
		}
	}
	return names
}

// fail answers a request that could not be decided.
func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, e *Error) {
	switch {
	case errors.Is(e.Err, ErrBadRequest):
		e.Status = http.StatusBadRequest
	case r.Context().Err() != nil:
		e.Status = http.StatusServiceUnavailable // the client went away, or the server's deadline passed
	case errors.Is(e.Err, throttled.ErrUnavailable):
		e.Status = http.StatusServiceUnavailable
		e.RetryAfter = m.outageRetry
		w.Header().Set(HeaderRetryAfter, itoa(int64(m.outageRetry/time.Second)))
	default:
		e.Status = http.StatusInternalServerError
	}
	if m.onError != nil {
		m.onError(w, r, e)
		return
	}
	if e.Status == http.StatusInternalServerError {
		slog.Default().Error("httplimit: cannot decide a request", "op", e.Op, "method", r.Method, "path", r.URL.Path, "err", e.Err)
	}
	WriteProblem(w, r, e.Problem())
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
