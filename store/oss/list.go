package oss

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"

	"github.com/ossmount/ossmount/store"
)

// Listings.
//
// A directory of n thousand keys takes n ListObjectsV2 pages, and each page
// needs the previous page's continuation token, so a plain lister pays n ×
// (round trip + page body + XML decode). OSS writes NextContinuationToken
// near the top of the page, before the entries, so Store decodes the
// body as it streams in and asks for the next page the moment the token
// has been read: the next page's round trip then overlaps this page's body
// and decode, and a listing costs about n round trips plus one page. At
// most two pages are in flight per listing. The SDK's ListObjectsV2 reads
// the whole body before decoding it, so the request goes through the SDK's
// InvokeOperation (same signing, endpoint and transport) and the body is
// decoded here into the SDK's own XML types.

// List returns one page of ListObjectsV2 (delimiter "/", encoding-type=url).
func (s *Store) List(ctx context.Context, prefix, token string, maxKeys int) (store.ListPage, error) {
	return retryMeta(ctx, s, "LIST", prefix, func() (store.ListPage, error) { return s.listOnce(ctx, prefix, token, maxKeys, nil) })
}

// ListAll walks the whole listing of prefix (delimiter "/", pages of 1000)
// and calls fn with each page, in order. The next page is requested as
// soon as the current page's token has been decoded (see above), before fn
// runs. An error from fn stops the walk and is returned.
func (s *Store) ListAll(ctx context.Context, prefix string, fn func(store.ListPage) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops a page requested ahead when the walk ends early
	cur := s.startPage(ctx, prefix, "")
	for {
		var next *pageRequest
		var r pageResult
		select {
		case tok := <-cur.early:
			next = s.startPage(ctx, prefix, tok)
			r = <-cur.done
		case r = <-cur.done:
		}
		if r.err != nil {
			return r.err
		}
		if next != nil && next.token != r.page.NextToken {
			// A retry of this page ended on another token (or none):
			// the page asked for ahead is not the one that follows.
			next.cancel()
			next = nil
		}
		if next == nil && r.page.NextToken != "" {
			next = s.startPage(ctx, prefix, r.page.NextToken)
		}
		if err := fn(r.page); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		cur = next
	}
}

// pageRequest is one listing page being fetched. early gets the page's
// continuation token once, as soon as it is decoded; done gets the result.
// Both are buffered, so the goroutine never blocks on an abandoned request.
type pageRequest struct {
	token  string
	cancel context.CancelFunc
	early  chan string
	done   chan pageResult
}

type pageResult struct {
	page store.ListPage
	err  error
}

func (s *Store) startPage(ctx context.Context, prefix, token string) *pageRequest {
	ctx, cancel := context.WithCancel(ctx)
	p := &pageRequest{token: token, cancel: cancel, early: make(chan string, 1), done: make(chan pageResult, 1)}
	var once sync.Once
	report := func(next string) { once.Do(func() { p.early <- next }) }
	go func() {
		defer cancel()
		page, err := retryMeta(ctx, s, "LIST", prefix, func() (store.ListPage, error) {
			return s.listOnce(ctx, prefix, token, 1000, report)
		})
		p.done <- pageResult{page, err}
	}()
	return p
}

// listOnce sends one ListObjectsV2 request and decodes its body as it
// arrives. early, if not nil, gets the continuation token before the
// entries are decoded (when the answer puts it first, as OSS does).
func (s *Store) listOnce(ctx context.Context, prefix, token string, maxKeys int, early func(string)) (_ store.ListPage, err error) {
	defer func() { s.counts.record(OpList, false, err) }()
	t0 := time.Now()
	params := map[string]string{
		"list-type":     "2",
		"encoding-type": "url",
		"delimiter":     "/",
		"max-keys":      strconv.Itoa(maxKeys),
	}
	if prefix != "" {
		params["prefix"] = prefix
	}
	if token != "" {
		params["continuation-token"] = token
	}
	out, err := withRenewal(ctx, s, "LIST", prefix, func() (*sdk.OperationOutput, error) {
		return s.client.InvokeOperation(ctx, &sdk.OperationInput{
			OpName: "ListObjectsV2", Method: "GET", Bucket: sdk.Ptr(s.bucket), Parameters: params,
		})
	})
	if err != nil {
		rerr := classify("LIST", prefix, err)
		s.log.Debug("oss request", "op", "LIST", "prefix", prefix, "err", rerr, "duration", time.Since(t0))
		return store.ListPage{}, rerr
	}
	defer out.Body.Close()
	requestID := out.Headers.Get("x-oss-request-id")
	page, err := decodeListPage(out.Body, early)
	if err != nil {
		var rerr error = &store.RequestError{Op: "LIST", Key: prefix, Status: out.StatusCode, RequestID: requestID, Kind: store.ErrProtocol, Err: err}
		if ctx.Err() != nil {
			// The body stopped because the caller gave up, not the server.
			rerr = fmt.Errorf("LIST %q: %w", prefix, ctx.Err())
		}
		s.log.Debug("oss request", "op", "LIST", "prefix", prefix, "status", out.StatusCode,
			"request_id", requestID, "err", rerr, "duration", time.Since(t0))
		return store.ListPage{}, rerr
	}
	s.log.Debug("oss request", "op", "LIST", "prefix", prefix, "status", out.StatusCode,
		"request_id", requestID, "keys", len(page.Objects), "prefixes", len(page.Prefixes),
		"duration", time.Since(t0))
	return page, nil
}

