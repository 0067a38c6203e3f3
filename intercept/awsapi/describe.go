package awsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Call is what a request asks AWS to do.
type Call struct {
	Service   string // signing name / IAM prefix: "s3", "dynamodb", "bedrock"
	Region    string
	Protocol  string // restxml, restjson, json, query, ec2query
	Operation string // SDK operation name: "DeleteBucket"; "" if unknown
	Action    string // IAM action: "s3:DeleteBucket"; "<service>:Unknown" if the operation is not identified
	// Resources are the ARNs the request names for Action; the account
	// comes from Options.Account, the partition from the region. Names AWS
	// completes server-side (a secret's random suffix, a stack's id) are
	// left out rather than guessed.
	Resources []string
	// AlsoActions are further IAM actions the call needs, each on its own
	// resources: CopyObject and UploadPartCopy read their source
	// (s3:GetObject on it), a PutObject with x-amz-acl or x-amz-tagging
	// also needs s3:PutObjectAcl or s3:PutObjectTagging, TransactWriteItems
	// needs the item action of each part on its table. Policy must allow
	// Action on Resources and every AlsoActions entry to allow the call.
	AlsoActions []Access
	// Params are the decoded request parameters, for policy conditions:
	// URI labels, query parameters bound to input members and top-level
	// JSON body members under the SDK's Go field name ("Bucket", "Key",
	// "TableName"); for the query protocols the form keys as sent
	// ("InstanceId.1"). Values are strings, []string for repeated query
	// keys, and for JSON what encoding/json decodes (numbers as
	// json.Number). Never credentials, auth parameters or sensitive
	// members.
	Params map[string]any
}

// Access is one IAM action on resources.
type Access struct {
	Action    string
	Resources []string
}

// Options are facts about the caller's account that ARNs need.
type Options struct {
	Account string
}

// Describe identifies the call from the request as received (method, host,
// path as sent, query, headers) and, for the JSON and query protocols, its
// body (already read by the caller, capped; nil for REST calls whose body
// is a payload). service and region come from the caller (endpoint host and
// SigV4 scope): a signing name ("bedrock", "logs"), an endpoint host label
// ("bedrock-runtime", "api") or the SDK module name all work. Describe
// neither reads nor changes r.
func Describe(r *http.Request, body []byte, service, region string, opts Options) Call {
	c := Call{Service: service, Region: region}
	if r == nil || r.URL == nil {
		c.Action = unknown(service)
		return c
	}
	host := hostOnly(r.Host)
	if host == "" {
		host = hostOnly(r.URL.Host)
	}
	cands := lookup(service, host)
	if cands[0] == nil {
		c.Action = unknown(service)
		return c
	}
	c.Service = cands[0].iam
	c.Protocol = cands[0].protocol

	var d describer
	d.r, d.body, d.host = r, body, host
	var best *op
	var bestSvc *serviceTable
	bestScore, tied := -1, false
	for _, s := range cands {
		if s == nil {
			continue
		}
		o, score, proto := d.identify(s)
		switch {
		case o == nil:
		case score > bestScore:
			best, bestSvc, bestScore, tied = o, s, score, false
			c.Protocol = proto
		case score == bestScore:
			tied = true // both of Bedrock's APIs fit, and the host does not say which
		}
	}
	if best == nil || tied || d.ambiguous(best, c.Protocol) {
		c.Action = unknown(c.Service)
		return c
	}
	c.Service = bestSvc.iam
	c.Operation = best.name
	c.Params = d.params(bestSvc, best, c.Protocol)
	c.Action = action(bestSvc.name, best.name)
	if !strings.Contains(c.Action, ":") {
		c.Action = bestSvc.iam + ":" + c.Action
	}
	describeAccess(&c, bestSvc, &d, opts)
	return c
}

