package vfs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ossmount/ossmount/store"
)

// Symbolic links.
//
// An OSS symbolic link (an object of type Symlink, made by PutSymlink)
// names a target key of the same bucket. It shows as a symbolic link whose
// text is the target's path relative to the link's directory, so the
// kernel follows it within the mount wherever the mount is: the link
// "a/ln" to key "b/f" reads "../b/f". A target that is not under the
// mounted prefix, or is not a valid path, has nothing in the mount to lead
// to: its text is "oss://BUCKET/KEY" with the key escaped into one
// component (a path through a directory "oss:" that a mount does not
// have), so it is dangling, as is a link to a key that does not exist. A
// link's size is the length of its text, as on a local filesystem (OSS
// lists a link with another size).
//
// Listings mark links by their type but do not name the target, so the
// first lookup of a link reads it (GetSymlink), once per link version: the
// targets are kept by key and ETag.

// ErrNotSymlink: Readlink of something that is not a symbolic link.
var ErrNotSymlink = errors.New("not a symbolic link")

// maxLinkTargets bounds the remembered link targets; past it they are
// forgotten and read again when needed.
const maxLinkTargets = 100000

// linkTargets remembers link targets by key and ETag. Its mutex is a leaf:
// never held across a request or while taking another lock.
type linkTargets struct {
	mu     sync.Mutex
	byKey  map[string]string // key + "\x00" + ETag → target key
	flight singleflight.Group
}

func (lt *linkTargets) get(id string) (string, bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	t, ok := lt.byKey[id]
	return t, ok
}

func (lt *linkTargets) put(id, target string) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.byKey == nil || len(lt.byKey) >= maxLinkTargets {
		lt.byKey = make(map[string]string)
	}
	lt.byKey[id] = target
}

// Lookup finds name in directory dir. A symbolic link comes with its text
// (Entry.Target) and size.
func (v *FS) Lookup(ctx context.Context, dir, name string) (Entry, error) {
	e, err := v.lookupEntry(ctx, dir, name)
	if err != nil || !e.Symlink || e.Target != "" {
		return e, err
	}
	p := path.Join(dir, name)
	target, err := v.linkTarget(ctx, v.key(p), e.ETag)
	if err != nil {
		return Entry{}, err
	}
	return v.linkEntry(p, e, target), nil
}

// linkEntry completes link entry e at p with its target key.
func (v *FS) linkEntry(p string, e Entry, target string) Entry {
	e.Target = v.linkText(p, target)
	e.Size = int64(len(e.Target))
	return e
}

