package latencyproxy

import (
	"errors"
	"fmt"
	"net"
	neturl "net/url"
)

// RedisTarget returns the network and address a Proxy forwards to in
// order to stand in for the server of a standalone redis:// URL: "tcp" and
// the URL's host:port (port 6379 by default). It is an error for a URL the
// proxy cannot stand in for: TLS (rediss://), a Unix socket (unix://), a
// Cluster or Sentinel (the addr or master_set parameters, which name more
// servers than the one proxied), or no host.
func RedisTarget(rawURL string) (network, target string, err error) {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	switch {
	case u.Scheme != "redis":
		return "", "", fmt.Errorf("the proxy stands in for redis:// URLs, not %s://", u.Scheme)
	case q.Has("addr") || q.Has("master_set"):
		return "", "", errors.New("the proxy stands in for a standalone server, not a Cluster or Sentinel")
	case u.Host == "":
		return "", "", errors.New("the URL names no host")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	return "tcp", host, nil
}

// ProxiedURL returns rawURL with its host:port replaced by addr (a
// Proxy's Addr), keeping the scheme, user, path (the database), query and
// fragment.
func ProxiedURL(rawURL, addr string) (string, error) {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return "", err
	}
	u.Host = addr
	return u.String(), nil
}
