package auth

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/authpb"
)

// interval is [start, end) over keys; a nil end is +∞ (etcd's range_end
// "\x00"). A single key k is [k, k+"\x00"), the smallest interval holding
// k alone.
type interval struct {
	start, end []byte
}

// cmpEnd compares two interval ends, nil being +∞.
func cmpEnd(a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

// toInterval turns etcd's (key, range_end) into an interval: range_end
// empty is the key alone, "\x00" is every key ≥ key.
func toInterval(key, end []byte) interval {
	switch {
	case len(end) == 0:
		return interval{key, append(slices.Clip(key), 0)}
	case len(end) == 1 && end[0] == 0:
		return interval{key, nil}
	}
	return interval{key, end}
}

// merged is a sorted list of disjoint, non-adjacent intervals: the union
// of a user's permissions of one type.
type merged []interval

func merge(ivs []interval) merged {
	ivs = slices.DeleteFunc(ivs, func(iv interval) bool { return iv.end != nil && bytes.Compare(iv.start, iv.end) >= 0 })
	slices.SortFunc(ivs, func(a, b interval) int { return bytes.Compare(a.start, b.start) })
	var out merged
	for _, iv := range ivs {
		if n := len(out); n > 0 && (out[n-1].end == nil || bytes.Compare(iv.start, out[n-1].end) <= 0) {
			if cmpEnd(iv.end, out[n-1].end) > 0 {
				out[n-1].end = iv.end
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// covers reports whether the union holds every key of iv. An empty or
// inverted iv (end ≤ start) asks for its start key only.
func (m merged) covers(iv interval) bool {
	if iv.end != nil && bytes.Compare(iv.start, iv.end) >= 0 {
		iv.end = append(slices.Clip(iv.start), 0)
	}
	// the last interval starting at or before iv.start
	i, found := slices.BinarySearchFunc(m, iv.start, func(x interval, k []byte) int { return bytes.Compare(x.start, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	return cmpEnd(m[i].end, iv.end) >= 0
}

// userPerms is the merged permissions of one user at one revision.
type userPerms struct {
	root  bool
	read  merged
	write merged
}

// permsLocked returns name's merged permissions (nil: no such user),
// building and caching them; the caller holds mu for reading or writing.
func (s *Store) permsLocked(name string) *userPerms {
	s.pmu.Lock()
	p, ok := s.perms[name]
	s.pmu.Unlock()
	if ok {
		return p
	}
	u := s.users[name]
	if u == nil {
		return nil
	}
	p = &userPerms{root: hasRole(u, RootRole)}
	var rd, wr []interval
	for _, rn := range u.Roles {
		ro := s.roles[rn]
		if ro == nil {
			continue
		}
		for _, perm := range ro.KeyPermission {
			iv := toInterval(perm.Key, perm.RangeEnd)
			switch perm.PermType {
			case authpb.Permission_READ:
				rd = append(rd, iv)
			case authpb.Permission_WRITE:
				wr = append(wr, iv)
			case authpb.Permission_READWRITE:
				rd = append(rd, iv)
				wr = append(wr, iv)
			}
		}
	}
	p.read, p.write = merge(rd), merge(wr)
	s.pmu.Lock()
	s.perms[name] = p
	s.pmu.Unlock()
	return p
}

// isOpPermitted is etcd's isOpPermitted: nil while auth is disabled;
// ErrUserEmpty without a user (or at revision 0); ErrAuthOldRevision if
// ai's revision is older than the store's; ErrPermissionDenied for an
// unknown user or a range its roles do not cover; the root role may do
// everything.
func (s *Store) isOpPermitted(ai *AuthInfo, key, end []byte, write bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.enabled.Load() {
		return nil
	}
	if ai == nil || ai.Username == "" || ai.Revision == 0 {
		return ErrUserEmpty
	}
	if ai.Revision < s.rev {
		return ErrAuthOldRevision
	}
	p := s.permsLocked(ai.Username)
	switch {
	case p == nil:
		return ErrPermissionDenied
	case p.root:
		return nil
	}
	m := p.read
	if write {
		m = p.write
	}
	if !m.covers(toInterval(key, end)) {
		return ErrPermissionDenied
	}
	return nil
}

// IsRangePermitted reports whether ai may read [key, end) (end empty: the
// key alone; "\x00": every key ≥ key), as etcd's: nil, ErrUserEmpty,
// ErrAuthOldRevision or ErrPermissionDenied. Always nil while auth is
// disabled.
func (s *Store) IsRangePermitted(ai *AuthInfo, key, end []byte) error {
	return s.isOpPermitted(ai, key, end, false)
}

// IsPutPermitted reports whether ai may write key (errors as
// IsRangePermitted).
func (s *Store) IsPutPermitted(ai *AuthInfo, key []byte) error {
	return s.isOpPermitted(ai, key, nil, true)
}

// IsDeleteRangePermitted reports whether ai may write [key, end) (errors
// as IsRangePermitted).
func (s *Store) IsDeleteRangePermitted(ai *AuthInfo, key, end []byte) error {
	return s.isOpPermitted(ai, key, end, true)
}

// IsAdminPermitted reports whether ai holds the root role, as etcd's:
// nil while auth is disabled; ErrUserEmpty without a user;
// ErrAuthOldRevision if ai's revision is older than the store's;
// ErrUserNotFound; ErrPermissionDenied.
func (s *Store) IsAdminPermitted(ai *AuthInfo) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.enabled.Load() {
		return nil
	}
	return s.adminPermittedLocked(ai)
}

func (s *Store) adminPermittedLocked(ai *AuthInfo) error {
	if ai == nil || ai.Username == "" {
		return ErrUserEmpty
	}
	if ai.Revision < s.rev {
		return ErrAuthOldRevision
	}
	u := s.users[ai.Username]
	if u == nil {
		return ErrUserNotFound
	}
	if !hasRole(u, RootRole) {
		return ErrPermissionDenied
	}
	return nil
}
