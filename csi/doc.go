// Package csi is ossmount's CSI driver (`ossmount csi`): Identity,
// Controller and Node services over gRPC on a unix socket, for Kubernetes.
//
// One mount per volume per node: NodeStageVolume starts one ossmount daemon
// for the volume at the staging path, with its cache under --cache-root in
// a directory named by a hash of (bucket, prefix, endpoint), so every pod on
// the node shares one daemon and one cache, and the cache outlives pods,
// re-scheduling onto the node and plugin upgrades. NodePublishVolume
// bind-mounts the staging path into the pod: read-only unless the volume
// is staged writable (a writer access mode) and published without readonly.
//
// The daemons are ordinary ossmount processes in their own sessions, not
// goroutines of the plugin: they outlive it. The plugin records each staged
// volume durably (package state) and a restarted plugin adopts what the
// records describe; a daemon found dead is started again at the volume's
// next stage or publish, on its intact cache, and the volume's bind mounts
// are renewed. docs/csi.md explains the design and its trade-offs against
// the peers' mounter pods.
//
// Secrets become a 0600 credentials file that the daemon re-reads when it
// changes (config.FileProvider), so new STS secrets given at a repeated
// stage or publish rotate credentials without a remount.
//
// Lock order: a volume's lock (Driver.volumeLocks), then metrics.mu, then
// Driver.mu. Driver.mu and metrics.mu are held only for map accesses, never
// across a mount, a daemon start or a wait.
package csi
