package main

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// params is SSM Parameter Store kept in memory: parameters by name, each
// with every version put.
type params struct {
	region, account string
	now             func() time.Time

	mu     sync.Mutex
	byName map[string][]*paramVersion // oldest first
}

type paramVersion struct {
	name, typ, value, dataType, keyID, description string
	// ciphertext stands for the KMS ciphertext of a SecureString: what SSM
	// returns as its Value without WithDecryption. Random bytes, so it
	// never holds the value.
	ciphertext string
	version    int64
	modified   time.Time
}

func newParams(region, account string, now func() time.Time) *params {
	return &params{region: region, account: account, now: now, byName: map[string][]*paramVersion{}}
}

func (p *params) service() *jsonService {
	return &jsonService{prefix: "AmazonSSM", ops: map[string]operation{
		"PutParameter":        p.put,
		"GetParameter":        p.get,
		"GetParameters":       p.getMany,
		"GetParametersByPath": p.getByPath,
		"GetParameterHistory": p.history,
	}}
}

// ParameterNotFound has no message, as SSM sends it.
func errParamNotFound() error { return &apiError{Status: 400, Type: "ParameterNotFound"} }

func validation(format string, args ...any) error {
	return clientError("ValidationException", format, args...)
}

func (p *params) put(body []byte) (any, error) {
	var in struct {
		Name        string
		Value       *string
		Type        string
		KeyId       string
		Description string
		DataType    string
		Overwrite   bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.Name == "" || len(in.Name) > 2048:
		return nil, validation("Parameter name must be between 1 and 2048 characters.")
	case strings.Contains(in.Name, "/") && !strings.HasPrefix(in.Name, "/"):
		return nil, validation("Parameter name must be a fully qualified name.")
	case in.Value == nil:
		return nil, validation("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must not be null")
	}
	switch in.Type {
	case "", "String", "StringList", "SecureString":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	switch in.DataType {
	case "", "text", "aws:ec2:image", "aws:ssm:integration":
	default:
		return nil, validation("The following data type is not supported: %s (Data type names are all lowercase.)", in.DataType)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	versions := p.byName[in.Name]
	v := &paramVersion{name: in.Name, typ: in.Type, value: *in.Value, dataType: cmp.Or(in.DataType, "text"),
		keyID: in.KeyId, description: in.Description, version: 1, modified: p.now()}
	if len(versions) > 0 {
		last := versions[len(versions)-1]
		if !in.Overwrite {
			return nil, clientError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		v.version = last.version + 1
		v.typ = cmp.Or(v.typ, last.typ)
		v.keyID = cmp.Or(v.keyID, last.keyID)
		v.description = cmp.Or(v.description, last.description)
	}
	if v.typ == "" {
		return nil, validation("A parameter type is required when you create a parameter.")
	}
	if v.typ == "SecureString" {
		v.keyID = cmp.Or(v.keyID, "alias/aws/ssm")
		v.ciphertext = fakeCiphertext(len(v.value))
	} else {
		v.keyID = ""
	}
	p.byName[in.Name] = append(versions, v)
	return struct {
		Version int64
		Tier    string
	}{v.version, "Standard"}, nil
}

// parameter is the Parameter shape of GetParameter, GetParameters and
// GetParametersByPath.
type parameter struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	Selector         string `json:",omitempty"`
	LastModifiedDate epoch
	ARN              string
	DataType         string
}

func (p *params) arn(name string) string {
	return "arn:aws:ssm:" + p.region + ":" + p.account + ":parameter/" + strings.TrimPrefix(name, "/")
}

// shown is v as SSM returns it: a SecureString's value is its ciphertext
// unless the caller asked for decryption.
func (v *paramVersion) shown(decrypt bool) string {
	if v.typ == "SecureString" && !decrypt {
		return v.ciphertext
	}
	return v.value
}

func (p *params) parameter(v *paramVersion, decrypt bool, selector string) parameter {
	return parameter{Name: v.name, Type: v.typ, Value: v.shown(decrypt), Version: v.version, Selector: selector,
		LastModifiedDate: epoch(v.modified), ARN: p.arn(v.name), DataType: v.dataType}
}

// find resolves a name as GetParameter takes it: a name or an ARN, with an
// optional ":<version>" selector. Labels are not supported by the lab.
func (p *params) find(ref string) (*paramVersion, string, error) {
	name, selector := ref, ""
	rest, isARN := strings.CutPrefix(ref, "arn:aws:ssm:"+p.region+":"+p.account+":parameter")
	if isARN {
		name = rest
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name, selector = name[:i], name[i:]
	}
	versions, ok := p.byName[name]
	if !ok && isARN { // an ARN: "parameter/x" names both "x" and "/x"
		name = strings.TrimPrefix(name, "/")
		versions, ok = p.byName[name]
	}
	if !ok {
		return nil, "", errParamNotFound()
	}
	if selector == "" {
		return versions[len(versions)-1], "", nil
	}
	n, err := strconv.ParseInt(selector[1:], 10, 64)
	if err != nil {
		return nil, "", clientError("ParameterVersionLabelNotFound", "lab: version labels are not supported (%s)", selector)
	}
	for _, v := range versions {
		if v.version == n {
			return v, selector, nil
		}
	}
	return nil, "", clientError("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", n, name)
}

func (p *params) get(body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v, sel, err := p.find(in.Name)
	if err != nil {
		return nil, err
	}
	return struct{ Parameter parameter }{p.parameter(v, in.WithDecryption, sel)}, nil
}

func (p *params) getMany(body []byte) (any, error) {
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		return nil, validation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	out := struct {
		Parameters        []parameter
		InvalidParameters []string
	}{Parameters: []parameter{}, InvalidParameters: []string{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	for _, name := range in.Names {
		if seen[name] {
			continue
		}
		seen[name] = true
		v, sel, err := p.find(name)
		if err != nil {
			out.InvalidParameters = append(out.InvalidParameters, name)
			continue
		}
		out.Parameters = append(out.Parameters, p.parameter(v, in.WithDecryption, sel))
	}
	return out, nil
}

type paramFilter struct {
	Key    string
	Option string
	Values []string
}

func (p *params) getByPath(body []byte) (any, error) {
	var in struct {
		Path             string
		Recursive        bool
		WithDecryption   bool
		ParameterFilters []paramFilter
		MaxResults       int
		NextToken        string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(in.Path, "/") {
		return nil, validation("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
	}
	if in.MaxResults < 0 || in.MaxResults > 10 {
		return nil, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10", in.MaxResults)
	}
	types := map[string]bool{}
	for _, f := range in.ParameterFilters {
		if f.Key != "Type" || cmp.Or(f.Option, "Equals") != "Equals" {
			return nil, validation("lab: only the filter Type with Option Equals is supported")
		}
		for _, t := range f.Values {
			types[t] = true
		}
	}
	prefix := strings.TrimSuffix(in.Path, "/") + "/"
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for name, versions := range p.byName {
		full := name
		if !strings.HasPrefix(full, "/") { // "x" sits at the root, like "/x"
			full = "/" + full
		}
		rest, ok := strings.CutPrefix(full, prefix)
		if !ok || rest == "" || (!in.Recursive && strings.Contains(rest, "/")) {
			continue
		}
		if len(types) > 0 && !types[versions[len(versions)-1].typ] {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	from, to, next, err := page(len(names), in.NextToken, cmp.Or(in.MaxResults, 10), "InvalidNextToken")
	if err != nil {
		return nil, err
	}
	out := struct {
		Parameters []parameter
		NextToken  string `json:",omitempty"`
	}{Parameters: []parameter{}, NextToken: next}
	for _, name := range names[from:to] {
		versions := p.byName[name]
		out.Parameters = append(out.Parameters, p.parameter(versions[len(versions)-1], in.WithDecryption, ""))
	}
	return out, nil
}

func (p *params) history(body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption bool
		MaxResults     int
		NextToken      string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	type historyEntry struct {
		Name             string
		Type             string
		KeyId            string `json:",omitempty"`
		LastModifiedDate epoch
		LastModifiedUser string
		Description      string `json:",omitempty"`
		Value            string
		Version          int64
		Labels           []string
		Tier             string
		Policies         []string
		DataType         string
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	name := strings.TrimPrefix(in.Name, "arn:aws:ssm:"+p.region+":"+p.account+":parameter")
	versions, ok := p.byName[name]
	if !ok && name != in.Name {
		versions, ok = p.byName[strings.TrimPrefix(name, "/")]
	}
	if !ok {
		return nil, errParamNotFound()
	}
	from, to, next, err := page(len(versions), in.NextToken, cmp.Or(in.MaxResults, 50), "InvalidNextToken")
	if err != nil {
		return nil, err
	}
	out := struct {
		Parameters []historyEntry
		NextToken  string `json:",omitempty"`
	}{Parameters: []historyEntry{}, NextToken: next}
	for _, v := range versions[from:to] {
		out.Parameters = append(out.Parameters, historyEntry{Name: v.name, Type: v.typ, KeyId: v.keyID,
			LastModifiedDate: epoch(v.modified), LastModifiedUser: "arn:aws:iam::" + p.account + ":user/gatehouse-lab",
			Description: v.description, Value: v.shown(in.WithDecryption), Version: v.version,
			Labels: []string{}, Tier: "Standard", Policies: []string{}, DataType: v.dataType})
	}
	return out, nil
}

// fakeCiphertext is shaped like a KMS ciphertext blob in base64 ("AQICAH"
// and a length growing with the plaintext's), made of random bytes.
func fakeCiphertext(n int) string {
	b := make([]byte, 5+90+n+28)
	rand.Read(b)
	copy(b, []byte{0x01, 0x02, 0x02, 0x00, 0x78})
	return base64.StdEncoding.EncodeToString(b)
}
