package intercept

import (
	"net/http"
	"net/url"
	"strings"
)

// operation names the call well enough for the stages that need it before
// [3/6]'s generated tables exist: the query protocol's Action, the JSON
// protocols' X-Amz-Target, and the SSO portal's credentials path. It
// returns "" when it cannot tell.
func operation(r *http.Request, service string, form url.Values) string {
	if a := form.Get("Action"); a != "" {
		return a
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if _, op, ok := strings.Cut(t, "."); ok {
			return op
		}
	}
	if service == "portal.sso" && r.Method == http.MethodGet && r.URL.Path == "/federation/credentials" {
		return "GetRoleCredentials"
	}
	return ""
}

// vendsCredentials lists the calls whose responses carry real AWS
// credentials. Agents must never hold those, so Gatehouse refuses them
// whatever policy says (AssumeRoleWithWebIdentity is answered by Gatehouse
// itself and never reaches this list's check).
var vendsCredentials = map[string]bool{
	"sts:AssumeRole":                                      true,
	"sts:AssumeRoleWithSAML":                              true,
	"sts:AssumeRoleWithWebIdentity":                       true,
	"sts:AssumeRoot":                                      true,
	"sts:GetSessionToken":                                 true,
	"sts:GetFederationToken":                              true,
	"iam:CreateAccessKey":                                 true,
	"iam:CreateServiceSpecificCredential":                 true,
	"iam:ResetServiceSpecificCredential":                  true,
	"portal.sso:GetRoleCredentials":                       true,
	"cognito-identity:GetCredentialsForIdentity":          true,
	"cognito-identity:GetOpenIdTokenForDeveloperIdentity": true,
}
