package main

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// secrets is Secrets Manager kept in memory: secrets by name, each with
// its versions and their staging labels.
type secrets struct {
	region, account string
	now             func() time.Time

	mu     sync.Mutex
	byName map[string]*secret
}

type secret struct {
	name, arn, description, kmsKeyID string
	created, changed                 time.Time
	tags                             []tag
	versions                         []*secretVersion // oldest first
}

type secretVersion struct {
	id      string
	str     *string
	bin     []byte
	created time.Time
	stages  []string
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func newSecrets(region, account string, now func() time.Time) *secrets {
	return &secrets{region: region, account: account, now: now, byName: map[string]*secret{}}
}

func (s *secrets) service() *jsonService {
	return &jsonService{prefix: "secretsmanager", ops: map[string]operation{
		"CreateSecret":        s.create,
		"PutSecretValue":      s.putValue,
		"GetSecretValue":      s.getValue,
		"BatchGetSecretValue": s.batchGetValue,
		"ListSecrets":         s.list,
	}}
}

var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!-]{1,512}$`)

func errSecretNotFound() error {
	return clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

// secretValue is the value members of CreateSecret and PutSecretValue.
// SecretBinary is base64 in JSON, which []byte is to encoding/json.
type secretValue struct {
	SecretString *string `json:"SecretString"`
	SecretBinary []byte  `json:"SecretBinary"`
}

func (v secretValue) check(required bool) error {
	switch {
	case v.SecretString != nil && v.SecretBinary != nil:
		return clientError("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
	case required && v.SecretString == nil && v.SecretBinary == nil:
		return clientError("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	}
	return nil
}

func (v secretValue) equal(o *secretVersion) bool {
	if v.SecretString != nil || o.str != nil {
		return v.SecretString != nil && o.str != nil && *v.SecretString == *o.str
	}
	return bytes.Equal(v.SecretBinary, o.bin)
}

func (s *secrets) create(body []byte) (any, error) {
	var in struct {
		Name               string
		ClientRequestToken string
		Description        string
		KmsKeyId           string
		Tags               []tag
		secretValue
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !secretNameRE.MatchString(in.Name) {
		return nil, clientError("InvalidParameterException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if err := in.check(false); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byName[in.Name]; ok {
		return nil, clientError("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	now := s.now()
	sec := &secret{
		name:        in.Name,
		arn:         "arn:aws:secretsmanager:" + s.region + ":" + s.account + ":secret:" + in.Name + "-" + arnSuffix(),
		description: in.Description, kmsKeyID: in.KmsKeyId,
		created: now, changed: now, tags: in.Tags,
	}
	out := struct {
		ARN       string
		Name      string
		VersionId string `json:",omitempty"`
	}{ARN: sec.arn, Name: sec.name}
	if in.SecretString != nil || in.SecretBinary != nil {
		v := sec.addVersion(in.ClientRequestToken, in.secretValue, []string{stageCurrent}, now)
		out.VersionId = v.id
	}
	s.byName[in.Name] = sec
	return out, nil
}

func (s *secrets) putValue(body []byte) (any, error) {
	var in struct {
		SecretId           string
		ClientRequestToken string
		VersionStages      []string
		secretValue
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.check(true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(in.SecretId)
	if sec == nil {
		return nil, errSecretNotFound()
	}
	// A retried request (same token, same value) is answered again; the
	// same token with another value is refused, as versions are immutable.
	var v *secretVersion
	if in.ClientRequestToken != "" {
		v = sec.version(in.ClientRequestToken)
	}
	if v != nil && !in.equal(v) {
		return nil, clientError("ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
	}
	if v == nil {
		if len(in.VersionStages) == 0 {
			in.VersionStages = []string{stageCurrent}
		}
		v = sec.addVersion(in.ClientRequestToken, in.secretValue, in.VersionStages, s.now())
	}
	return struct {
		ARN           string
		Name          string
		VersionId     string
		VersionStages []string
	}{sec.arn, sec.name, v.id, v.stages}, nil
}

// valueEntry is GetSecretValue's output and a BatchGetSecretValue entry.
type valueEntry struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string `json:",omitempty"`
	SecretBinary  []byte  `json:",omitempty"`
	VersionStages []string
	CreatedDate   epoch
}

func (sec *secret) entry(v *secretVersion) valueEntry {
	return valueEntry{ARN: sec.arn, Name: sec.name, VersionId: v.id, SecretString: v.str, SecretBinary: v.bin,
		VersionStages: slices.Clone(v.stages), CreatedDate: epoch(v.created)}
}

func (s *secrets) getValue(body []byte) (any, error) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(in.SecretId)
	if sec == nil {
		return nil, errSecretNotFound()
	}
	var v *secretVersion
	switch {
	case in.VersionId != "":
		v = sec.version(in.VersionId)
		if v != nil && in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, clientError("InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.")
		}
		if v == nil {
			return nil, clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionId)
		}
	default:
		stage := cmp.Or(in.VersionStage, stageCurrent)
		if v = sec.staged(stage); v == nil {
			return nil, clientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
	}
	return sec.entry(v), nil
}

type secretFilter struct {
	Key    string
	Values []string
}

// matches is Secrets Manager's filter semantics for the keys the lab
// supports: a case-insensitive prefix of the name, the description, a tag
// key or value, or any of them (all); filters are ANDed, values ORed.
func (sec *secret) matches(filters []secretFilter) bool {
	for _, f := range filters {
		var fields []string
		switch f.Key {
		case "name":
			fields = []string{sec.name}
		case "description":
			fields = []string{sec.description}
		case "tag-key", "tag-value", "all":
			if f.Key == "all" {
				fields = []string{sec.name, sec.description}
			}
			for _, t := range sec.tags {
				if f.Key != "tag-value" {
					fields = append(fields, t.Key)
				}
				if f.Key != "tag-key" {
					fields = append(fields, t.Value)
				}
			}
		}
		ok := false
		for _, want := range f.Values {
			for _, have := range fields {
				ok = ok || strings.HasPrefix(strings.ToLower(have), strings.ToLower(want))
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func checkFilters(filters []secretFilter) error {
	for _, f := range filters {
		switch f.Key {
		case "name", "description", "tag-key", "tag-value", "all":
		default:
			return clientError("InvalidParameterException", "lab: filter key %q is not supported (name, description, tag-key, tag-value, all)", f.Key)
		}
	}
	return nil
}

// filtered returns the secrets matching filters, oldest first.
func (s *secrets) filtered(filters []secretFilter) []*secret {
	var out []*secret
	for _, sec := range s.byName {
		if sec.matches(filters) {
			out = append(out, sec)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].name < out[j].name
	})
	return out
}

func (s *secrets) batchGetValue(body []byte) (any, error) {
	var in struct {
		SecretIdList []string
		Filters      []secretFilter
		MaxResults   int
		NextToken    string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if (len(in.SecretIdList) == 0) == (len(in.Filters) == 0) {
		return nil, clientError("InvalidParameterException", "Either 'SecretIdList' or 'Filters' must be provided, but not both.")
	}
	if err := checkFilters(in.Filters); err != nil {
		return nil, err
	}
	type apiErrorType struct{ SecretId, ErrorCode, Message string }
	out := struct {
		SecretValues []valueEntry
		Errors       []apiErrorType
		NextToken    string `json:",omitempty"`
	}{SecretValues: []valueEntry{}, Errors: []apiErrorType{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(in.SecretIdList) > 0 {
		for _, id := range in.SecretIdList {
			sec := s.lookup(id)
			var v *secretVersion
			if sec != nil {
				v = sec.staged(stageCurrent)
			}
			if v == nil {
				out.Errors = append(out.Errors, apiErrorType{id, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."})
				continue
			}
			out.SecretValues = append(out.SecretValues, sec.entry(v))
		}
		return out, nil
	}
	// Secrets without a current value are left out, not errors.
	var found []*secret
	for _, sec := range s.filtered(in.Filters) {
		if sec.staged(stageCurrent) != nil {
			found = append(found, sec)
		}
	}
	from, to, next, err := page(len(found), in.NextToken, cmp.Or(in.MaxResults, 20), "InvalidNextTokenException")
	if err != nil {
		return nil, err
	}
	for _, sec := range found[from:to] {
		out.SecretValues = append(out.SecretValues, sec.entry(sec.staged(stageCurrent)))
	}
	out.NextToken = next
	return out, nil
}

func (s *secrets) list(body []byte) (any, error) {
	var in struct {
		Filters    []secretFilter
		MaxResults int
		NextToken  string
		SortOrder  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkFilters(in.Filters); err != nil {
		return nil, err
	}
	type listEntry struct {
		ARN                    string
		Name                   string
		Description            string `json:",omitempty"`
		KmsKeyId               string `json:",omitempty"`
		CreatedDate            epoch
		LastChangedDate        epoch
		SecretVersionsToStages map[string][]string
		Tags                   []tag `json:",omitempty"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := s.filtered(in.Filters)
	if in.SortOrder != "asc" {
		slices.Reverse(found)
	}
	from, to, next, err := page(len(found), in.NextToken, cmp.Or(in.MaxResults, 100), "InvalidNextTokenException")
	if err != nil {
		return nil, err
	}
	out := struct {
		SecretList []listEntry
		NextToken  string `json:",omitempty"`
	}{SecretList: []listEntry{}, NextToken: next}
	for _, sec := range found[from:to] {
		stages := map[string][]string{}
		for _, v := range sec.versions {
			if len(v.stages) > 0 {
				stages[v.id] = slices.Clone(v.stages)
			}
		}
		out.SecretList = append(out.SecretList, listEntry{ARN: sec.arn, Name: sec.name, Description: sec.description,
			KmsKeyId: sec.kmsKeyID, CreatedDate: epoch(sec.created), LastChangedDate: epoch(sec.changed),
			SecretVersionsToStages: stages, Tags: sec.tags})
	}
	return out, nil
}

