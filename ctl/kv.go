package ctl

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// getOptions are the flags of "get".
type getOptions struct {
	consistency            string
	order, sortBy          string
	limit, rev             int64
	prefix, fromKey        bool
	keysOnly, countOnly    bool
	printValueOnly         bool
	minCreateRev, maxCreat int64
	minModRev, maxModRev   int64
}

func (o *getOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.consistency, "consistency", "l", "Linearizable(l) or Serializable(s)")
	f.StringVar(&o.order, "order", "", "Order of results; ASCEND or DESCEND (ASCEND by default)")
	f.StringVar(&o.sortBy, "sort-by", "", "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION")
	f.Int64Var(&o.limit, "limit", 0, "Maximum number of results")
	f.BoolVar(&o.prefix, "prefix", false, "Get keys with matching prefix")
	f.BoolVar(&o.fromKey, "from-key", false, "Get keys that are greater than or equal to the given key using byte compare")
	f.Int64Var(&o.rev, "rev", 0, "Specify the kv revision")
	f.BoolVar(&o.keysOnly, "keys-only", false, "Get only the keys")
	f.BoolVar(&o.countOnly, "count-only", false, "Get only the count")
	f.BoolVar(&o.printValueOnly, "print-value-only", false, `Only write values when using the "simple" output format`)
	f.Int64Var(&o.minCreateRev, "min-create-rev", 0, "Minimum create revision")
	f.Int64Var(&o.maxCreat, "max-create-rev", 0, "Maximum create revision")
	f.Int64Var(&o.minModRev, "min-mod-rev", 0, "Minimum modification revision")
	f.Int64Var(&o.maxModRev, "max-mod-rev", 0, "Maximum modification revision")
}

func (a *app) newGetCommand() *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get [options] <key> [range_end]",
		Short: "Gets the key or a range of keys",
		RunE: func(cmd *cobra.Command, args []string) error {
			key, opts, err := o.op(args)
			if err != nil {
				return err
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			resp, err := cli.Get(ctx, key, opts...)
			cancel()
			if err != nil {
				return exitErr(ExitError, err)
			}
			if o.countOnly && p.format != "fields" {
				return exitErrf(ExitBadArgs, "--count-only is only for `--write-out=fields`")
			}
			if o.printValueOnly {
				if p.format != "simple" {
					return exitErrf(ExitBadArgs, "print-value-only is only for `--write-out=simple`")
				}
				p.valueOnly = true
			}
			return p.Get(resp)
		},
	}
	o.bind(cmd)
	return cmd
}

