package passwd

import "fmt"

// ChangeKind says what a Change does to a user.
type ChangeKind uint8

const (
	UserAdded ChangeKind = iota + 1
	UserRemoved
	PasswordChanged
)

// Change is one step of making a password file match a UserList. It carries the new
// password or hash, but its String never shows them.
type Change struct {
	Kind ChangeKind
	User string

	password string // plain text to hash, for UserAdded and PasswordChanged from a password
	hash     *hash  // copied verbatim, for UserAdded and PasswordChanged from a password_hash
}

// String is the change as a line of a diff: "+ site7", "- olduser", "~ smc (password changed)".
func (c Change) String() string {
	switch c.Kind {
	case UserAdded:
		return "+ " + c.User
	case UserRemoved:
		return "- " + c.User
	case PasswordChanged:
		return "~ " + c.User + " (password changed)"
	}
	return fmt.Sprintf("? %s (change %d)", c.User, c.Kind)
}

// PlanSync returns the changes that make f hold exactly the users of list, without modifying
// f: removals and password changes in file order, then additions in list order. A user listed
// with a password keeps its entry when the stored hash verifies that password, whatever the
// hash format, so planning again after ApplySync finds nothing to do and a password is not
// hashed again on every run; this costs one verification per such user. A user listed with a
// password_hash keeps its entry when the stored hash is that exact string.
func PlanSync(f *File, list *UserList) ([]Change, error) {
	wanted := make(map[string]*ListedUser, len(list.Users))
	for i := range list.Users {
		u := &list.Users[i]
		if _, dup := wanted[u.Name]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateUser, u.Name)
		}
		wanted[u.Name] = u
	}
	var changes []Change
	for _, user := range f.Users() {
		u, ok := wanted[user]
		if !ok {
			changes = append(changes, Change{Kind: UserRemoved, User: user})
			continue
		}
		c, err := newChange(PasswordChanged, u)
		if err != nil {
			return nil, err
		}
		current := f.lookup(user)
		if c.hash != nil && c.hash.encoded == current.encoded {
			continue
		}
		if c.hash == nil && current.matches(c.password) {
			continue
		}
		changes = append(changes, c)
	}
	for i := range list.Users {
		u := &list.Users[i]
		if f.Has(u.Name) {
			continue
		}
		c, err := newChange(UserAdded, u)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// newChange checks u, which may not come from ParseUserList, and captures its password.
func newChange(kind ChangeKind, u *ListedUser) (Change, error) {
	c := Change{Kind: kind, User: u.Name}
	if err := checkUsername(u.Name); err != nil {
		return c, err
	}
	switch {
	case u.Password != "" && u.PasswordHash != "":
		return c, fmt.Errorf("user %q: both password and password_hash", u.Name)
	case u.PasswordHash != "":
		h, err := decodeHash(u.PasswordHash)
		if err != nil {
			return c, fmt.Errorf("user %q: %w", u.Name, err)
		}
		c.hash = h
	case u.Password != "":
		c.password = u.Password
	default:
		return c, fmt.Errorf("user %q: %w", u.Name, ErrEmptyPassword)
	}
	return c, nil
}

// ApplySync makes changes from PlanSync to f, hashing new passwords with h (nil means PBKDF2
// with DefaultIterations). On error f may hold some of the changes; write it only on success.
func (f *File) ApplySync(changes []Change, h Hasher) error {
	for _, c := range changes {
		switch {
		case c.Kind == UserRemoved:
			f.Delete(c.User)
		case c.hash != nil:
			f.setHash(c.User, c.hash)
		default:
			if err := f.Set(c.User, c.password, h); err != nil {
				return fmt.Errorf("user %q: %w", c.User, err)
			}
		}
	}
	return nil
}
