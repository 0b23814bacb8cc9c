package vfs

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/ossmount/ossmount/blockcache"
	"github.com/ossmount/ossmount/fetcher"
	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/version"
)

// Opening a file: the open's one request, the version it finds, and the
// object the handles of that version share. The package comment says what
// an open sends and why.

// OpenResult tells the adapter how to open the file in the kernel.
type OpenResult struct {
	// KeepCache: the version is the one the kernel may have pages of, so its
	// page cache stays valid.
	KeepCache bool
	// Entry is the file as the open found it (its size may differ from the
	// one the kernel knows).
	Entry Entry
}

// OpenVersion opens file p like Open, for a caller (a kernel inode) that
// stands for version seen (the entry a lookup gave): if the open finds
// another version, it fails with ErrStale and the caller should be
// replaced by the new version's (see Gen, which already counts the new
// generation).
func (v *FS) OpenVersion(ctx context.Context, p string, seen Entry) (*Handle, OpenResult, error) {
	h, res, err := v.open(ctx, p, &seen)
	if err != nil {
		return nil, res, err
	}
	if !store.SameETag(res.Entry.ETag, seen.ETag) {
		v.Gen(p, res.Entry.ETag)
		h.Release()
		return nil, OpenResult{}, fmt.Errorf("%w: opened as %s, now %s", ErrStale, seen.ETag, res.Entry.ETag)
	}
	return h, res, nil
}

// Open revalidates file p against the store and returns a handle on its
// current version.
func (v *FS) Open(ctx context.Context, p string) (*Handle, OpenResult, error) {
	return v.open(ctx, p, nil)
}

// open is Open; seen, if known, is what a lookup said of p. Its ETag is
// the version the mount has seen: a cached version with another ETag is
// not revalidated but fetched anew (its conditions could not be trusted
// to catch the change: If-Modified-Since has one-second resolution), and
// an empty one is asked for without a Range.
func (v *FS) open(ctx context.Context, p string, seen *Entry) (*Handle, OpenResult, error) {
	key := v.key(p)
	cached, haveCached := v.cache.Cached(v.opts.Bucket, key)
	if haveCached && cached.BlockSize != v.opts.BlockSize {
		haveCached = false
	}
	if !haveCached {
		cached, haveCached = v.cachedEmpty(key)
	}
	if haveCached && seen != nil && seen.ETag != "" && !store.SameETag(seen.ETag, cached.ETag) {
		haveCached = false
	}
	var cond fetcher.Conditions
	if haveCached {
		cond.ETag = cached.ETag
		if v.opts.Revalidate == "mtime" || cached.ETag == "" {
			cond.IfModifiedSince = cached.LastModified
		} else {
			cond.IfNoneMatch = cached.ETag
		}
	}
	firstBytes := v.probeBytes()
	if haveCached && cached.Size == 0 || !haveCached && seen != nil && seen.Size == 0 {
		firstBytes = 0 // an empty object cannot satisfy a range
	}
	op, err := v.openVersion(ctx, key, cond, cached, firstBytes)
	if err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.forget(p)
			v.cache.DropKey(v.opts.Bucket, key)
			v.setEmpty(key, version.Version{})
		case errors.Is(err, store.ErrArchived):
			v.log.Warn("object is in Archive/Cold Archive storage and not restored: restore it (RestoreObject, e.g. `ossutil restore`) before reading", "key", key)
		}
		return nil, OpenResult{}, err
	}
	res, ver := op.res, op.ver
	result := OpenResult{KeepCache: res.NotModified || (haveCached && cached.ID() == ver.ID())}
	result.Entry = Entry{Name: path.Base(p), Size: ver.Size, ETag: ver.ETag, LastModified: ver.LastModified, StorageClass: res.Info.StorageClass}
	if res.NotModified {
		if hit, ok := v.cachedEntry(p); ok {
			result.Entry.StorageClass = hit.StorageClass
		}
	}
	v.remember(p, result.Entry)

	obj := v.claim(op.obj)
	h := &Handle{v: v, path: p, object: obj, blocks: op.blocks}
	if !res.NotModified {
		v.fetch.OpenFetched(&h.ra, obj, int64(len(res.First))) // not cache hits, for stats
	}
	return h, result, nil
}

// claim takes a handle's reference on obj's version in FS.objects, and
// returns the object the handles of that version share: obj, or the one
// another open put there first.
func (v *FS) claim(obj *fetcher.Object) *fetcher.Object {
	v.mu.Lock()
	defer v.mu.Unlock()
	oo := v.objects[obj.ID]
	if oo == nil {
		oo = &openObject{obj: obj}
		v.objects[obj.ID] = oo
	}
	oo.refs++
	return oo.obj
}

// cachedEmpty returns the empty version of key an open found, if any.
func (v *FS) cachedEmpty(key string) (version.Version, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ver, ok := v.empties[key]
	return ver, ok && ver.BlockSize == v.opts.BlockSize
}

