// Command sdkget is the benchmark's yardstick: the OSS SDK v2 Downloader
// fetching one object to a local file with 16 parts of 8 MiB in parallel,
// the fastest a careful program can pull an object without a filesystem in
// the way. It prints the bytes and seconds taken as "BYTES SECONDS".
//
//	sdkget -endpoint http://127.0.0.1:9000 -bucket bench -key big.bin -out /tmp/big.bin
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

func main() {
	endpoint := flag.String("endpoint", "", "OSS endpoint URL")
	region := flag.String("region", "cn-hangzhou", "region")
	bucket := flag.String("bucket", "", "bucket")
	key := flag.String("key", "", "object key")
	out := flag.String("out", "", "local file to write")
	parallel := flag.Int("parallel", 16, "parts in flight")
	partSize := flag.Int64("part-size", 8<<20, "part size in bytes")
	flag.Parse()
	if *endpoint == "" || *bucket == "" || *key == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: sdkget -endpoint URL -bucket B -key K -out FILE")
		os.Exit(2)
	}
	cfg := oss.LoadDefaultConfig().
		WithEndpoint(*endpoint).
		WithRegion(*region).
		WithUsePathStyle(true).
		WithCredentialsProvider(credentials.NewAnonymousCredentialsProvider())
	client := oss.NewClient(cfg)
	d := client.NewDownloader(func(o *oss.DownloaderOptions) {
		o.ParallelNum = *parallel
		o.PartSize = *partSize
	})
	t0 := time.Now()
	res, err := d.DownloadFile(context.Background(), &oss.GetObjectRequest{Bucket: oss.Ptr(*bucket), Key: oss.Ptr(*key)}, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkget:", err)
		os.Exit(1)
	}
	fmt.Printf("%d %.6f\n", res.Written, time.Since(t0).Seconds())
}