// op turns arguments and flags into a Get's key and options, with
// etcdctl's argument errors.
func (o *getOptions) op(args []string) (string, []clientv3.OpOption, error) {
	if len(args) == 0 {
		return "", nil, exitErrf(ExitBadArgs, "get command needs one argument as key and an optional argument as range_end")
	}
	if o.prefix && o.fromKey {
		return "", nil, exitErrf(ExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one")
	}
	if o.keysOnly && o.countOnly {
		return "", nil, exitErrf(ExitBadArgs, "`--keys-only` and `--count-only` cannot be set at the same time, choose one")
	}
	var opts []clientv3.OpOption
	s, err := serializable(o.consistency)
	if err != nil {
		return "", nil, err
	}
	if s {
		opts = append(opts, clientv3.WithSerializable())
	}
	key := args[0]
	if len(args) > 1 {
		if o.prefix || o.fromKey {
			return "", nil, exitErrf(ExitBadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set")
		}
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	opts = append(opts, clientv3.WithLimit(o.limit))
	if o.rev > 0 {
		opts = append(opts, clientv3.WithRev(o.rev))
	}
	order := clientv3.SortNone
	switch strings.ToUpper(o.order) {
	case "ASCEND":
		order = clientv3.SortAscend
	case "DESCEND":
		order = clientv3.SortDescend
	case "":
	default:
		return "", nil, exitErrf(ExitBadFeature, "bad sort order %v", o.order)
	}
	target := clientv3.SortByKey
	switch strings.ToUpper(o.sortBy) {
	case "CREATE":
		target = clientv3.SortByCreateRevision
	case "KEY":
		target = clientv3.SortByKey
	case "MODIFY":
		target = clientv3.SortByModRevision
	case "VALUE":
		target = clientv3.SortByValue
	case "VERSION":
		target = clientv3.SortByVersion
	case "":
	default:
		return "", nil, exitErrf(ExitBadFeature, "bad sort target %v", o.sortBy)
	}
	opts = append(opts, clientv3.WithSort(target, order))
	if o.prefix {
		if key == "" {
			key = "\x00"
			opts = append(opts, clientv3.WithFromKey())
		} else {
			opts = append(opts, clientv3.WithPrefix())
		}
	}
	if o.fromKey {
		if key == "" {
			key = "\x00"
		}
		opts = append(opts, clientv3.WithFromKey())
	}
	if o.keysOnly {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	if o.countOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if o.minCreateRev > 0 {
		opts = append(opts, clientv3.WithMinCreateRev(o.minCreateRev))
	}
	if o.maxCreat > 0 {
		if o.minCreateRev > o.maxCreat {
			return "", nil, exitErrf(ExitBadFeature, "getMinCreateRev(=%v) > getMaxCreateRev(=%v)", o.minCreateRev, o.maxCreat)
		}
		opts = append(opts, clientv3.WithMaxCreateRev(o.maxCreat))
	}
	if o.minModRev > 0 {
		opts = append(opts, clientv3.WithMinModRev(o.minModRev))
	}
	if o.maxModRev > 0 {
		if o.minModRev > o.maxModRev {
			return "", nil, exitErrf(ExitBadFeature, "getMinModRev(=%v) > getMaxModRev(=%v)", o.minModRev, o.maxModRev)
		}
		opts = append(opts, clientv3.WithMaxModRev(o.maxModRev))
	}
	return key, opts, nil
}

// putOptions are the flags of "put".
type putOptions struct {
	lease               string
	prevKV, ignoreValue bool
	ignoreLease         bool
}

func (o *putOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.lease, "lease", "0", "lease ID (in hexadecimal) to attach to the key")
	f.BoolVar(&o.prevKV, "prev-kv", false, "return the previous key-value pair before modification")
	f.BoolVar(&o.ignoreValue, "ignore-value", false, "updates the key using its current value")
	f.BoolVar(&o.ignoreLease, "ignore-lease", false, "updates the key using its current lease")
}

const putLong = `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`

func (a *app) newPutCommand() *cobra.Command {
	o := &putOptions{}
	cmd := &cobra.Command{
		Use:   "put [options] <key> <value> (<value> can also be given from stdin)",
		Short: "Puts the given key into the store",
		Long:  putLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, value, opts, err := o.op(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			resp, err := cli.Put(ctx, key, value, opts...)
			cancel()
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.Put(resp)
		},
	}
	o.bind(cmd)
	return cmd
}

func (o *putOptions) op(args []string, stdin io.Reader) (string, string, []clientv3.OpOption, error) {
	const usage = "put command needs 1 argument and input from stdin or 2 arguments"
	if len(args) == 0 {
		return "", "", nil, exitErrf(ExitBadArgs, usage)
	}
	key := args[0]
	if o.ignoreValue && len(args) > 1 {
		return "", "", nil, exitErrf(ExitBadArgs, "put command needs only 1 argument when 'ignore-value' is set")
	}
	var value string
	if !o.ignoreValue {
		if len(args) > 1 {
			value = args[1]
		} else {
			b, err := io.ReadAll(stdin)
			if err != nil || len(b) == 0 {
				return "", "", nil, exitErrf(ExitBadArgs, usage)
			}
			value = string(b)
		}
	}
	id, err := strconv.ParseInt(o.lease, 16, 64)
	if err != nil {
		return "", "", nil, exitErrf(ExitBadArgs, "bad lease ID (%w), expecting ID in Hex", err)
	}
	var opts []clientv3.OpOption
	if id != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(id)))
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.ignoreValue {
		opts = append(opts, clientv3.WithIgnoreValue())
	}
	if o.ignoreLease {
		opts = append(opts, clientv3.WithIgnoreLease())
	}
	return key, value, opts, nil
}

// delOptions are the flags of "del".
type delOptions struct {
	prefix, prevKV, fromKey, rangeOK bool
}

func (o *delOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.prefix, "prefix", false, "delete keys with matching prefix")
	f.BoolVar(&o.prevKV, "prev-kv", false, "return deleted key-value pairs")
	f.BoolVar(&o.fromKey, "from-key", false, "delete keys that are greater than or equal to the given key using byte compare")
	f.BoolVar(&o.rangeOK, "range", false, "delete range of keys")
}

