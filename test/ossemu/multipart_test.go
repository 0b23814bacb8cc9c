package ossemu

import (
	"bytes"
	"context"
	"errors"
	"hash/crc64"
	"strconv"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func TestMultipartWithTheSDK(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	ctx := context.Background()
	b, k := oss.Ptr("bkt"), oss.Ptr("dir/mp.bin")
	init, err := c.InitiateMultipartUpload(ctx, &oss.InitiateMultipartUploadRequest{Bucket: b, Key: k, ForbidOverwrite: oss.Ptr("true")})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := bytes.Repeat([]byte("a"), 100<<10), []byte("tail")
	var parts []oss.UploadPart
	for i, p := range [][]byte{p1, p2} {
		r, err := c.UploadPart(ctx, &oss.UploadPartRequest{Bucket: b, Key: k, UploadId: init.UploadId, PartNumber: int32(i + 1), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		if *r.HashCRC64 != strconv.FormatUint(crc64.Checksum(p, crcTable), 10) {
			t.Fatalf("part %d CRC64 %s", i+1, *r.HashCRC64)
		}
		parts = append(parts, oss.UploadPart{PartNumber: int32(i + 1), ETag: r.ETag})
	}
	ups, err := c.ListMultipartUploads(ctx, &oss.ListMultipartUploadsRequest{Bucket: b, Prefix: oss.Ptr("dir/")})
	if err != nil || len(ups.Uploads) != 1 || *ups.Uploads[0].UploadId != *init.UploadId {
		t.Fatalf("ListMultipartUploads: %+v %v", ups, err)
	}
	lp, err := c.ListParts(ctx, &oss.ListPartsRequest{Bucket: b, Key: k, UploadId: init.UploadId})
	if err != nil || len(lp.Parts) != 2 || lp.Parts[1].Size != 4 {
		t.Fatalf("ListParts: %+v %v", lp, err)
	}
	if _, ok := f.emu.Object("bkt", "dir/mp.bin"); ok {
		t.Fatal("visible before Complete")
	}
	done, err := c.CompleteMultipartUpload(ctx, &oss.CompleteMultipartUploadRequest{Bucket: b, Key: k, UploadId: init.UploadId,
		ForbidOverwrite: oss.Ptr("true"), CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(p1), p2...)
	if got, _ := f.emu.ObjectData("bkt", "dir/mp.bin"); !bytes.Equal(got, want) {
		t.Fatal("completed object has other bytes")
	}
	if *done.HashCRC64 != strconv.FormatUint(crc64.Checksum(want, crcTable), 10) {
		t.Fatalf("Complete CRC64 %s", *done.HashCRC64)
	}
	// forbid-overwrite: 409 FileAlreadyExists on Put, Initiate and Copy.
	var se *oss.ServiceError
	_, err = c.PutObject(ctx, &oss.PutObjectRequest{Bucket: b, Key: k, ForbidOverwrite: oss.Ptr("true"), Body: bytes.NewReader(nil)})
	if !errors.As(err, &se) || se.StatusCode != 409 || se.Code != "FileAlreadyExists" {
		t.Fatalf("PutObject over it: %v", err)
	}
	// Copy with If-Match: the right ETag copies, another one is 412.
	info, _ := f.emu.Object("bkt", "dir/mp.bin")
	if _, err := c.CopyObject(ctx, &oss.CopyObjectRequest{Bucket: b, Key: oss.Ptr("copy.bin"), SourceKey: k, IfMatch: oss.Ptr(info.ETag)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.emu.ObjectData("bkt", "copy.bin"); !bytes.Equal(got, want) {
		t.Fatal("copy has other bytes")
	}
	_, err = c.CopyObject(ctx, &oss.CopyObjectRequest{Bucket: b, Key: oss.Ptr("copy2.bin"), SourceKey: k, IfMatch: oss.Ptr(`"other"`)})
	if !errors.As(err, &se) || se.StatusCode != 412 {
		t.Fatalf("CopyObject with a stale If-Match: %v", err)
	}
	// UploadPartCopy of a range, then Abort.
	up, _ := c.InitiateMultipartUpload(ctx, &oss.InitiateMultipartUploadRequest{Bucket: b, Key: oss.Ptr("x")})
	if _, err := c.UploadPartCopy(ctx, &oss.UploadPartCopyRequest{Bucket: b, Key: oss.Ptr("x"), UploadId: up.UploadId, PartNumber: 1,
		SourceKey: k, Range: oss.Ptr("bytes=0-9"), IfMatch: oss.Ptr(info.ETag)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &oss.AbortMultipartUploadRequest{Bucket: b, Key: oss.Ptr("x"), UploadId: up.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AbortMultipartUpload(ctx, &oss.AbortMultipartUploadRequest{Bucket: b, Key: oss.Ptr("x"), UploadId: up.UploadId})
	if !errors.As(err, &se) || se.Code != "NoSuchUpload" {
		t.Fatalf("second abort: %v", err)
	}
	// Versioning status.
	f.emu.SetVersioning("bkt", "Enabled")
	v, err := c.GetBucketVersioning(ctx, &oss.GetBucketVersioningRequest{Bucket: b})
	if err != nil || *v.VersionStatus != "Enabled" {
		t.Fatalf("versioning: %+v %v", v, err)
	}
	if _, err := c.PutObject(ctx, &oss.PutObjectRequest{Bucket: b, Key: k, ForbidOverwrite: oss.Ptr("true"), Body: bytes.NewReader(nil)}); err != nil {
		t.Fatalf("forbid-overwrite on a versioned bucket: %v", err)
	}
}
