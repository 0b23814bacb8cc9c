package ossemu

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

const (
	ownerID        = "1000000000000000"
	listTimeFormat = "2006-01-02T15:04:05.000Z"
)

type xmlOwner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type xmlContents struct {
	Key          string    `xml:"Key"`
	LastModified string    `xml:"LastModified"`
	ETag         string    `xml:"ETag"`
	Type         string    `xml:"Type"`
	Size         int64     `xml:"Size"`
	StorageClass string    `xml:"StorageClass"`
	Owner        *xmlOwner `xml:"Owner,omitempty"`
}

type xmlCommonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listV1Result struct {
	XMLName        xml.Name          `xml:"ListBucketResult"`
	Name           string            `xml:"Name"`
	Prefix         string            `xml:"Prefix"`
	Marker         string            `xml:"Marker"`
	MaxKeys        int               `xml:"MaxKeys"`
	Delimiter      string            `xml:"Delimiter"`
	EncodingType   string            `xml:"EncodingType,omitempty"`
	IsTruncated    bool              `xml:"IsTruncated"`
	NextMarker     string            `xml:"NextMarker,omitempty"`
	Contents       []xmlContents     `xml:"Contents"`
	CommonPrefixes []xmlCommonPrefix `xml:"CommonPrefixes"`
}

type listV2Result struct {
	XMLName               xml.Name          `xml:"ListBucketResult"`
	Name                  string            `xml:"Name"`
	Prefix                string            `xml:"Prefix"`
	StartAfter            string            `xml:"StartAfter,omitempty"`
	ContinuationToken     string            `xml:"ContinuationToken,omitempty"`
	MaxKeys               int               `xml:"MaxKeys"`
	Delimiter             string            `xml:"Delimiter"`
	EncodingType          string            `xml:"EncodingType,omitempty"`
	IsTruncated           bool              `xml:"IsTruncated"`
	NextContinuationToken string            `xml:"NextContinuationToken,omitempty"`
	KeyCount              int               `xml:"KeyCount"`
	Contents              []xmlContents     `xml:"Contents"`
	CommonPrefixes        []xmlCommonPrefix `xml:"CommonPrefixes"`
}

// urlEncode percent-encodes everything but unreserved characters and '/',
// which both url.QueryUnescape (the OSS SDK) and url.PathUnescape decode.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// Continuation tokens are opaque: base64url of the last name returned.
func encodeToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

func decodeToken(t string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return string(b), err == nil
}

func (c *call) writeXML(v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		c.fail(http.StatusInternalServerError, ossError{Code: "InternalError", Message: err.Error()})
		return
	}
	// OSS writes the quotes of ETags as they are; so does this (valid in
	// element text, where encoding/xml would write &#34;).
	body = append([]byte(xml.Header), bytes.ReplaceAll(body, []byte("&#34;"), []byte(`"`))...)
	if c.proto.MalformedListing {
		c.addFault("malformed-xml")
		body = body[:len(body)/2]
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	if c.r.Method != http.MethodHead {
		_, _ = c.w.Write(body)
	}
}

