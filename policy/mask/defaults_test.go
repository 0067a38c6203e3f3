package mask

import (
	"strings"
	"testing"
)

// TestDefaultProfile feeds the built-in profile responses shaped as AWS
// documents them: each planted secret must go, and the value next to it
// that is not secret must stay.
func TestDefaultProfile(t *testing.T) {
	for _, c := range []struct {
		action, doc string
		secrets     []string
		kept        []string
	}{
		{"iam:CreateAccessKey", `<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>bob</UserName>` +
			`<AccessKeyId>AKIAIOSFODNN7EXAMPLE</AccessKeyId><Status>Active</Status><SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>` +
			`</AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>`, []string{"wJalrXUtnFEMI"}, []string{"AKIAIOSFODNN7EXAMPLE", "Active"}},
		{"sts:GetSessionToken", `{"Credentials":{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"sk-1","SessionToken":"tok-1","Expiration":1}}`,
			[]string{"sk-1", "tok-1"}, []string{"ASIAEXAMPLE"}},
		{"cognito-identity:GetCredentialsForIdentity", `{"Credentials":{"AccessKeyId":"ASIAEXAMPLE","SecretKey":"sk-2","SessionToken":"tok-2"},"IdentityId":"us-east-1:1"}`,
			[]string{"sk-2", "tok-2"}, []string{"ASIAEXAMPLE", "us-east-1:1"}},
		{"cognito-identity:GetOpenIdToken", `{"IdentityId":"us-east-1:1","Token":"oidc-3"}`, []string{"oidc-3"}, []string{"us-east-1:1"}},
		{"cognito-idp:InitiateAuth", `{"AuthenticationResult":{"AccessToken":"at-4","IdToken":"it-4","RefreshToken":"rt-4","ExpiresIn":3600,"TokenType":"Bearer"}}`,
			[]string{"at-4", "it-4", "rt-4"}, []string{`"ExpiresIn":3600`, "Bearer"}},
		{"sso-oauth:CreateToken", `{"accessToken":"at-5","refreshToken":"rt-5","idToken":"it-5","expiresIn":3600,"tokenType":"Bearer"}`,
			[]string{"at-5", "rt-5", "it-5"}, []string{"3600"}},
		{"sso:GetRoleCredentials", `{"roleCredentials":{"accessKeyId":"ASIAEXAMPLE","secretAccessKey":"sk-6","sessionToken":"tok-6","expiration":1}}`,
			[]string{"sk-6", "tok-6"}, []string{"ASIAEXAMPLE"}},
		{"ecr:GetAuthorizationToken", `{"authorizationData":[{"authorizationToken":"QVdTOnBhc3N3b3Jk","expiresAt":1,"proxyEndpoint":"https://1.dkr.ecr.us-east-1.amazonaws.com"}]}`,
			[]string{"QVdTOnBhc3N3b3Jk"}, []string{"proxyEndpoint"}},
		{"ec2:CreateKeyPair", `<CreateKeyPairResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><keyName>k</keyName><keyFingerprint>1f:51</keyFingerprint>` +
			`<keyMaterial>-----BEGIN RSA PRIVATE KEY-----&#xA;MIIEpAIB&#xA;-----END RSA PRIVATE KEY-----</keyMaterial></CreateKeyPairResponse>`,
			[]string{"MIIEpAIB"}, []string{"1f:51"}},
		{"secretsmanager:BatchGetSecretValue", `{"SecretValues":[{"Name":"a","SecretString":"pw-7"},{"Name":"b","SecretBinary":"cHctOA=="}],"Errors":[]}`,
			[]string{"pw-7", "cHctOA=="}, []string{`"Name":"a"`}},
		{"secretsmanager:GetRandomPassword", `{"RandomPassword":"pw-9"}`, []string{"pw-9"}, nil},
		{"ssm:GetParametersByPath", `{"Parameters":[{"Name":"/db/pw","Type":"SecureString","Value":"pw-10","Version":3}]}`,
			[]string{"pw-10"}, []string{"/db/pw", `"Version":3`}},
		{"lambda:GetFunction", `{"Configuration":{"FunctionName":"f","Environment":{"Variables":{"API_KEY":"k-11"}}},"Code":{"Location":"https://x"}}`,
			[]string{"k-11"}, []string{"API_KEY", "https://x"}},
		{"rds:ModifyDBInstance", `<ModifyDBInstanceResponse><ModifyDBInstanceResult><DBInstance><DBInstanceIdentifier>db1</DBInstanceIdentifier>` +
			`<PendingModifiedValues><MasterUserPassword>pw-12</MasterUserPassword></PendingModifiedValues></DBInstance></ModifyDBInstanceResult></ModifyDBInstanceResponse>`,
			[]string{"pw-12"}, []string{"db1"}},
		{"redshift:GetClusterCredentials", `<GetClusterCredentialsResponse><GetClusterCredentialsResult><DbUser>IAM:bob</DbUser><DbPassword>pw-13</DbPassword>` +
			`</GetClusterCredentialsResult></GetClusterCredentialsResponse>`, []string{"pw-13"}, []string{"IAM:bob"}},
		{"s3:GetObject", `{"note":"aws_secret_access_key=Zq3+CanaryKey/0123456789abcdefghijKLMNOP"}`,
			[]string{"Zq3+CanaryKey"}, []string{"aws_secret_access_key="}},
	} {
		t.Run(c.action, func(t *testing.T) {
			m := Default().For(c.action)
			var out []byte
			var err error
			if strings.HasPrefix(c.doc, "<") {
				out, _, err = m.XML([]byte(c.doc))
			} else {
				out, _, err = m.JSON([]byte(c.doc))
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("%s leaked: %s", s, out)
				}
			}
			for _, s := range c.kept {
				if !strings.Contains(string(out), s) {
					t.Errorf("%s masked: %s", s, out)
				}
			}
		})
	}
}

// TestDefaultLeavesOrdinaryResponsesAlone: a hash that looks like a
// secret key, an e-mail address and a card number are not masked by the
// built-in profile, which is about credentials and secrets only.
func TestDefaultLeavesOrdinaryResponsesAlone(t *testing.T) {
	doc := `{"ETag":"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12","Token":"t","Owner":"bob@example.com","Ref":"4111111111111111","Value":"v"}`
	out, rep, err := Default().For("s3:ListObjectsV2").JSON([]byte(doc))
	if err != nil || string(out) != doc || rep != nil {
		t.Errorf("got %s %v %v", out, rep, err)
	}
}
