package vfs

import (
	"context"
	"path"
	"sort"
)

// ControlXattr is the root directory's extended attribute that names the
// daemon's control socket, so that `ossmount stats|warm PATH` can find the
// daemon serving PATH with nothing but the mount itself.
const ControlXattr = "user.ossmount.control"

// DirXattrs returns the extended attributes of directory p.
func (v *FS) DirXattrs(p string) map[string]string {
	if p == "" && v.opts.ControlSocket != "" {
		return map[string]string{ControlXattr: v.opts.ControlSocket}
	}
	return map[string]string{}
}

// WarmFile is one file `ossmount warm` fetches.
type WarmFile struct {
	Path string `json:"path"` // relative to the mount root
	Size int64  `json:"size"`
}

// WarmPlan expands p (a file or a directory, relative to the mount root; ""
// is the root) into the files under it, in path order.
func (v *FS) WarmPlan(ctx context.Context, p string) ([]WarmFile, error) {
	if p != "" {
		e, err := v.Lookup(ctx, DirOf(p), path.Base(p))
		if err != nil {
			return nil, err
		}
		if e.Symlink {
			return nil, nil // its target is warmed by its own path
		}
		if !e.IsDir {
			return []WarmFile{{Path: p, Size: e.Size}}, nil
		}
	}
	var out []WarmFile
	entries, err := v.ReadDir(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		child := e.Name
		if p != "" {
			child = p + "/" + e.Name
		}
		if e.Symlink {
			continue
		}
		if !e.IsDir {
			out = append(out, WarmFile{Path: child, Size: e.Size})
			continue
		}
		sub, err := v.WarmPlan(ctx, child)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Warm fetches every uncached block of file p into the cache, after the
// same revalidation as an open, so it warms the current version. progress
// gets the file's bytes done so far and, of those, the bytes that were
// cached already.
func (v *FS) Warm(ctx context.Context, p string, progress func(done, cached int64)) error {
	h, res, err := v.Open(ctx, p)
	if err != nil {
		return err
	}
	defer h.Release()
	return v.fetch.Warm(ctx, h.object, func(done, cached int64) {
		if !res.KeepCache {
			// A version new to the cache: what it holds (the first
			// block) came with this open's GET.
			cached = 0
		}
		progress(done, cached)
	})
}