func (a *app) newDelCommand() *cobra.Command {
	o := &delOptions{}
	cmd := &cobra.Command{
		Use:   "del [options] <key> [range_end]",
		Short: "Removes the specified key or range of keys [key, range_end)",
		RunE: func(cmd *cobra.Command, args []string) error {
			key, opts, err := o.op(args)
			if err != nil {
				return err
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			if len(args) > 1 && !o.rangeOK {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: Keys between %q and %q will be deleted. Please interrupt the command within next 2 seconds to cancel. "+
					"You can provide `--range` flag to avoid the delay.\n", args[0], args[1])
				if a.env.RangeDeleteDelay > 0 {
					ictx, cancel := a.interruptCtx()
					t := time.NewTimer(a.env.RangeDeleteDelay)
					select {
					case <-t.C:
					case <-ictx.Done():
						t.Stop()
						cancel()
						return exitErrf(ExitInterrupted, "interrupted")
					}
					cancel()
				}
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			resp, err := cli.Delete(ctx, key, opts...)
			cancel()
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.Del(resp)
		},
	}
	o.bind(cmd)
	return cmd
}

func (o *delOptions) op(args []string) (string, []clientv3.OpOption, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", nil, exitErrf(ExitBadArgs, "del command needs one argument as key and an optional argument as range_end")
	}
	if o.prefix && o.fromKey {
		return "", nil, exitErrf(ExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one")
	}
	var opts []clientv3.OpOption
	key := args[0]
	if len(args) > 1 {
		if o.prefix || o.fromKey {
			return "", nil, exitErrf(ExitBadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set")
		}
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	if o.prefix {
		if key == "" {
			key = "\x00"
			opts = append(opts, clientv3.WithFromKey())
		} else {
			opts = append(opts, clientv3.WithPrefix())
		}
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.fromKey {
		if key == "" {
			key = "\x00"
		}
		opts = append(opts, clientv3.WithFromKey())
	}
	return key, opts, nil
}

func (a *app) newCompactionCommand() *cobra.Command {
	var physical bool
	cmd := &cobra.Command{
		Use:   "compaction [options] <revision>",
		Short: "Compacts the event history in etcd",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "compaction command needs 1 argument")
			}
			rev, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return exitErr(ExitError, err)
			}
			var opts []clientv3.CompactOption
			if physical {
				opts = append(opts, clientv3.WithCompactPhysical())
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			_, err = cli.Compact(ctx, rev, opts...)
			cancel()
			if err != nil {
				return exitErr(ExitError, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "compacted revision", rev)
			return nil
		},
	}
	cmd.Flags().BoolVar(&physical, "physical", false, "'true' to wait for compaction to physically remove all old revisions")
	return cmd
}

func (a *app) newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Prints the version of etcdctl",
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "etcdctl version:", Version)
			fmt.Fprintln(cmd.OutOrStdout(), "API version:", APIVersion)
			return nil
		},
	}
}

const txnLong = `Txn reads multiple etcd requests from standard input and applies them as a single atomic transaction.

A transaction consists of three components:
1) a list of conditions,
2) a list of requests to apply if all the conditions are true,
3) a list of requests to apply if any condition is false.

Example interactive stdin usage:

---
concordctl txn -i
# compares:
mod("key1") > "0"

# success requests (get, put, delete):
put key1 "overwrote-key1"

# failure requests (get, put, delete):
put key1 "created-key1"
put key2 "some extra key"
---
`

func (a *app) newTxnCommand() *cobra.Command {
	var interactive bool
	cmd := &cobra.Command{
		Use:   "txn [options]",
		Short: "Txn processes all the requests in one transaction",
		Long:  txnLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return exitErrf(ExitBadArgs, "txn command does not accept argument")
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			prompt := func(s string) {
				if interactive {
					fmt.Fprintln(cmd.OutOrStdout(), s)
				}
			}
			r := bufio.NewReader(cmd.InOrStdin())
			prompt("compares:")
			cmps, err := readCompares(r)
			if err != nil {
				return err
			}
			prompt("success requests (get, put, del):")
			thenOps, err := readOps(r)
			if err != nil {
				return err
			}
			prompt("failure requests (get, put, del):")
			elseOps, err := readOps(r)
			if err != nil {
				return err
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			defer cancel()
			resp, err := cli.Txn(ctx).If(cmps...).Then(thenOps...).Else(elseOps...).Commit()
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.Txn(resp)
		},
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Input transaction in interactive mode")
	return cmd
}

// readLines reads trimmed lines up to the first empty one; end of input
// is an error, as in etcdctl (a block must end with an empty line).
func readBlock(r *bufio.Reader, parse func(string) error) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return exitErr(ExitInvalidInput, err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			return nil
		}
		if err := parse(line); err != nil {
			return exitErr(ExitInvalidInput, err)
		}
	}
}