// setEmpty records ver as key's current version if it is empty, and
// forgets any other.
func (v *FS) setEmpty(key string, ver version.Version) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ver.Size != 0 || ver.ETag == "" {
		delete(v.empties, key)
	} else if _, ok := v.empties[key]; ok || len(v.empties) < maxEmpties {
		v.empties[key] = ver
	}
}

// maxProbe bounds the open's GET. The first byte can be served only once
// the open's GET is complete, so it is kept a quarter of a default block:
// that still covers the kernel's first read (its readahead starts small).
// The rest of block 0 is fetched right after, from where the open's GET
// ended (Fetcher.Seed); small files come whole.
const maxProbe = 256 << 10

func (v *FS) probeBytes() int64 {
	if v.opts.BlockSize <= maxProbe {
		return v.opts.BlockSize
	}
	return maxProbe
}

// opened is what an open found: the probe's answer, the version, its
// cache object and the object its handles read through.
type opened struct {
	res    fetcher.ProbeResult
	ver    version.Version
	blocks *blockcache.Object
	obj    *fetcher.Object
}

// openVersion is the one owner of opening a version: it sends the open's
// request (the conditional GET, Fetcher.Probe, called nowhere else),
// chooses the version (the cached one on 304, else the one the answer
// names, dropping the key's other cached versions), and hands what the
// answer brought to the fetcher (Fetcher.Seed: block 0 whole, or the start
// of it, the rest fetched from where the answer ended), before any opener
// reads. All concurrent opens of the key with the same cached version
// share this, and the one GET. The fetcher is the only writer of the
// cache; this only picks and drops versions.
func (v *FS) openVersion(ctx context.Context, key string, cond fetcher.Conditions, cached version.Version, firstBytes int64) (opened, error) {
	flight := fmt.Sprint(key, "\x00", cond.IfNoneMatch, "\x00", cond.IfModifiedSince, "\x00", cond.ETag, "\x00", firstBytes)
	ch := v.openFlight.DoChan(flight, func() (any, error) {
		res, err := v.fetch.Probe(context.WithoutCancel(ctx), key, cond, firstBytes)
		if err != nil {
			return nil, err
		}
		ver := cached
		if !res.NotModified {
			info := res.Info
			ver = version.Version{Bucket: v.opts.Bucket, Key: key, ETag: info.ETag, Size: info.Size,
				LastModified: info.LastModified.Truncate(time.Second), BlockSize: v.opts.BlockSize}
		}
		blocks, err := v.cache.Object(ver)
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		if !res.NotModified {
			v.cache.DropOthers(ver)
			v.setEmpty(key, ver)
		}
		obj := v.sharedObject(ver, blocks, res)
		if !res.NotModified {
			v.fetch.Seed(obj, res.First)
		}
		return opened{res, ver, blocks, obj}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return opened{}, r.Err
		}
		return r.Val.(opened), nil
	case <-ctx.Done():
		return opened{}, ctx.Err()
	}
}

// sharedObject returns the object the open handles of ver read through,
// or a new one (claim registers it).
func (v *FS) sharedObject(ver version.Version, blocks *blockcache.Object, res fetcher.ProbeResult) *fetcher.Object {
	v.mu.Lock()
	oo := v.objects[ver.ID()]
	v.mu.Unlock()
	if oo != nil {
		return oo.obj
	}
	obj := &fetcher.Object{ID: ver.ID(), Key: ver.Key, ETag: ver.ETag, Size: ver.Size, BlockSize: ver.BlockSize, Blocks: blocks}
	if !res.NotModified && res.Info.HasCRC64 {
		obj.ServerCRC64, obj.HasServerCRC = res.Info.CRC64, true
	}
	return obj
}

// Current reports whether file p still is version etag as far as the mount
// knows, from a lookup at most MetadataTTL old (else a HEAD): nil if so, or
// if the store cannot be asked now (the version's own attributes are the
// best answer then); ErrStale if p has another version or is gone.
func (v *FS) Current(ctx context.Context, p, etag string) error {
	if etag == "" {
		return nil // a version without an ETag cannot be told from others
	}
	e, err := v.Lookup(ctx, DirOf(p), path.Base(p))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrStale, err)
	case err != nil:
		v.log.Debug("cannot tell whether the object changed; keeping the open version's attributes", "path", p, "err", err)
		return nil
	case e.IsDir:
		return fmt.Errorf("%w: now a directory", ErrStale)
	case !store.SameETag(e.ETag, etag):
		return fmt.Errorf("%w: version %s, now %s", ErrStale, etag, e.ETag)
	}
	return nil
}

func (v *FS) cachedEntry(p string) (Entry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	hit, ok := v.lookups[p]
	return hit.entry, ok && hit.found
}
