package auth

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

// State is the whole auth state as stored: what etcd's snapshot file keeps
// in its auth, authUsers and authRoles buckets (users hold bcrypt hashes in
// Password, as etcd's do).
type State struct {
	Enabled  bool
	Revision uint64 // the auth revision; 1 in a store never changed
	Users    []*authpb.User
	Roles    []*authpb.Role
}

// ReadState reads the auth records in r (a Pebble snapshot of the
// replicated state), users and roles sorted by name. A record that does
// not parse is storage.ErrCorrupt. Snapshot writers and Load use it.
func ReadState(r pebble.Reader) (State, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixAuth}, UpperBound: []byte{storage.PrefixAuth + 1}})
	if err != nil {
		return State{}, err
	}
	defer it.Close()
	st := State{Revision: 1}
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) < 2 {
			return State{}, fmt.Errorf("%w: auth key %x", storage.ErrCorrupt, k)
		}
		switch {
		case bytes.Equal(k, enabledKey) && len(v) == 1:
			st.Enabled = v[0] == 1
		case bytes.Equal(k, revisionKey) && len(v) == 8:
			st.Revision = binary.BigEndian.Uint64(v)
		case k[1] == kindUser:
			u := &authpb.User{}
			if err := proto.Unmarshal(v, u); err != nil {
				return State{}, fmt.Errorf("%w: auth user %q: %v", storage.ErrCorrupt, k[2:], err)
			}
			st.Users = append(st.Users, u)
		case k[1] == kindRole:
			ro := &authpb.Role{}
			if err := proto.Unmarshal(v, ro); err != nil {
				return State{}, fmt.Errorf("%w: auth role %q: %v", storage.ErrCorrupt, k[2:], err)
			}
			st.Roles = append(st.Roles, ro)
		default:
			return State{}, fmt.Errorf("%w: auth key %x", storage.ErrCorrupt, k)
		}
	}
	return st, it.Error()
}

// WriteState writes st into w as the records Load reads; w must hold no
// auth records yet (a snapshot restore into a new data dir). A user or
// role without a name is an error.
func WriteState(w pebble.Writer, st State) error {
	on := byte(0)
	if st.Enabled {
		on = 1
	}
	if err := w.Set(enabledKey, []byte{on}, nil); err != nil {
		return err
	}
	if err := w.Set(revisionKey, binary.BigEndian.AppendUint64(nil, max(st.Revision, 1)), nil); err != nil {
		return err
	}
	if err := writeNamed(w, userKey, st.Users, ErrUserEmpty); err != nil {
		return err
	}
	return writeNamed(w, roleKey, st.Roles, ErrRoleEmpty)
}

// writeNamed writes each of ms at key(its name); a nameless one is empty.
func writeNamed[M interface {
	proto.Message
	GetName() []byte
}](w pebble.Writer, key func(string) []byte, ms []M, empty error) error {
	for _, m := range ms {
		if len(m.GetName()) == 0 {
			return empty
		}
		v, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		if err := w.Set(key(string(m.GetName())), v, nil); err != nil {
			return err
		}
	}
	return nil
}