func unknown(service string) string {
	if service == "" {
		service = "unknown"
	}
	return service + ":Unknown"
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// lookup finds the tables for the caller's service name. Bedrock's signing
// name covers two APIs (bedrock and bedrock-runtime): the host picks one
// where it can, otherwise both are tried.
func lookup(name, host string) [2]*serviceTable {
	var out [2]*serviceTable
	name = strings.TrimSuffix(strings.ToLower(name), "-fips")
	n := 0
	for i := range services {
		s := &services[i]
		if name == s.name || name == s.signing || name == s.host || name == s.iam {
			if n < len(out) {
				out[n] = s
			}
			n++
		}
	}
	if n > 1 || n == 0 {
		// Narrow (or find) by the endpoint host: bedrock-runtime.…, api.ecr.…
		var byHost [2]*serviceTable
		m := 0
		for i := range services {
			s := &services[i]
			if (n == 0 || s == out[0] || s == out[1]) &&
				(strings.HasPrefix(host, s.host+".") || strings.HasPrefix(host, s.host+"-fips.")) {
				if m < len(byHost) {
					byHost[m] = s
				}
				m++
			}
		}
		if m > 0 {
			return byHost
		}
	}
	return out
}

// describer holds one request while its operation is identified.
type describer struct {
	r     *http.Request
	body  []byte
	host  string
	query url.Values // the URL's query, parsed once
	qDone bool
	form  url.Values // query-protocol form body
	fDone bool
	s3    s3Host
	s3ok  bool
}

func (d *describer) urlQuery() url.Values {
	if !d.qDone {
		d.qDone = true
		if d.r.URL.RawQuery != "" {
			d.query, _ = url.ParseQuery(d.r.URL.RawQuery)
		}
	}
	return d.query
}

// formBody parses the body as the query protocol's form, as AWS does:
// only for a POST that says it is one.
func (d *describer) formBody() url.Values {
	if !d.fDone {
		d.fDone = true
		ct := d.r.Header.Get("Content-Type")
		if len(d.body) > 0 && d.r.Method == http.MethodPost &&
			len(ct) >= len(formType) && strings.EqualFold(ct[:len(formType)], formType) {
			d.form, _ = url.ParseQuery(string(d.body))
		}
	}
	return d.form
}

const formType = "application/x-www-form-urlencoded"

// identify finds the operation in one service's table. The score ranks
// candidates across tables (and templates within one).
func (d *describer) identify(s *serviceTable) (*op, int, string) {
	switch s.protocol {
	case "json":
		if o := d.jsonTarget(s); o != nil {
			return o, 1, "json"
		}
		// A query-compatible service (SQS) also takes the query protocol,
		// which AWS chooses when there is no X-Amz-Target.
		if s.queryCompatible && d.r.Header.Get("X-Amz-Target") == "" {
			if o := d.queryAction(s); o != nil {
				return o, 1, "query"
			}
		}
		return nil, 0, s.protocol
	case "query", "ec2query":
		return d.queryAction(s), 1, s.protocol
	case "restxml", "restjson":
		o, score := d.rest(s)
		return o, score, s.protocol
	}
	return nil, 0, s.protocol
}

func (d *describer) jsonTarget(s *serviceTable) *op {
	t := d.r.Header.Get("X-Amz-Target")
	prefix, name, ok := strings.Cut(t, ".")
	if !ok || prefix != s.target || d.r.Method != http.MethodPost {
		return nil
	}
	return findOp(s, name)
}

// queryAction reads Action from the form body or the URL query; both
// present and different is refused as unidentifiable.
func (d *describer) queryAction(s *serviceTable) *op {
	var a string
	if f := d.formBody(); f != nil {
		a = f.Get("Action")
	}
	if q := d.urlQuery(); q != nil {
		if qa := q.Get("Action"); qa != "" {
			if a != "" && a != qa {
				return nil
			}
			a = qa
		}
	}
	if a == "" {
		return nil
	}
	return findOp(s, a)
}

func findOp(s *serviceTable, name string) *op {
	i := sort.Search(len(s.ops), func(i int) bool { return s.ops[i].name >= name })
	if i < len(s.ops) && s.ops[i].name == name {
		return &s.ops[i]
	}
	return nil
}

// params decodes the identified operation's parameters.
func (d *describer) params(s *serviceTable, o *op, proto string) map[string]any {
	p := make(map[string]any, 4)
	switch proto {
	case "restxml", "restjson":
		d.restParams(s, o, p)
		if s.protocol == "restjson" {
			jsonParams(d.body, o, p)
		}
	case "json":
		jsonParams(d.body, o, p)
	case "query", "ec2query":
		d.formParams(o, p)
	}
	return p
}

// jsonParams copies the body's top-level members that the operation
// declares (and that are not sensitive) under their Go field names. One
// decoder pass over the whole body; members the operation does not declare
// are dropped.
func jsonParams(body []byte, o *op, p map[string]any) {
	if len(o.body) == 0 || len(body) == 0 {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top map[string]any
	if dec.Decode(&top) != nil {
		return
	}
	for _, m := range o.body {
		if v, ok := top[m.wire]; ok && !m.secret && v != nil {
			p[m.field] = v
		}
	}
}

// formParams copies query-protocol parameters whose top-level name
// (before the first '.') is one of the operation's input members.
func (d *describer) formParams(o *op, p map[string]any) {
	add := func(vals url.Values) {
		for k, v := range vals {
			top, _, _ := strings.Cut(k, ".")
			m := memberByWire(o.body, top)
			if m == nil || m.secret || len(v) == 0 {
				continue
			}
			p[k] = v[0]
		}
	}
	add(d.urlQuery())
	add(d.formBody())
}

func memberByWire(ms []member, wire string) *member {
	for i := range ms {
		if ms[i].wire == wire {
			return &ms[i]
		}
	}
	return nil
}
