// Package httplimit is net/http middleware that rate-limits requests with a
// throttled.Limiter and tells clients the truth about it: the IETF
// RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10),
// a Retry-After that is never early, and RFC 9457 problem details. It uses
// the standard library only.
//
//	l, _ := throttled.New(throttled.WithQuotas(
//		throttled.PerSec(5).WithBurst(10).WithName("burst"),
//		throttled.PerDay(1000).WithName("daily"),
//	))
//	m, _ := httplimit.New(l) // keyed by client IP
//	mux.Handle("GET /search", m.Handler(search))
//
// Middleware.Handler is a func(http.Handler) http.Handler: it wraps a whole
// router, a route (http.ServeMux, chi's r.With), or anything that takes a
// handler. For limits per route, wrap each route with its own Middleware, or
// key by route with KeyByPattern.
//
// # Keys
//
// By default a request's key is its peer's IP address (r.RemoteAddr), IPv6
// grouped by /64. Forwarding headers are believed only from trusted proxies
// (TrustProxies), reading the one header they write (X-Forwarded-For or
// RFC 7239 Forwarded, ProxyHeader) from the right to the first untrusted
// hop, so a client cannot choose its own key. KeyByHeader keys by an API key
// (hashed), KeyByPattern by route, any func(*http.Request) (string, error)
// by what it likes, and JoinKeys combines them. Key function errors are
// answered 400 when they wrap ErrBadRequest, 500 otherwise.
//
// # Fields
//
// Every decided response carries:
//
//	RateLimit-Policy: "burst";q=5;w=1;throttled-burst=10, "daily";q=1000;w=86400
//	RateLimit: "burst";r=9;t=1, "daily";r=999;t=86400
//
// one item per quota of the limiter, in its order, named by the quota's Name
// (DefaultPolicyName for a single unnamed quota, "quota1", "quota2", … by
// position for several). In RateLimit-Policy, q is the quota's Limit and w
// its Period in seconds, rounded up: a period that is not a whole number of
// seconds is announced as the next whole one, so the announced rate is never
// above the true one. The bucket algorithms (token and leaking bucket, GCRA)
// hold up to the quota's burst: when it differs from the limit the item adds
// throttled-burst=B, and a client that has been idle may send up to B at
// once, so r can exceed q. q is a sustained rate: q units come back every
// period (w seconds at most), continuously for buckets, all at the window's
// end for windows.
//
// In RateLimit, r is the quota's Remaining: what a request could still take
// now. t is, for a quota that denied the request, the seconds until the
// same request passes (its RetryAfter, rounded up); for any other quota, the
// seconds until the quota is whole again with no other traffic (its
// ResetAfter, rounded up). Either way at least one more unit is available
// by then — the bucket algorithms give units back one by one before it,
// one every period/q — and t is never earlier than true. t is left out when
// the quota is whole (nothing to wait for).
//
// A denied request gets 429 Too Many Requests with Retry-After in
// delay-seconds: its RetryAfter over every quota, rounded up, so a client
// that waits that long is admitted (with no other traffic) and one that
// comes back a second sooner is not. Retry-After is never earlier than the
// t of a quota that denied the request; it is earlier than the t of a quota
// that still had room, which does not hold the request back. The body is
// an application/problem+json of type TypeQuotaExceeded with
// violated-policies (the names of the quotas that denied it) and
// retry-after (seconds); WithDeniedHandler replaces it. A request whose
// cost exceeds a quota's capacity can never pass: it gets 429 without
// Retry-After. WithLegacyHeaders adds X-RateLimit-Limit, -Remaining and
// -Reset (delta seconds).
//
// With a limiter whose quotas come from a function (throttled.WithQuotaFunc)
// the fields come from the decision: its Quotas, or with one quota for the
// key its Quota. Such quotas should have distinct names; a name that is not
// printable ASCII is replaced by its positional default (DefaultPolicyName
// for a single quota).
//
// # Methods
//
// CORS preflight requests (OPTIONS with Origin and
// Access-Control-Request-Method) pass unlimited and uncharged by default, as
// a browser sends one before each cross-origin request it must not fail
// (WithSkip changes that). HEAD is limited like GET, and answered with the
// same fields and no body.
//
// # Failures
//
// The middleware never panics on a failure. While the limiter's store is
// unavailable it follows the limiter's outage policy
// (throttled.WithOutagePolicy): failing closed (the default) answers 503
// Service Unavailable with Retry-After (WithOutageRetryAfter, default 5 s);
// failing open lets requests through with RateLimit-Policy but without
// RateLimit, as their state is unknown; falling back gives the fields of the
// local decision (Result.Source tells which decided). Other failures of the
// limiter or store are answered 500, a request whose context ended before
// its decision 503 without Retry-After; WithErrorHandler replaces the
// answers. Nothing is charged for a request that was not decided.
//
// # Waiting
//
// WithWait makes a request over quota wait, up to a bound, for the limiter
// to admit it (throttled-py's timeout=), instead of being denied at once. A
// client that goes away stops the wait and is charged nothing.
//
// # Concurrency
//
// A Middleware is immutable and safe for concurrent use; so are the
// handlers it returns and the KeyFuncs of this package.
package httplimit
