package ossemu

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Error messages OSS uses for the codes the emulator returns.
var errMessages = map[string]string{
	"AccessDenied":          "You have no right to access this object because of bucket acl.",
	"InternalError":         "We encountered an internal error. Please try again.",
	"InvalidAccessKeyId":    "The OSS Access Key Id you provided does not exist in our records.",
	"InvalidArgument":       "Invalid argument.",
	"InvalidDigest":         "The Content-MD5 you specified is not valid.",
	"InvalidObjectState":    "The operation is not valid for the object's state",
	"InvalidRange":          "The requested range cannot be satisfied",
	"InvalidSecurityToken":  "The security token you provided is invalid.",
	"MethodNotAllowed":      "The specified method is not allowed against this resource.",
	"NoSuchBucket":          "The specified bucket does not exist.",
	"NoSuchKey":             "The specified key does not exist.",
	"NotImplemented":        "The emulator does not implement this operation.",
	"PreconditionFailed":    "At least one of the pre-conditions you specified did not hold.",
	"RequestTimeTooSkewed":  "The difference between the request time and the current time is too large.",
	"SignatureDoesNotMatch": "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
	"SlowDown":              "Please reduce your request rate.",
	"ServiceUnavailable":    "Service is temporarily unavailable.",
}

// ossError is the body of every OSS error response.
type ossError struct {
	XMLName        xml.Name `xml:"Error"`
	Code           string   `xml:"Code"`
	Message        string   `xml:"Message"`
	RequestID      string   `xml:"RequestId"`
	HostID         string   `xml:"HostId"`
	BucketName     string   `xml:"BucketName,omitempty"`
	Key            string   `xml:"Key,omitempty"`
	Condition      string   `xml:"Condition,omitempty"`
	OSSAccessKeyID string   `xml:"OSSAccessKeyId,omitempty"`
	StringToSign   string   `xml:"StringToSign,omitempty"`
	Signature      string   `xml:"SignatureProvided,omitempty"`
}

// codeFor5xx names the error of an injected 5xx.
func codeFor5xx(status int) string {
	switch status {
	case 500:
		return "InternalError"
	case 503:
		return "SlowDown"
	case 501:
		return "NotImplemented"
	}
	return "ServiceUnavailable"
}

// fail writes an OSS error response: XML body for most methods, and for HEAD
// no body but the XML in an x-oss-err header (base64), as OSS does.
func (c *call) fail(status int, e ossError) {
	e.RequestID = c.entry.RequestID
	e.HostID = c.r.Host
	if e.Message == "" {
		e.Message = errMessages[e.Code]
	}
	if e.BucketName == "" && e.Code == "NoSuchBucket" {
		e.BucketName = c.bucket
	}
	if e.Key == "" && e.Code == "NoSuchKey" {
		e.Key = c.key
	}
	body, _ := xml.Marshal(e)
	body = append([]byte(xml.Header), body...)
	c.update(func(r *Request) { r.ErrorCode = e.Code })
	h := c.w.Header()
	h.Set("Content-Type", "application/xml")
	if c.r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(body))
		h.Set("Content-Length", "0")
		c.w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// notImplemented answers an operation the emulator lacks. OSS itself uses
// NotImplemented with status 400 (for headers it does not support), which
// clients do not retry.
func (c *call) notImplemented(e ossError) {
	c.fail(http.StatusBadRequest, e)
}
