package csi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	mount "k8s.io/mount-utils"

	"github.com/ossmount/ossmount/control"
	"github.com/ossmount/ossmount/csi/internal/state"
	"github.com/ossmount/ossmount/vfs"
)

// startDaemon runs ossmount for v at its staging path and records the
// daemon's identity in v. ossmount daemonizes once the mount is served
// (exit 0), or exits non-zero with a one-line reason, which becomes the
// error. The daemon runs in its own session: it outlives this plugin.
func (d *Driver) startDaemon(ctx context.Context, v *state.Volume, spec *volumeSpec) error {
	if err := os.MkdirAll(v.StagingPath, 0o750); err != nil {
		return fmt.Errorf("staging path: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, daemonStartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.opts.Ossmount, spec.args(v.StagingPath, v.CacheDir, v.CredentialsFile, v.LogFile)...)
	cmd.Env = daemonEnv()
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	// ossmount's stderr is its mount-time warnings ("ossmount: warning:
	// ..."), then, when it fails, the one line that says why.
	var reason string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "ossmount: ")
		if w, ok := strings.CutPrefix(line, "warning: "); ok {
			d.log.Warn("ossmount: "+w, "volume", v.VolumeID)
		} else if line != "" {
			reason = line
		}
	}
	if err != nil {
		if reason == "" {
			reason = err.Error()
		}
		return fmt.Errorf("mounting %s: %s", v.StagingPath, reason)
	}
	pid, start, err := daemonIdentity(v.CacheDir)
	if err != nil {
		return fmt.Errorf("mounted %s, but its daemon does not answer: %w", v.StagingPath, err)
	}
	v.PID, v.PIDStart = pid, start
	return nil
}

const daemonStartTimeout = 2 * time.Minute

// daemonEnv is the plugin's environment without OSS credentials: a
// volume's credentials come from its secret (or it is anonymous), never
// from whatever the plugin's own environment holds.
func daemonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OSS_") || k == "OSSMOUNT_DAEMON" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// daemonIdentity returns the PID and start time of the daemon owning
// cacheDir, from the peer credentials of its control socket.
func daemonIdentity(cacheDir string) (pid int, start uint64, err error) {
	conn, err := net.DialTimeout("unix", control.SocketPath(cacheDir), 5*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if credErr != nil {
		return 0, 0, credErr
	}
	start, ok := processStart(int(cred.Pid))
	if !ok {
		return 0, 0, fmt.Errorf("daemon process %d vanished", cred.Pid)
	}
	return int(cred.Pid), start, nil
}

// processStart returns the start time of a live (not zombie) process.
func processStart(pid int) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid ... field 22 is starttime; comm may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return start, err == nil
}

// daemonRunning reports whether v's recorded daemon still runs.
func daemonRunning(v *state.Volume) bool {
	start, ok := processStart(v.PID)
	return ok && start == v.PIDStart
}

// serving reports whether path is a live ossmount mount of the daemon
// owning cacheDir: its root answers with that daemon's control socket.
// statfs and getxattr always reach the daemon (stat may be answered from
// the kernel's attribute cache of a dead mount).
func serving(path, cacheDir string) bool {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return false
	}
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, vfs.ControlXattr, buf)
	return err == nil && string(buf[:n]) == control.SocketPath(cacheDir)
}

// mountedAt reports whether path is a mount point, dead ones included.
func (d *Driver) mountedAt(path string) (mounted, dead bool, err error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, false, nil
		}
		if mount.IsCorruptedMnt(&os.PathError{Op: "statfs", Path: path, Err: err}) {
			return true, true, nil
		}
		return false, false, err
	}
	mounted, err = d.mounter.IsMountPoint(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	}
	return mounted, false, err
}

// unmountAll unmounts every mount stacked at path, dead ones included, and
// leaves the directory.
func (d *Driver) unmountAll(path string) error {
	for i := 0; i < 16; i++ {
		mounted, _, err := d.mountedAt(path)
		if err != nil {
			return err
		}
		if !mounted {
			return nil
		}
		if err := unix.Unmount(path, 0); err != nil {
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("unmounting %s: %w (still in use)", path, err)
			}
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("unmounting %s: %w", path, err)
			}
		}
	}
	return fmt.Errorf("%s is still mounted", path)
}

// waitExit waits for v's daemon to exit after its mount went away, then
// asks it (SIGTERM) and finally forces it (SIGKILL): no daemon is left
// behind an unstaged volume.
func waitExit(ctx context.Context, v *state.Volume) error {
	if v.PID == 0 {
		return nil
	}
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{0, 20 * time.Second}, {syscall.SIGTERM, 10 * time.Second}, {syscall.SIGKILL, 5 * time.Second}}
	for _, st := range steps {
		if !daemonRunning(v) {
			return nil
		}
		if st.sig != 0 {
			_ = syscall.Kill(v.PID, st.sig)
		}
		deadline := time.Now().Add(st.wait)
		for daemonRunning(v) && time.Now().Before(deadline) {
			reap(v.PID)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if daemonRunning(v) {
		return fmt.Errorf("daemon %d of volume %s does not exit", v.PID, v.VolumeID)
	}
	return nil
}

// reap collects pid's exit status if it is this process's child, which
// happens when the plugin is the container's init and the daemon was
// orphaned to it. Anything else (not our child) is ignored.
func reap(pid int) {
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}