// linkTarget returns the target key of the link at key, version etag: a
// remembered one, else one GetSymlink shared by concurrent callers (it
// runs detached, each caller waits on its own ctx).
func (v *FS) linkTarget(ctx context.Context, key, etag string) (string, error) {
	id := key + "\x00" + etag
	if t, ok := v.links.get(id); ok {
		return t, nil
	}
	sr, ok := v.lister.(store.SymlinkReader)
	if !ok {
		return "", ErrNotSymlink
	}
	ch := v.links.flight.DoChan(id, func() (any, error) {
		t, got, err := sr.ReadSymlink(context.WithoutCancel(ctx), key)
		if err != nil {
			return "", err
		}
		if etag == "" || store.SameETag(got, etag) {
			v.links.put(id, t)
		}
		return t, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// linkText is the text of the link at path p (relative to the mount root)
// to target key (see the top of this file).
func (v *FS) linkText(p, target string) string {
	rel, ok := strings.CutPrefix(target, v.opts.Prefix)
	rel = strings.TrimSuffix(rel, "/")
	if !ok || !validPath(rel) {
		return "oss://" + v.opts.Bucket + "/" + url.PathEscape(target)
	}
	// Both are absolute and clean, so Rel cannot fail; the result never
	// climbs above the mount root.
	text, _ := filepath.Rel("/"+DirOf(p), "/"+rel)
	return text
}

// validPath reports whether p ("" is the root) is a path of the mount:
// each component a valid name.
func validPath(p string) bool {
	if p == "" {
		return true
	}
	for c := range strings.SplitSeq(p, "/") {
		if !validName(c) {
			return false
		}
	}
	return true
}

// Readlink returns the text of the symbolic link at p.
func (v *FS) Readlink(ctx context.Context, p string) (string, error) {
	e, err := v.Lookup(ctx, DirOf(p), path.Base(p))
	if err != nil {
		return "", err
	}
	if !e.Symlink {
		return "", ErrNotSymlink
	}
	return e.Target, nil
}

// LinkIno returns the inode number of the symbolic link at p: its own
// number, not the file's or directory's of the same path (the kernel
// fixes an inode's type for its life).
func (v *FS) LinkIno(p string) uint64 {
	return v.Ino(p+"\x00link", false) // no path holds a NUL
}

// isSymlink reports whether a listed or HEAD object is a symbolic link.
func isSymlink(o store.ObjectInfo) bool { return o.Type == store.TypeSymlink }

// entryOf is the entry of object o under name, as a listing or a HEAD
// describes it (a link's text and size are Lookup's to complete).
func entryOf(name string, o store.ObjectInfo) Entry {
	return Entry{Name: name, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified, StorageClass: o.StorageClass, Symlink: isSymlink(o)}
}

// ErrLinkOutside: ln -s with a text that names no key inside this mount
// (absolute, climbing above the mount root, or the root itself).
var ErrLinkOutside = errors.New("a symbolic link made through the mount must name a path inside it, relative to the link")

// Symlink creates symbolic link name in dir with text (ln -s): an OSS
// link object whose target is the key text names, the inverse of
// linkText. The text is taken relative to the link's directory and
// cleaned, so readlink gives back the cleaned path ("./a/../b" reads
// "b"). Links are created only, like files, but allow_overwrite does not
// apply: a name that exists is ErrExists (replace a link by removing it
// first). The link shows in this mount at once.
func (v *FS) Symlink(ctx context.Context, dir, name, text string) (Entry, error) {
	if v.wr == nil {
		return Entry{}, ErrReadOnly
	}
	if !validName(name) {
		return Entry{}, fmt.Errorf("%w: invalid name %q", ErrNotAllowed, name)
	}
	p := path.Join(dir, name)
	rel, why := linkPath(dir, text)
	if why != "" {
		v.log.Warn("symlink refused: OSS links name a key of the bucket, so a link made here must lead inside the mount",
			"path", p, "target", text, "reason", why)
		return Entry{}, fmt.Errorf("%w: %q (%s)", ErrLinkOutside, text, why)
	}
	if _, ok := v.pendingEntry(p); ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrExists, p)
	}
	if _, err := v.lookupEntry(ctx, dir, name); err == nil {
		return Entry{}, fmt.Errorf("%w: %s", ErrExists, p)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Entry{}, err
	}
	key, target := v.key(p), v.key(rel)
	c, err := v.wr.cfg.Store.PutSymlink(ctx, key, target, true)
	if err != nil {
		return Entry{}, err
	}
	if c.ETag != "" {
		v.links.put(key+"\x00"+c.ETag, target)
	}
	e := v.linkEntry(p, Entry{Name: name, Symlink: true, ETag: c.ETag, LastModified: time.Now()}, target)
	v.forget(p)
	v.remember(p, e)
	return e, nil
}

// linkPath resolves link text against the link's directory dir into the
// path (relative to the mount root) of the target, or says why it cannot.
func linkPath(dir, text string) (rel, why string) {
	switch {
	case text == "":
		return "", "empty target"
	case path.IsAbs(text):
		return "", "absolute target"
	}
	rel = path.Join(dir, text)
	switch {
	case rel == "..", strings.HasPrefix(rel, "../"):
		return "", "target above the mount root"
	case rel == ".":
		return "", "target is the mount root"
	case !validPath(rel):
		return "", "target is not a valid path"
	}
	return rel, ""
}
