// Package auth keeps etcd's access control: users, roles, the key-range
// permissions granted to roles, the enabled flag and the auth revision, and
// the tokens that identify a caller (as etcd's AuthStore and its simple and
// JWT token providers).
//
// # State machine
//
// The users, roles, enabled flag and revision are replicated state, stored
// under storage.PrefixAuth inside the replicated range, so raft snapshots
// and Concord's snapshot file carry them. They change only through
// committed InternalRaftRequest auth entries, applied by the apply loop
// (Store.Apply). The auth revision grows by one with every change that can
// alter a permission decision, as etcd's; a request authorised against an
// older revision is refused in the apply loop with ErrAuthOldRevision, so no
// stale decision commits. A new cluster starts at revision 1 (as etcd), so
// revision 0 in a request means "no user".
//
// # Key layout
//
// Under storage.PrefixAuth (0x07), one byte of record kind, then:
//
//	0x07 0x01 'e'       enabled flag: one byte, 1 enabled, 0 disabled
//	                    (absent: disabled)
//	0x07 0x01 'r'       auth revision: 8 bytes big-endian (absent: 1)
//	0x07 0x02 <name>    user <name>: an authpb.User (name, bcrypt hash,
//	                    roles sorted, options.no_password)
//	0x07 0x03 <name>    role <name>: an authpb.Role, its KeyPermission
//	                    sorted by key, then range_end
//
// Apply writes the records a request changes into the apply batch, beside
// the applied index, then updates memory; Load rebuilds memory from them.
// The per-user merged permission intervals are a cache in memory only,
// dropped at every change.
//
// Passwords are bcrypt hashes. They are computed on the member that
// received the request (HashPassword), never in the apply loop; the apply
// loop stores the hash it is given.
//
// # Tokens
//
// A token names a user and the auth revision it was issued at. The simple
// provider ("simple") keeps opaque random tokens in each member's memory,
// expiring after the TTL since last use; the token is chosen by the member
// that received Authenticate and travels in the committed entry, so every
// member learns it and a leader change does not invalidate it. Expired
// tokens are dropped lazily (on lookup and at most once a second during
// lookups and registrations): no goroutine. AuthDisable drops all simple
// tokens; deleting a user or changing its password drops its tokens. The
// JWT provider ("jwt,...") signs self-contained tokens any member can
// verify, with etcd's claims "username", "revision" and "exp".
//
// # Passwords
//
// CheckPassword runs bcrypt off the apply loop and remembers verified
// pairs (an HMAC of user, stored hash and password, under a random
// in-memory key; never the password), keyed on the stored hash so a new
// password misses; concurrent checks of one pair share one bcrypt.
//
// # Goroutines
//
// The apply loop is the only writer (Apply, Load). Any goroutine may call
// the read side: Enabled, Revision, the Is*Permitted checks, CheckPassword,
// AuthInfoFromContext and the user and role reads. Store.mu guards the
// replicated view; the permission cache, the simple tokens and the password
// cache have their own mutexes, taken inside mu or alone, never the other
// way round. The package starts no goroutine.
package auth
