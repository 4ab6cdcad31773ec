package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// TableOptions shape the seed-002 benchmark table.
type TableOptions struct {
	// Total is the number of requests per row (--total, 10000); the write
	// rows cycle over Total sequential keys, so Total is also the number of
	// keys the cluster holds afterwards.
	Total int
	// KeySize and ValSize in bytes (--key-size 8, --val-size 256).
	KeySize int
	ValSize int
	// Conns and Clients of the concurrent rows (--conns 100, --clients 100);
	// the other rows use one of each.
	Conns   int
	Clients int
	// Prefix is prepended to every key written (--prefix, empty).
	Prefix string
}

// DefaultTableOptions returns the seed's parameters: 10 000 requests, 8-byte
// keys, 256-byte values, 1 or 100 connections and clients.
func DefaultTableOptions() TableOptions {
	return TableOptions{Total: 10000, KeySize: 8, ValSize: 256, Conns: 100, Clients: 100}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o TableOptions) Validate() error {
	if o.Total < 1 || o.KeySize < 1 || o.ValSize < 0 || o.Conns < 1 || o.Clients < 1 {
		return invalid("table: --total, --key-size, --conns and --clients must be ≥ 1, --val-size ≥ 0")
	}
	return nil
}

// Row strategies, the seed's 策略 column.
const (
	TargetLeader     = "leader"
	TargetAllMembers = "all members"
	Linearizable     = "Linearizable"
	Serializable     = "Serializable"
)

// TableRow is one line of the table: its parameters and, once run, its
// statistics (Stats.Average in seconds, Stats.RPS in requests/second).
type TableRow struct {
	Op       string // "write" or "read"
	Strategy string // TargetLeader, TargetAllMembers, Linearizable, Serializable
	Requests int
	Keys     int
	KeySize  int
	ValSize  int
	Conns    int
	Clients  int
	Stats    Stats
}

// Table is a run of the seed table against one cluster.
type Table struct {
	// Name labels the cluster in printed output ("concord", "etcd").
	Name      string
	Endpoints []string
	// Members is the cluster size from MemberList; Leader the endpoint
	// found leader (empty if none answered).
	Members int
	Leader  string
	Rows    []TableRow
}

// TableRows returns the seed's seven rows for o, not yet run: writes to
// the leader with 1 and o.Conns/o.Clients, writes to all members with
// o.Conns/o.Clients, then linearizable and serializable reads with 1 and
// o.Conns/o.Clients.
func TableRows(o TableOptions) []TableRow {
	row := func(op, strategy string, conns, clients int) TableRow {
		return TableRow{Op: op, Strategy: strategy, Requests: o.Total, Keys: o.Total, KeySize: o.KeySize, ValSize: o.ValSize, Conns: conns, Clients: clients}
	}
	return []TableRow{
		row("write", TargetLeader, 1, 1),
		row("write", TargetLeader, o.Conns, o.Clients),
		row("write", TargetAllMembers, o.Conns, o.Clients),
		row("read", Linearizable, 1, 1),
		row("read", Linearizable, o.Conns, o.Clients),
		row("read", Serializable, 1, 1),
		row("read", Serializable, o.Conns, o.Clients),
	}
}

// RunTable runs every row of TableRows(o) in order against the cluster of
// cfg.Endpoints (cfg.Conns, cfg.Clients and cfg.TargetLeader are set per
// row) over connections warmed up before each row. Writes are puts of o.Total sequential keys; reads are ranges of the
// first of those keys, sent to all endpoints. Each row's summary goes to
// env.Out as text when verbose is set. Failed requests are counted in each
// row's Stats; RunTable fails only when a row cannot start.
func RunTable(ctx context.Context, env Env, cfg Config, o TableOptions, name string, verbose bool) (Table, error) {
	if err := o.Validate(); err != nil {
		return Table{}, err
	}
	env = env.withDefaults()
	t := Table{Name: name, Endpoints: cfg.Endpoints}
	if err := describeCluster(ctx, cfg, &t); err != nil {
		return t, err
	}
	readKey := EncodeKey(o.Prefix, 0, o.KeySize)
	for _, r := range TableRows(o) {
		rc := cfg
		rc.Conns, rc.Clients = r.Conns, r.Clients
		rc.TargetLeader = r.Strategy == TargetLeader
		pool, err := Dial(ctx, rc, nil)
		if err != nil {
			return t, fmt.Errorf("bench: table row %s/%s: %w", r.Op, r.Strategy, err)
		}
		if err := pool.Warm(ctx); err != nil {
			_ = pool.Close()
			return t, fmt.Errorf("bench: table row %s/%s: %w", r.Op, r.Strategy, err)
		}
		var out Outcome
		quiet := env
		quiet.Out = io.Discard
		if r.Op == "write" {
			po := DefaultPutOptions()
			po.Total, po.KeySize, po.ValSize = o.Total, o.KeySize, o.ValSize
			po.KeySpaceSize, po.SequentialKeys, po.Prefix = o.Total, true, o.Prefix
			out, err = RunPut(ctx, quiet, pool, po, rc)
		} else {
			// Make sure the key read exists with a value of the row's size.
			if _, err = pool.Conns[0].Put(ctx, readKey, string(randomBytes(env.Rand, o.ValSize))); err == nil {
				ro := DefaultRangeOptions()
				ro.Key, ro.Total = readKey, o.Total
				ro.Consistency = map[string]string{Linearizable: "l", Serializable: "s"}[r.Strategy]
				out, err = RunRange(ctx, quiet, pool, ro, rc)
			}
		}
		_ = pool.Close()
		if err != nil {
			return t, fmt.Errorf("bench: table row %s/%s: %w", r.Op, r.Strategy, err)
		}
		r.Stats = out.Sections[0].Stats
		if verbose {
			fmt.Fprintf(env.Out, "%s %s %s conns=%d clients=%d:%s\n", name, r.Op, r.Strategy, r.Conns, r.Clients, r.Stats.Text(cfg.Precise))
		}
		t.Rows = append(t.Rows, r)
	}
	return t, nil
}