func readCompares(r *bufio.Reader) ([]clientv3.Cmp, error) {
	var cmps []clientv3.Cmp
	err := readBlock(r, func(line string) error {
		c, err := parseCompare(line)
		if err != nil {
			return err
		}
		cmps = append(cmps, *c)
		return nil
	})
	return cmps, err
}

func readOps(r *bufio.Reader) ([]clientv3.Op, error) {
	var ops []clientv3.Op
	err := readBlock(r, func(line string) error {
		op, err := parseTxnRequest(line)
		if err != nil {
			return err
		}
		ops = append(ops, op)
		return nil
	})
	return ops, err
}

// parseTxnRequest parses one "get|put|del <args> [flags]" line of a txn
// with the same flags as the commands.
func parseTxnRequest(line string) (clientv3.Op, error) {
	args, err := argify(line)
	if err != nil {
		return clientv3.Op{}, err
	}
	if len(args) < 2 {
		return clientv3.Op{}, fmt.Errorf("invalid txn compare request: %s", line)
	}
	var op clientv3.Op
	mk := func(use string, bind func(*cobra.Command), run func([]string) error) *cobra.Command {
		c := &cobra.Command{Use: use, RunE: func(_ *cobra.Command, a []string) error { return run(a) }}
		bind(c)
		return c
	}
	gopts, popts, dopts := &getOptions{}, &putOptions{}, &delOptions{}
	root := &cobra.Command{Use: "txn", SilenceErrors: true, SilenceUsage: true}
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.AddCommand(
		mk("get", gopts.bind, func(a []string) error {
			k, o, err := gopts.op(a)
			op = clientv3.OpGet(k, o...)
			return err
		}),
		mk("put", popts.bind, func(a []string) error {
			k, v, o, err := popts.op(a, strings.NewReader(""))
			op = clientv3.OpPut(k, v, o...)
			return err
		}),
		mk("del", dopts.bind, func(a []string) error {
			k, o, err := dopts.op(a)
			op = clientv3.OpDelete(k, o...)
			return err
		}),
	)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		return clientv3.Op{}, fmt.Errorf("invalid txn request: %s", line)
	}
	return op, nil
}

// parseCompare parses a txn comparison: target("key") op "value", target one
// of ver|version, c|create, m|mod, val|value, lease.
func parseCompare(line string) (*clientv3.Cmp, error) {
	target, rest, ok := strings.Cut(line, "(")
	if !ok {
		return nil, fmt.Errorf("malformed comparison: %s", line)
	}
	var key, op, val string
	n, serr := fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)
	if n != 3 {
		return nil, fmt.Errorf("malformed comparison: %s; got %s(%q) %s %q", line, target, key, op, val)
	}
	if serr != nil {
		return nil, fmt.Errorf("malformed comparison: %s (%w)", line, serr)
	}
	switch op {
	case "=", "!=", ">", "<":
	default:
		return nil, fmt.Errorf("malformed comparison: %s (unknown result %s)", line, op)
	}
	var cmp clientv3.Cmp
	num := func() (int64, error) {
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid txn compare request: %s", line)
		}
		return v, nil
	}
	switch target {
	case "ver", "version":
		v, err := num()
		if err != nil {
			return nil, err
		}
		cmp = clientv3.Compare(clientv3.Version(key), op, v)
	case "c", "create":
		v, err := num()
		if err != nil {
			return nil, err
		}
		cmp = clientv3.Compare(clientv3.CreateRevision(key), op, v)
	case "m", "mod":
		v, err := num()
		if err != nil {
			return nil, err
		}
		cmp = clientv3.Compare(clientv3.ModRevision(key), op, v)
	case "val", "value":
		cmp = clientv3.Compare(clientv3.Value(key), op, val)
	case "lease":
		v, err := num()
		if err != nil {
			return nil, err
		}
		cmp = clientv3.Compare(clientv3.LeaseValue(key), op, v)
	default:
		return nil, fmt.Errorf("malformed comparison: %s (unknown target %s)", line, target)
	}
	return &cmp, nil
}