// lookup finds a secret by name, by ARN, or by an ARN without its random
// suffix ("partial ARN"), as Secrets Manager's SecretId allows.
func (s *secrets) lookup(id string) *secret {
	if sec, ok := s.byName[id]; ok {
		return sec
	}
	prefix := "arn:aws:secretsmanager:" + s.region + ":" + s.account + ":secret:"
	name, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return nil
	}
	if sec, ok := s.byName[name]; ok {
		return sec
	}
	for _, sec := range s.byName {
		if sec.arn == id {
			return sec
		}
	}
	return nil
}

func (sec *secret) version(id string) *secretVersion {
	for _, v := range sec.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (sec *secret) staged(stage string) *secretVersion {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// addVersion adds a version holding stages, moving each label from the
// version that had it; the version losing AWSCURRENT becomes AWSPREVIOUS.
func (sec *secret) addVersion(token string, val secretValue, stages []string, now time.Time) *secretVersion {
	v := &secretVersion{id: cmp.Or(token, uuid()), str: val.SecretString, bin: val.SecretBinary, created: now, stages: slices.Clone(stages)}
	if slices.Contains(stages, stageCurrent) {
		if old := sec.staged(stageCurrent); old != nil {
			for _, o := range sec.versions {
				o.stages = slices.DeleteFunc(o.stages, func(s string) bool { return s == stagePrevious })
			}
			old.stages = append(old.stages, stagePrevious)
		}
	}
	for _, o := range sec.versions {
		o.stages = slices.DeleteFunc(o.stages, func(s string) bool { return slices.Contains(stages, s) })
	}
	sec.versions = append(sec.versions, v)
	sec.changed = now
	return v
}

// arnSuffix is the six random characters Secrets Manager appends to a
// secret's name in its ARN.
func arnSuffix() string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

func uuid() string { return requestID() }
