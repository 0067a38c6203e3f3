// Package awscreds chooses the credentials Gatehouse signs an agent's call
// with upstream.
//
//	p, err := awscreds.New(ctx, awscreds.Config{Roles: []awscreds.Role{{ARN: arn, Groups: []string{"agents"}}}})
//	creds, role, err := p.For(ctx, awscreds.Agent{Subject: "agent-1", Groups: []string{"agents"}})
//
// # What it owns
//
// The gateway's own credentials (aws-sdk-go-v2's default chain), and the
// mapping of agents to roles: a matching agent's calls are signed with the
// role assumed for it, its subject as SourceIdentity and RoleSessionName
// and its groups as session tags, so AWS's CloudTrail names the agent.
// Assumed credentials are cached per (role, agent) until near expiry.
//
// # What it never does
//
// It never hands credentials to an agent, never logs them, and never
// decides whether a call may happen: it only says which credentials sign it.
//
// # Who imports it
//
// intercept's chain (the sign stage) and cmd/gatehouse, which builds it
// from the upstream_credentials config section.
package awscreds

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Role maps agents to a role Gatehouse assumes for them. An agent matches
// when its subject is in Subjects or one of its groups is in Groups; the
// first matching role wins.
type Role struct {
	ARN        string        `yaml:"arn"`
	Subjects   []string      `yaml:"subjects"`
	Groups     []string      `yaml:"groups"`
	ExternalID string        `yaml:"external_id"`
	Duration   time.Duration `yaml:"duration"` // default 1h
}

// Config is the upstream_credentials section of Gatehouse's config.
type Config struct {
	Roles []Role `yaml:"roles"`
	// STSEndpoint overrides where roles are assumed (labs, VPC endpoints).
	STSEndpoint string `yaml:"sts_endpoint"`
	Region      string `yaml:"region"` // default: the SDK's (AWS_REGION), else us-east-1
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	for i, r := range c.Roles {
		if !strings.HasPrefix(r.ARN, "arn:") || !strings.Contains(r.ARN, ":role/") {
			errs = append(errs, fmt.Errorf("upstream_credentials.roles[%d].arn: %q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", i, r.ARN))
		}
		if len(r.Subjects) == 0 && len(r.Groups) == 0 {
			errs = append(errs, fmt.Errorf("upstream_credentials.roles[%d]: names no subjects and no groups, so it matches no agent", i))
		}
		if r.Duration != 0 && (r.Duration < 15*time.Minute || r.Duration > 12*time.Hour) {
			errs = append(errs, fmt.Errorf("upstream_credentials.roles[%d].duration: %v is outside STS's 15m..12h", i, r.Duration))
		}
	}
	return errors.Join(errs...)
}

// Agent is who a call is signed for.
type Agent struct {
	Issuer  string
	Subject string
	Groups  []string
}

// Provider returns upstream credentials per agent.
type Provider struct {
	cfg   Config
	base  aws.CredentialsProvider
	sts   stscreds.AssumeRoleAPIClient
	roles *lru.Cache[string, *aws.CredentialsCache]
}

// New loads the gateway's own credentials with the SDK's default chain
// (environment, shared config, web identity, ECS, IMDS).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load upstream credentials (aws-sdk-go-v2 default chain): %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.STSEndpoint)
		}
	})
	return NewWith(cfg, awsCfg.Credentials, client)
}

// NewWith builds a Provider from given base credentials and STS client
// (tests, and callers that already hold an aws.Config).
func NewWith(cfg Config, base aws.CredentialsProvider, client stscreds.AssumeRoleAPIClient) (*Provider, error) {
	if base == nil {
		return nil, errors.New("upstream credentials: none found by the default chain; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role for the gateway")
	}
	cache, _ := lru.New[string, *aws.CredentialsCache](10000)
	return &Provider{cfg: cfg, base: base, sts: client, roles: cache}, nil
}

// For returns the credentials to sign agent's call with, and the role ARN
// they belong to ("" for the gateway's own).
func (p *Provider) For(ctx context.Context, agent Agent) (aws.Credentials, string, error) {
	role := p.match(agent)
	if role == nil {
		c, err := p.base.Retrieve(ctx)
		if err != nil {
			return aws.Credentials{}, "", fmt.Errorf("retrieve gateway credentials: %w", err)
		}
		return c, "", nil
	}
	key := role.ARN + "\x00" + agent.Issuer + "\x00" + agent.Subject + "\x00" + strings.Join(agent.Groups, ",")
	cc, ok := p.roles.Get(key)
	if !ok {
		cc = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(p.sts, role.ARN, func(o *stscreds.AssumeRoleOptions) {
			name := sanitizeName(agent.Subject)
			o.RoleSessionName = name
			o.SourceIdentity = aws.String(name)
			o.Tags = SessionTags(agent)
			if role.Duration != 0 {
				o.Duration = role.Duration
			}
			if role.ExternalID != "" {
				o.ExternalID = aws.String(role.ExternalID)
			}
		}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
		p.roles.Add(key, cc)
	}
	c, err := cc.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, role.ARN, fmt.Errorf("assume %s for %s: %w", role.ARN, agent.Subject, err)
	}
	return c, role.ARN, nil
}

func (p *Provider) match(a Agent) *Role {
	for i := range p.cfg.Roles {
		r := &p.cfg.Roles[i]
		if slices.Contains(r.Subjects, a.Subject) {
			return r
		}
		for _, g := range a.Groups {
			if slices.Contains(r.Groups, g) {
				return r
			}
		}
	}
	return nil
}

// SessionTags names the agent in the assumed-role session: its subject,
// issuer and groups, within STS's limits (50 tags, keys 128 and values 256
// characters of a restricted set).
func SessionTags(a Agent) []types.Tag {
	tags := []types.Tag{{Key: aws.String("gatehouse:subject"), Value: aws.String(tagValue(a.Subject))}}
	if a.Issuer != "" {
		tags = append(tags, types.Tag{Key: aws.String("gatehouse:issuer"), Value: aws.String(tagValue(a.Issuer))})
	}
	if len(a.Groups) > 0 {
		tags = append(tags, types.Tag{Key: aws.String("gatehouse:groups"), Value: aws.String(tagValue(strings.Join(a.Groups, ":")))})
	}
	return tags
}

var (
	nameUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)
	tagUnsafe  = regexp.MustCompile(`[^\p{L}\p{Z}\p{N}_.:/=+\-@]`)
)

// sanitizeName fits a subject to RoleSessionName and SourceIdentity:
// 2..64 characters of [\w+=,.@-].
func sanitizeName(s string) string {
	s = nameUnsafe.ReplaceAllString(s, "_")
	if len(s) > 64 {
		s = s[:64]
	}
	for len(s) < 2 {
		s += "_"
	}
	return s
}

func tagValue(s string) string {
	s = tagUnsafe.ReplaceAllString(s, "_")
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}