// describeCluster fills Members and Leader.
func describeCluster(ctx context.Context, cfg Config, t *Table) error {
	c, err := newClient(ctx, cfg, cfg.Endpoints, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	ml, err := c.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("bench: member list: %w", err)
	}
	t.Members = len(ml.Members)
	if ep, err := FindLeader(ctx, cfg, nil); err == nil {
		t.Leader = ep
	}
	return nil
}

// ms renders seconds as milliseconds the way the seed does: one decimal.
func ms(sec float64) string { return fmt.Sprintf("%.1f", sec*1000) }

// WriteTable prints t as the seed's markdown table, in the seed's columns
// (op, target, requests, keys, key, value, conns, clients, average latency
// in ms, QPS), headed by the cluster's name, size and endpoints, and
// followed by the rows' error counts when any request failed.
func WriteTable(w io.Writer, t Table) {
	fmt.Fprintf(w, "\n> %s: %d members, endpoints %s, leader %s\n\n", t.Name, t.Members, strings.Join(t.Endpoints, ","), t.Leader)
	fmt.Fprintln(w, "| op    | target       | requests | keys  | key  | value | conns | clients | latency (ms) | qps    |")
	fmt.Fprintln(w, "| ----- | ------------ | -------- | ----- | ---- | ----- | ----- | ------- | ------------ | ------ |")
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %-5s | %-12s | %-8d | %-5d | %-4d | %-5d | %-5d | %-7d | %-12s | %-6.0f |\n",
			r.Op, r.Strategy, r.Requests, r.Keys, r.KeySize, r.ValSize, r.Conns, r.Clients, ms(r.Stats.Average), r.Stats.RPS)
	}
	writeTableErrors(w, t)
}

func writeTableErrors(w io.Writer, t Table) {
	for _, r := range t.Rows {
		if r.Stats.Errors > 0 {
			fmt.Fprintf(w, "\n%s %s %s conns=%d clients=%d: %d of %d requests failed:\n", t.Name, r.Op, r.Strategy, r.Conns, r.Clients, r.Stats.Errors, r.Requests)
			for _, e := range r.Stats.sortedErrors() {
				fmt.Fprintf(w, "  [%d]\t%s\n", e.Count, e.Error)
			}
		}
	}
}

// ratio renders a/b with two decimals, "-" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// WriteComparison prints both tables, then one line per row with each
// cluster's QPS and average latency and the ratios a/b (QPS ratio > 1 and
// latency ratio < 1 mean a is faster). The tables must come from the same
// TableOptions.
func WriteComparison(w io.Writer, a, b Table) {
	WriteTable(w, a)
	WriteTable(w, b)
	fmt.Fprintf(w, "\n> %s vs %s\n\n", a.Name, b.Name)
	qa, qb := "qps "+a.Name, "qps "+b.Name
	la, lb := "latency "+a.Name+" (ms)", "latency "+b.Name+" (ms)"
	fmt.Fprintf(w, "| op    | target       | conns | clients | %s | %s | qps ratio | %s | %s | latency ratio |\n", qa, qb, la, lb)
	fmt.Fprintf(w, "| ----- | ------------ | ----- | ------- | %s | %s | --------- | %s | %s | ------------- |\n",
		strings.Repeat("-", len(qa)), strings.Repeat("-", len(qb)), strings.Repeat("-", len(la)), strings.Repeat("-", len(lb)))
	for i := range min(len(a.Rows), len(b.Rows)) {
		ra, rb := a.Rows[i], b.Rows[i]
		fmt.Fprintf(w, "| %-5s | %-12s | %-5d | %-7d | %*.0f | %*.0f | %-9s | %*s | %*s | %-13s |\n",
			ra.Op, ra.Strategy, ra.Conns, ra.Clients, len(qa), ra.Stats.RPS, len(qb), rb.Stats.RPS, ratio(ra.Stats.RPS, rb.Stats.RPS),
			len(la), ms(ra.Stats.Average), len(lb), ms(rb.Stats.Average), ratio(ra.Stats.Average, rb.Stats.Average))
	}
}

// JSONTableRow is a TableRow in -w json output.
type JSONTableRow struct {
	Op       string    `json:"op"`
	Strategy string    `json:"target"`
	Requests int       `json:"requests"`
	Keys     int       `json:"keys"`
	KeySize  int       `json:"key_size"`
	ValSize  int       `json:"value_size"`
	Conns    int       `json:"conns"`
	Clients  int       `json:"clients"`
	Stats    JSONStats `json:"stats"`
}

// JSONTable is a Table in -w json output.
type JSONTable struct {
	Name      string         `json:"name"`
	Endpoints []string       `json:"endpoints"`
	Members   int            `json:"members"`
	Leader    string         `json:"leader"`
	Rows      []JSONTableRow `json:"rows"`
}

// JSONForm returns t as a JSONTable.
func (t Table) JSONForm() JSONTable {
	jt := JSONTable{Name: t.Name, Endpoints: t.Endpoints, Members: t.Members, Leader: t.Leader, Rows: []JSONTableRow{}}
	for _, r := range t.Rows {
		jt.Rows = append(jt.Rows, JSONTableRow{Op: r.Op, Strategy: r.Strategy, Requests: r.Requests, Keys: r.Keys,
			KeySize: r.KeySize, ValSize: r.ValSize, Conns: r.Conns, Clients: r.Clients, Stats: r.Stats.JSONForm()})
	}
	return jt
}