// listObjects serves ListObjects (V1, marker) and ListObjectsV2
// (continuation-token / start-after).
func (c *call) listObjects(v2 bool) {
	q := c.r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	maxKeys := 100
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "max-keys must be an integer between 0 and 1000."})
			return
		}
		maxKeys = min(n, 1000)
	}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "encoding-type must be url."})
		return
	}
	e := func(s string) string {
		if enc == "url" {
			return urlEncode(s)
		}
		return s
	}
	marker := q.Get("marker")
	token, startAfter := q.Get("continuation-token"), q.Get("start-after")
	if v2 {
		marker = startAfter
		if token != "" {
			m, ok := decodeToken(token)
			if !ok {
				c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "The continuation token provided is incorrect."})
				return
			}
			marker = m
		}
	}
	fetchOwner := !v2 || q.Get("fetch-owner") == "true"

	c.s.mu.Lock()
	b := c.s.buckets[c.bucket]
	if b == nil {
		c.s.mu.Unlock()
		c.fail(http.StatusNotFound, ossError{Code: "NoSuchBucket"})
		return
	}
	items, truncated := b.list(prefix, delim, marker, maxKeys)
	c.s.mu.Unlock()

	var contents []xmlContents
	var prefixes []xmlCommonPrefix
	for _, it := range items {
		if it.obj == nil {
			prefixes = append(prefixes, xmlCommonPrefix{Prefix: e(it.prefix)})
			continue
		}
		o := it.obj
		xc := xmlContents{Key: e(o.key), LastModified: o.lastModified.UTC().Format(listTimeFormat), ETag: o.etag,
			Type: objectType(o), Size: o.size, StorageClass: o.storageClass}
		if fetchOwner {
			xc.Owner = &xmlOwner{ID: ownerID, DisplayName: ownerID}
		}
		contents = append(contents, xc)
	}
	if c.proto.NegativeListingSize && len(contents) > 0 {
		c.addFault("negative-size")
		for i := range contents {
			contents[i].Size = -1
		}
	}
	if c.proto.DuplicateListing {
		c.addFault("duplicate-listing")
		dup := make([]xmlContents, 0, 2*len(contents))
		for i := len(contents) - 1; i >= 0; i-- {
			dup = append(dup, contents[i], contents[i])
		}
		contents = dup
	}
	next := ""
	if truncated && len(items) > 0 {
		next = items[len(items)-1].name()
	}
	if !v2 {
		res := listV1Result{Name: c.bucket, Prefix: e(prefix), Marker: e(marker), MaxKeys: maxKeys, Delimiter: e(delim),
			IsTruncated: truncated, Contents: contents, CommonPrefixes: prefixes}
		if enc == "url" {
			res.EncodingType = "url"
		}
		if truncated {
			res.NextMarker = e(next)
		}
		c.writeXML(res)
		return
	}
	res := listV2Result{Name: c.bucket, Prefix: e(prefix), StartAfter: e(startAfter), ContinuationToken: e(token),
		MaxKeys: maxKeys, Delimiter: e(delim), IsTruncated: truncated, KeyCount: len(items),
		Contents: contents, CommonPrefixes: prefixes}
	if enc == "url" {
		res.EncodingType = "url"
	}
	if truncated {
		res.NextContinuationToken = e(encodeToken(next))
	}
	c.writeXML(res)
}

type xmlBucket struct {
	Name             string `xml:"Name"`
	CreationDate     string `xml:"CreationDate"`
	Location         string `xml:"Location"`
	ExtranetEndpoint string `xml:"ExtranetEndpoint"`
	IntranetEndpoint string `xml:"IntranetEndpoint"`
	Region           string `xml:"Region"`
	StorageClass     string `xml:"StorageClass"`
}

type listBucketsResult struct {
	XMLName xml.Name    `xml:"ListAllMyBucketsResult"`
	Owner   xmlOwner    `xml:"Owner"`
	Buckets []xmlBucket `xml:"Buckets>Bucket"`
}

func (s *Server) xmlBucketLocked(b *bucket) xmlBucket {
	return xmlBucket{Name: b.name, CreationDate: b.created.Format(listTimeFormat), Location: "oss-" + s.opts.Region,
		ExtranetEndpoint: "oss-" + s.opts.Region + ".aliyuncs.com", IntranetEndpoint: "oss-" + s.opts.Region + "-internal.aliyuncs.com",
		Region: s.opts.Region, StorageClass: "Standard"}
}

