package mask

// Default returns the built-in profile, which applies to every call whose
// policy rule names no profile and, unless they say defaults: false, is
// part of the profiles a policy file defines. It masks what an agent must
// never read in ordinary responses:
//
//   - AWS credentials anywhere: every SecretAccessKey and SessionToken, in
//     either spelling, at any depth, in any service's response (STS,
//     IAM CreateAccessKey, SSO GetRoleCredentials, S3 CreateSession, EKS
//     pod identity, sign-in), and Cognito's SecretKey. Access key ids are
//     kept: they are identifiers, not secrets (CloudTrail logs them, IAM
//     lists them), agents need them to name keys, and without the secret
//     they sign nothing.
//   - Tokens: Cognito's AuthenticationResult tokens and GetOpenIdToken,
//     SSO OIDC's access, refresh and id tokens and client secret, ECR and
//     CodeArtifact authorization tokens, IAM service-specific passwords,
//     and EC2 key pairs' private key material.
//   - Secrets Manager SecretString and SecretBinary (GetSecretValue,
//     BatchGetSecretValue) and GetRandomPassword's password.
//   - SSM parameter values whose Type is SecureString (GetParameter,
//     GetParameters, GetParametersByPath, GetParameterHistory).
//   - Lambda environment variables (GetFunction, GetFunctionConfiguration,
//     ListFunctions, ListVersionsByFunction, and the Create, Update and
//     Publish responses that echo them).
//   - Database passwords: MasterUserPassword wherever RDS (and so Aurora,
//     DocumentDB and Neptune, which share its API) or Redshift returns one
//     (pending modified values), Redshift's temporary DbPassword.
//
// Its detectors find secret access keys and PEM private keys in every
// other string of every response. Everything is replaced with "****"
// (SecretBinary with its base64). KMS Decrypt and GenerateDataKey
// plaintext is not masked: envelope encryption needs it, and a policy
// that must hide it names a profile that does.
func Default() *Profile {
	p := func(paths ...string) []Path {
		out := make([]Path, len(paths))
		for i, s := range paths {
			out[i] = MustPath(s)
		}
		return out
	}
	return &Profile{
		Name:    DefaultName,
		builtin: true,
		Fields: []FieldRule{
			{
				Name:    "aws-credentials",
				Actions: []string{"*"},
				Paths:   p("**.SecretAccessKey", "**.secretAccessKey", "**.SessionToken", "**.sessionToken"),
			},
			{
				Name:    "aws-credentials",
				Actions: []string{"cognito-identity:*"},
				Paths:   p("Credentials.SecretKey", "Token"),
			},
			{
				Name:    "auth-tokens",
				Actions: []string{"*"},
				Paths: p("**.AuthenticationResult.AccessToken", "**.AuthenticationResult.IdToken",
					"**.AuthenticationResult.RefreshToken"),
			},
			{
				Name:    "auth-tokens",
				Actions: []string{"sso-oauth:*", "sso-oidc:*", "signin:*"},
				Paths:   p("accessToken", "refreshToken", "idToken", "clientSecret", "**.refreshToken", "**.idToken"),
			},
			{
				Name:    "auth-tokens",
				Actions: []string{"ecr:GetAuthorizationToken", "ecr-public:GetAuthorizationToken", "codeartifact:GetAuthorizationToken"},
				Paths:   p("authorizationData[*].authorizationToken", "authorizationData.authorizationToken", "authorizationToken"),
			},
			{
				Name:    "auth-tokens",
				Actions: []string{"iam:CreateServiceSpecificCredential", "iam:ResetServiceSpecificCredential"},
				Paths:   p("**.ServicePassword", "**.ServiceCredentialSecret"),
			},
			{
				Name:    "private-keys",
				Actions: []string{"ec2:CreateKeyPair"},
				Paths:   p("keyMaterial", "KeyMaterial"),
			},
			{
				Name:    "secret-value",
				Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"},
				Paths:   p("SecretString", "SecretValues[*].SecretString"),
			},
			{
				Name:    "secret-value",
				Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"},
				Paths:   p("SecretBinary", "SecretValues[*].SecretBinary"),
				Base64:  true,
			},
			{
				Name:    "secret-value",
				Actions: []string{"secretsmanager:GetRandomPassword"},
				Paths:   p("RandomPassword"),
			},
			{
				Name:    "ssm-securestring",
				Actions: []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"},
				Paths:   p("Parameter.Value", "Parameters[*].Value"),
				When:    map[string]string{"Type": "SecureString"},
			},
			{
				Name: "lambda-environment",
				// The operations that return a function's configuration,
				// not Invoke, whose payload is the function's own.
				Actions: []string{"lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:ListFunctions",
					"lambda:ListVersionsByFunction", "lambda:CreateFunction", "lambda:UpdateFunctionConfiguration",
					"lambda:UpdateFunctionCode", "lambda:PublishVersion"},
				Paths: p("**.Environment.Variables.*"),
			},
			{
				Name:    "db-passwords",
				Actions: []string{"rds:*", "redshift:*", "docdb:*", "neptune-db:*"},
				Paths:   p("**.MasterUserPassword"),
			},
			{
				Name:    "db-passwords",
				Actions: []string{"redshift:GetClusterCredentials", "redshift:GetClusterCredentialsWithIAM", "redshift-serverless:GetCredentials"},
				Paths:   p("DbPassword", "*.DbPassword", "dbPassword"),
			},
		},
		Detectors: []Detector{SecretAccessKey(), PrivateKey()},
	}
}
