// Package ossemu is an in-process emulator of the Alibaba Cloud OSS REST API
// subset that ossmount uses, for tests and benchmarks: no network beyond
// loopback, no credentials of value, deterministic data and injectable
// faults.
//
// Scope: GetObject (single Range, x-oss-range-behavior, If-Match,
// If-None-Match, If-Modified-Since, If-Unmodified-Since, archive
// InvalidObjectState), HeadObject (errors in the base64 x-oss-err header, as
// OSS sends them), PutObject, DeleteObject, RestoreObject, ListObjects (V1)
// and ListObjectsV2 (delimiter, pagination, encoding-type=url), and a few
// bucket calls (location, bucketInfo, acl, HeadBucket, Put/DeleteBucket,
// ListBuckets). Buckets are addressed path-style (http://HOST/BUCKET/KEY),
// or virtual-hosted when the Host is BUCKET.anything and BUCKET exists;
// a request in absolute form (GET http://BUCKET.HOST/KEY, as a client
// sends to its HTTP proxy) is served too, which is how ossfs 2.0, whose
// URLs are always virtual-hosted, reaches an emulator on 127.0.0.1 (its
// --http_proxy names the emulator).
// Requests are authenticated like OSS: Signature V4 and V1 are verified by
// re-signing the received request with the SDK's own signer; anonymous
// requests pass only on public buckets. Every response carries
// x-oss-request-id, and errors are OSS error XML. Multipart upload,
// versioning, presigned URLs and the other subresources answer 501
// NotImplemented.
//
// Objects are served from an io.ReaderAt without copies (PutReaderAt with a
// PatternReaderAt gives GiB-sized objects at no memory cost); their
// ETag (MD5) and x-oss-hash-crc64ecma are computed once, when stored.
//
// A test starts one server, creates a bucket and objects, and points the
// real SDK (or the code under test) at the returned URL:
//
//	emu := ossemu.New(ossemu.Options{Credentials: map[string]string{"AK": "SK"}})
//	url, err := emu.Start("127.0.0.1:0")
//	...
//	defer emu.Close()
//	emu.CreateBucket("bkt", false)
//	emu.Put("bkt", "dir/a.txt", []byte("hello"))
//	emu.PutReaderAt("bkt", "big", ossemu.PatternReaderAt{Seed: 1, Size: 1 << 30}, 1<<30)
//	cfg := oss.LoadDefaultConfig().WithEndpoint(url).WithRegion("cn-hangzhou").
//		WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AK", "SK"))
//
// Then it asserts on what went over the wire with Requests (method, key,
// Range, conditional headers, status, body bytes written, faults), and
// injects misbehaviour with SetFaults: latency, a per-response bandwidth
// cap, connection resets and truncated bodies mid-body, stalls, and 5xx
// answers, optionally limited to keys with a prefix. The same call picks
// how unsatisfiable ranges are answered (OSS's default 200, OSS's standard
// range behaviour or MinIO's 416) and whether 304s carry an ETag.
//
// The command test/cmd/ossemu serves the same emulator out of process (for
// the demo and for benchmarks with s3fs, rclone or ossmount); with -control
// it exposes SetFaults and the request log over HTTP under /_emu/.
package ossemu