// decodeListPage decodes a ListBucketResult (ListObjectsV2) from r as it
// is read. Keys, prefixes and the token are URL-decoded when the answer
// says EncodingType url, as the SDK does. early gets the continuation token
// if it comes before any entry and after EncodingType (so that it is
// known whether to decode it).
func decodeListPage(r io.Reader, early func(string)) (store.ListPage, error) {
	dec := xml.NewDecoder(r)
	var (
		page                 store.ListPage
		encURL, haveEncoding bool
		truncated, sawRoot   bool
		sawEntries           bool
		rawToken             string
		err                  error
		objects              []sdk.ObjectProperties
		prefixes             []sdk.CommonPrefix
	)
	unescape := func(v string) (string, error) {
		if !encURL {
			return v, nil
		}
		return url.QueryUnescape(v)
	}
	for {
		var t xml.Token
		t, err = dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return store.ListPage{}, err
		}
		se, ok := t.(xml.StartElement)
		if !ok {
			continue
		}
		if !sawRoot {
			if se.Name.Local != "ListBucketResult" {
				return store.ListPage{}, fmt.Errorf("answer is <%s>, not a ListBucketResult", se.Name.Local)
			}
			sawRoot = true
			continue
		}
		switch se.Name.Local {
		case "EncodingType":
			var v string
			err = dec.DecodeElement(&v, &se)
			encURL, haveEncoding = strings.EqualFold(v, "url"), true
		case "IsTruncated":
			err = dec.DecodeElement(&truncated, &se)
		case "NextContinuationToken":
			if err = dec.DecodeElement(&rawToken, &se); err == nil && early != nil && haveEncoding && !sawEntries && rawToken != "" {
				var tok string
				if tok, err = unescape(rawToken); err == nil {
					early(tok)
				}
			}
		case "Contents":
			sawEntries = true
			var o sdk.ObjectProperties
			err = dec.DecodeElement(&o, &se)
			objects = append(objects, o)
		case "CommonPrefixes":
			sawEntries = true
			var p sdk.CommonPrefix
			err = dec.DecodeElement(&p, &se)
			prefixes = append(prefixes, p)
		default:
			err = dec.Skip()
		}
		if err != nil {
			return store.ListPage{}, err
		}
	}
	if !sawRoot {
		return store.ListPage{}, errors.New("empty listing answer")
	}
	for _, o := range objects {
		key, err := unescape(sdk.ToString(o.Key))
		if err != nil {
			return store.ListPage{}, fmt.Errorf("key %q: %w", sdk.ToString(o.Key), err)
		}
		info := store.ObjectInfo{Key: key, Size: o.Size, ETag: sdk.ToString(o.ETag), StorageClass: sdk.ToString(o.StorageClass), Type: sdk.ToString(o.Type)}
		if o.LastModified != nil {
			info.LastModified = *o.LastModified
		}
		page.Objects = append(page.Objects, info)
	}
	for _, p := range prefixes {
		v, err := unescape(sdk.ToString(p.Prefix))
		if err != nil {
			return store.ListPage{}, fmt.Errorf("prefix %q: %w", sdk.ToString(p.Prefix), err)
		}
		page.Prefixes = append(page.Prefixes, v)
	}
	if page.NextToken, err = unescape(rawToken); err != nil {
		return store.ListPage{}, fmt.Errorf("continuation token %q: %w", rawToken, err)
	}
	switch {
	case truncated && page.NextToken == "":
		return store.ListPage{}, errors.New("truncated listing without a continuation token")
	case !truncated:
		// A token on the last page is ignored; a page asked for ahead
		// with it is dropped by ListAll, which follows NextToken only.
		page.NextToken = ""
	}
	return page, nil
}
