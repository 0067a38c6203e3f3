package recorder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Record is one call: the intent committed before it leaves, merged with its
// completion once it returns.
type Record struct {
	ID      string `json:"id"`      // call id
	Session string `json:"session"` // connection id
	// Kind is "call" for an HTTP request, "connection" for a connection
	// refused or spliced before any request was read.
	Kind string `json:"kind"`
	// Seq is the commit order of the chain entry this record was read from:
	// the intent's, or the completion's once the call is complete.
	Seq uint64 `json:"seq"`

	Start             time.Time `json:"start"`
	UpstreamFirstByte time.Time `json:"upstream_first_byte"`
	End               time.Time `json:"end"`

	Identity Identity `json:"identity"`
	// Mode is how the connection reached the gateway (transparent, proxy);
	// SNI and Dst are the TLS server name and the original destination.
	Mode string `json:"mode"`
	SNI  string `json:"sni"`
	Dst  string `json:"dst"`
	// UpstreamRole is the role the call was signed with upstream ("" for
	// the gateway's own credentials).
	UpstreamRole string `json:"upstream_role"`

	Service string `json:"service"`
	Region  string `json:"region"`
	Method  string `json:"method"`
	Host    string `json:"host"`
	// Path is the request path and query, without any signature,
	// credential or security-token parameter of a presigned URL.
	Path      string   `json:"path"`
	Operation string   `json:"operation"`
	Action    string   `json:"action"`
	Resources []string `json:"resources"`

	Decision Decision `json:"decision"`

	UpstreamRequestID string `json:"upstream_request_id"`
	UpstreamID2       string `json:"upstream_id2"`
	// Verdict is what the gateway did: forwarded, refused,
	// upstream_error, spliced.
	Verdict   string `json:"verdict"`
	Status    int    `json:"status"`
	ErrorCode string `json:"error_code"`
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`

	Request  Body `json:"request"`
	Response Body `json:"response"`

	Complete bool   `json:"complete"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Identity is who made the call.
type Identity struct {
	Issuer     string   `json:"issuer"`
	Subject    string   `json:"subject"`
	Source     string   `json:"source"`
	Groups     []string `json:"groups"`
	SourceAddr string   `json:"source_addr"`
}

// Decision is what policy decided, and for a held call what the approvers
// did; the recorder only stores it.
type Decision struct {
	Effect  string `json:"effect"`
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
	Shadow  bool   `json:"shadow"`
	WouldBe string `json:"would_be"`
	// ApprovalID names the approval request a held call waited on; Votes
	// are its approvals or denial, with who and when.
	ApprovalID string `json:"approval_id"`
	Votes      []Vote `json:"votes"`
}

// Vote is one approver's decision on a held call.
type Vote struct {
	Approver string    `json:"approver"` // issuer subject
	Approve  bool      `json:"approve"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
}

// Body is a request or response body as the caller hands it over: headers
// with authentication already removed, data capped, and the SHA-256 and size
// of the whole body.
type Body struct {
	Headers   map[string][]string `json:"headers"`
	Data      []byte              `json:"data"`
	Truncated bool                `json:"truncated"`
	Size      int64               `json:"size"`
	SHA256    string              `json:"sha256"`
	// Withheld says why no byte or hash of the body was kept: it carries
	// secrets (credentials Gatehouse issued, a secret value).
	Withheld string `json:"withheld,omitempty"`
	// Masked counts the values masked in the body kept, by the mask
	// rule or detector that masked them (the response: as the agent got
	// it; the request: in the record only).
	Masked map[string]int `json:"masked,omitempty"`
}

// canonical is the encoding the chain hashes and the store keeps: the JSON of
// the record with times in UTC. encoding/json writes struct fields in
// declaration order and map keys sorted, so it is deterministic.
func canonical(r *Record) ([]byte, error) {
	c := *r
	c.Start, c.UpstreamFirstByte, c.End = c.Start.UTC(), c.UpstreamFirstByte.UTC(), c.End.UTC()
	if len(c.Decision.Votes) > 0 {
		c.Decision.Votes = append([]Vote(nil), c.Decision.Votes...)
		for i := range c.Decision.Votes {
			c.Decision.Votes[i].At = c.Decision.Votes[i].At.UTC()
		}
	}
	return json.Marshal(&c)
}

// chainHash is the hex SHA-256 over the canonical JSON of r without its Hash
// (PrevHash is inside it, so each entry commits to the one before).
func chainHash(r *Record) (string, error) {
	c := *r
	c.Hash = ""
	b, err := canonical(&c)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(b)
	h.Write([]byte(r.PrevHash))
	return hex.EncodeToString(h.Sum(nil)), nil
}