func (c *call) listBuckets() {
	c.setOp("ListBuckets")
	if c.entry.Authorization == "anonymous" {
		c.fail(http.StatusForbidden, ossError{Code: "AccessDenied", Message: "Anonymous access is forbidden for this operation."})
		return
	}
	if !c.authorize(ACLPrivate, false) {
		return
	}
	res := listBucketsResult{Owner: xmlOwner{ID: ownerID, DisplayName: ownerID}}
	c.s.mu.Lock()
	for _, b := range c.s.buckets {
		res.Buckets = append(res.Buckets, c.s.xmlBucketLocked(b))
	}
	c.s.mu.Unlock()
	sortBuckets(res.Buckets)
	c.writeXML(res)
}

func sortBuckets(bs []xmlBucket) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
}

func (c *call) bucketLocation() {
	c.writeXML(struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Value   string   `xml:",chardata"`
	}{Value: "oss-" + c.s.opts.Region})
}

type xmlBucketInfo struct {
	XMLName xml.Name `xml:"BucketInfo"`
	Bucket  struct {
		xmlBucket
		AccessMonitor     string   `xml:"AccessMonitor"`
		DataRedundancy    string   `xml:"DataRedundancyType"`
		Owner             xmlOwner `xml:"Owner"`
		AccessControlList struct {
			Grant string `xml:"Grant"`
		} `xml:"AccessControlList"`
	} `xml:"Bucket"`
}

func (c *call) bucketInfo(acl ACL) {
	var info xmlBucketInfo
	c.s.mu.RLock()
	if b := c.s.buckets[c.bucket]; b != nil {
		info.Bucket.xmlBucket = c.s.xmlBucketLocked(b)
	}
	c.s.mu.RUnlock()
	info.Bucket.AccessMonitor = "Disabled"
	info.Bucket.DataRedundancy = "LRS"
	info.Bucket.Owner = xmlOwner{ID: ownerID, DisplayName: ownerID}
	info.Bucket.AccessControlList.Grant = string(acl)
	c.writeXML(info)
}

func (c *call) bucketACLResponse(acl ACL) {
	var res struct {
		XMLName           xml.Name `xml:"AccessControlPolicy"`
		Owner             xmlOwner `xml:"Owner"`
		AccessControlList struct {
			Grant string `xml:"Grant"`
		} `xml:"AccessControlList"`
	}
	res.Owner = xmlOwner{ID: ownerID, DisplayName: ownerID}
	res.AccessControlList.Grant = string(acl)
	c.writeXML(res)
}

// putBucket serves PutBucket: signed requests create a private bucket (an
// x-oss-acl header may choose another ACL).
func (c *call) putBucket(exists bool) {
	c.setOp("PutBucket")
	if c.entry.Authorization == "anonymous" {
		c.fail(http.StatusForbidden, ossError{Code: "AccessDenied", Message: "Anonymous access is forbidden for this operation."})
		return
	}
	if !c.authorize(ACLPrivate, true) {
		return
	}
	if exists {
		c.fail(http.StatusConflict, ossError{Code: "BucketAlreadyExists", Message: "The requested bucket name is not available."})
		return
	}
	acl := ACL(c.r.Header.Get("x-oss-acl"))
	switch acl {
	case "":
		acl = ACLPrivate
	case ACLPrivate, ACLPublicRead, ACLPublicReadWrite:
	default:
		c.fail(http.StatusBadRequest, ossError{Code: "InvalidArgument", Message: "Invalid x-oss-acl."})
		return
	}
	c.s.CreateBucketWithACL(c.bucket, acl)
	c.w.Header().Set("Location", "/"+c.bucket)
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
}

func (c *call) deleteBucket() {
	c.s.mu.Lock()
	b := c.s.buckets[c.bucket]
	if b != nil && len(b.objects) > 0 {
		c.s.mu.Unlock()
		c.fail(http.StatusConflict, ossError{Code: "BucketNotEmpty", Message: "The bucket you tried to delete is not empty."})
		return
	}
	delete(c.s.buckets, c.bucket)
	c.s.mu.Unlock()
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusNoContent)
}
