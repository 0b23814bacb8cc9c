package blockcache

import (
	"errors"
	"sort"
)

// The administrative view of a cache (`ossmount cache du|verify|clear`). The
// same methods serve a running daemon (through its control socket) and a
// cache dir opened by the command itself when no daemon holds it, so the
// locking rules of the package apply unchanged: nothing here writes a file
// behind the back of the process that owns the directory.

// ObjectUsage is what the cache holds of one object version.
type ObjectUsage struct {
	Bucket      string
	Key         string
	ETag        string
	ID          string // the cache's name for the version (a hash)
	Size        int64
	CachedBytes int64
	Blocks      int
}

// objectsWithBlocks returns the versions with at least one cached block.
func (c *Cache) objectsWithBlocks() []*Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Object
	for _, set := range c.index {
		for o := range set {
			out = append(out, o)
		}
	}
	return out
}

// Usage lists every cached object version, by bucket and key.
func (c *Cache) Usage() []ObjectUsage {
	var out []ObjectUsage
	for _, o := range c.objectsWithBlocks() {
		o.mu.Lock()
		u := ObjectUsage{Bucket: o.v.Bucket, Key: o.v.Key, ETag: o.v.ETag, ID: o.id, Size: o.v.Size,
			CachedBytes: o.presentBytes, Blocks: o.nPresent}
		o.mu.Unlock()
		if u.Blocks > 0 {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bucket != out[j].Bucket {
			return out[i].Bucket < out[j].Bucket
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// BadBlock is a cached block whose data did not match its recorded CRC64.
type BadBlock struct {
	Key   string
	ETag  string
	Block int
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Objects int
	Blocks  int
	Bytes   int64
	Bad     []BadBlock
}

// Verify reads every cached block again and checks it against the CRC64
// its checkpoint recorded; a block that fails is dropped (so it is
// refetched on demand) and reported. It goes through ReadAt, the path every
// read takes, after clearing the blocks' "checked in this process" mark, so
// a bad block is handled exactly as a read would handle it, with readers
// running at the same time. progress, if not nil, is called after each
// object with the bytes checked so far.
func (c *Cache) Verify(progress func(checked int64)) (VerifyReport, error) {
	var rep VerifyReport
	for _, o := range c.objectsWithBlocks() {
		var present []int
		o.mu.Lock()
		for b, st := range o.state {
			if st&stMask == stPresent {
				o.state[b] &^= flVerified
				present = append(present, b)
			}
		}
		o.mu.Unlock()
		if len(present) == 0 {
			continue
		}
		rep.Objects++
		for _, b := range present {
			off, n := o.v.BlockRange(b)
			bp := getBuf(n)
			_, err := o.ReadAt(*bp, off)
			bufPool.Put(bp)
			switch {
			case err == nil:
				rep.Blocks++
				rep.Bytes += n
			case errors.Is(err, ErrNotCached):
				// Either it failed its check (ReadAt dropped it) or it
				// was evicted meanwhile; only the first is news.
				if o.wasDroppedBad(b) {
					rep.Blocks++
					rep.Bad = append(rep.Bad, BadBlock{Key: o.v.Key, ETag: o.v.ETag, Block: b})
				}
			default:
				return rep, err
			}
		}
		if progress != nil {
			progress(rep.Bytes)
		}
	}
	return rep, nil
}

// wasDroppedBad reports whether block b was just dropped by a failed check:
// it is no longer present and it is the last block a failed check dropped
// (an eviction leaves lastBad alone).
func (o *Object) wasDroppedBad(b int) bool {
	o.mu.Lock()
	present := b < len(o.state) && o.state[b]&stMask == stPresent
	o.mu.Unlock()
	return !present && o.lastBad.Load() == int64(b)+1
}

// Clear drops every cached version of bucket/key (of any bucket when bucket
// is ""), or of everything when key is "". It returns the versions and
// bytes dropped. Open files of a dropped version simply refetch.
func (c *Cache) Clear(bucket, key string) (objects int, bytes int64) {
	for _, o := range c.objectsWithBlocks() {
		if key != "" && (o.v.Key != key || bucket != "" && o.v.Bucket != bucket) {
			continue
		}
		n := o.CachedBytes()
		o.Drop()
		objects++
		bytes += n
	}
	return objects, bytes
}
