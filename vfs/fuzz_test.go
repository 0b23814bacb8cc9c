package vfs

import (
	"context"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/store"
)

// keyLister serves a fixed set of keys the way a delimited
// ListObjectsV2 does: objects and common prefixes under a prefix.
type keyLister struct{ keys []string } // sorted

func (l *keyLister) List(ctx context.Context, prefix, token string, maxKeys int) (store.ListPage, error) {
	var page store.ListPage
	for _, k := range l.keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if p := prefix + rest[:i+1]; len(page.Prefixes) == 0 || page.Prefixes[len(page.Prefixes)-1] != p {
				page.Prefixes = append(page.Prefixes, p)
			}
			continue
		}
		page.Objects = append(page.Objects, store.ObjectInfo{Key: k, Size: int64(len(k))})
	}
	return page, nil
}

// ListAll serves the listing in key order, objects and prefixes merged,
// in pages of two entries: a file and the directory of the same name
// ("a", "a-b", "a/") often land on different pages.
func (l *keyLister) ListAll(ctx context.Context, prefix string, fn func(store.ListPage) error) error {
	all, err := l.List(ctx, prefix, "", 0)
	if err != nil {
		return err
	}
	type item struct {
		key   string
		isDir bool
		obj   store.ObjectInfo
	}
	var items []item
	for _, o := range all.Objects {
		items = append(items, item{key: o.Key, obj: o})
	}
	for _, p := range all.Prefixes {
		items = append(items, item{key: p, isDir: true})
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.key, b.key) })
	for i := 0; i < len(items) || i == 0; i += 2 {
		var page store.ListPage
		for _, it := range items[i:min(i+2, len(items))] {
			if it.isDir {
				page.Prefixes = append(page.Prefixes, it.key)
			} else {
				page.Objects = append(page.Objects, it.obj)
			}
		}
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

func (l *keyLister) Head(ctx context.Context, key string) (store.ObjectInfo, error) {
	if _, ok := slices.BinarySearch(l.keys, key); ok {
		return store.ObjectInfo{Key: key, Size: int64(len(key))}, nil
	}
	return store.ObjectInfo{}, &store.RequestError{Op: "HEAD", Key: key, Status: 404, Kind: store.ErrNotFound}
}

// FuzzKeyToPath feeds arbitrary key sets (separated by NUL) to the
// namespace and checks what it makes of them: every name is a valid file
// name, names are unique and sorted in each directory, a file is exactly
// one key and a directory is a real prefix, and lookups agree with
// listings. Nothing may panic.
func FuzzKeyToPath(f *testing.F) {
	for _, seed := range []string{
		"a\x00b/c\x00b/d/e",
		"h/../escape\x00h/./dot\x00h//double\x00h/trail/\x00h/both\x00h/both/child",
		"dir/\x00dir/x\x00dir//y\x00/lead\x00trail/",
		"new\nline\x00ctl\x01\x00bad\xff\xfe\x00" + strings.Repeat("n", 300),
		"p/x\x00p/y/z\x00q",
	} {
		f.Add(seed, "")
		f.Add(seed, "p/")
	}
	f.Fuzz(func(t *testing.T, blob, prefix string) {
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		keys := strings.Split(blob, "\x00")
		slices.Sort(keys)
		keys = slices.Compact(keys)
		set := &keyLister{keys: keys}
		v := New(Options{Prefix: prefix, MetadataTTL: time.Hour, NegativeTTL: time.Hour,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, set, nil, nil)
		ctx := context.Background()
		var walk func(dir string, depth int)
		walk = func(dir string, depth int) {
			ents, err := v.ReadDir(ctx, dir)
			if err != nil {
				t.Fatalf("ReadDir(%q): %v", dir, err)
			}
			for i, e := range ents {
				if !validName(e.Name) || strings.Contains(e.Name, "/") {
					t.Fatalf("dir %q lists an invalid name %q", dir, e.Name)
				}
				if i > 0 && ents[i-1].Name >= e.Name {
					t.Fatalf("dir %q: %q then %q (unsorted or duplicate)", dir, ents[i-1].Name, e.Name)
				}
				p := path.Join(dir, e.Name)
				key := prefix + p
				if e.IsDir {
					if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, key+"/") }) {
						t.Fatalf("directory %q has no key under it", p)
					}
				} else if _, ok := slices.BinarySearch(keys, key); !ok {
					t.Fatalf("file %q is no key", p)
				} else if slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, key+"/") }) {
					t.Fatalf("%q is a file and a prefix; listed as the file, not the directory", p)
				}
				got, err := v.Lookup(ctx, dir, e.Name)
				if err != nil || got.IsDir != e.IsDir {
					t.Fatalf("Lookup(%q, %q) = %+v, %v; listed as dir=%v", dir, e.Name, got, err, e.IsDir)
				}
				if e.IsDir && depth < 8 {
					walk(p, depth+1)
				}
			}
		}
		walk("", 0)
	})
}
