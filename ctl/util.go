package ctl

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// signalContext is canceled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// askPassword prints prompt to w and reads a password: without echo when in
// is a terminal, else one line of in.
func askPassword(in io.Reader, w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(w)
		return string(b), err
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// discoverEndpoints resolves client endpoints from DNS SRV records as etcd's
// srv.GetClient: _etcd-client-ssl and _etcd-client (suffixed "-<name>" when
// a service name is given) under domain. Without insecure, http endpoints
// are dropped with a notice on w.
func discoverEndpoints(domain, name string, insecure bool, w io.Writer) ([]string, error) {
	var eps []string
	var lastErr error
	for _, svc := range []struct{ service, scheme string }{{"etcd-client-ssl", "https"}, {"etcd-client", "http"}} {
		s := svc.service
		if name != "" {
			s += "-" + name
		}
		_, addrs, err := net.LookupSRV(s, "tcp", domain)
		if err != nil {
			lastErr = err
			continue
		}
		for _, srv := range addrs {
			host := strings.TrimSuffix(srv.Target, ".")
			eps = append(eps, svc.scheme+"://"+net.JoinHostPort(host, strconv.Itoa(int(srv.Port))))
		}
	}
	if len(eps) == 0 {
		if lastErr == nil {
			lastErr = errors.New("no SRV records found")
		}
		return nil, fmt.Errorf("error querying DNS SRV records for _etcd-client %w", lastErr)
	}
	if insecure {
		return eps, nil
	}
	var ret []string
	for _, ep := range eps {
		if strings.HasPrefix(ep, "http://") {
			fmt.Fprintf(w, "ignoring discovered insecure endpoint %q\n", ep)
			continue
		}
		ret = append(ret, ep)
	}
	return ret, nil
}

// hexBytes renders b as "\x61\x62", etcdctl's --hex form.
func hexBytes(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		sb.WriteString(`\x`)
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// argify splits a line into shell-like words: a double-quoted word is
// unquoted as a Go string literal, a single-quoted one taken verbatim, other
// words end at white space (etcdctl's txn and watch -i input syntax).
func argify(s string) ([]string, error) {
	var args []string
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated quoted string: %s", s[i:])
			}
			u, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				return nil, err
			}
			args = append(args, u)
			i = j + 1
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quoted string: %s", s[i:])
			}
			args = append(args, s[i+1:i+1+j])
			i += j + 2
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
				j++
			}
			args = append(args, s[i:j])
			i = j
		}
	}
	return args, nil
}

// parseHexUint parses a hexadecimal member ID.
func parseHexUint(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

// serializable maps --consistency to a serializable read, as etcdctl.
func serializable(option string) (bool, error) {
	switch option {
	case "s":
		return true, nil
	case "l":
		return false, nil
	}
	return false, exitErrf(ExitBadFeature, "unknown consistency flag %q", option)
}
