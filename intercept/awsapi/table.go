package awsapi

// serviceTable is one AWS service's generated table (zz_generated_ops.go).
type serviceTable struct {
	name            string // SDK module name: "s3", "bedrockruntime"
	module          string // module@version the table was read from
	signing         string // SigV4 signing name
	iam             string // IAM action prefix
	host            string // endpoint host prefix: "bedrock-runtime", "api.ecr"
	protocol        string // restxml, restjson, json, query, ec2query
	target          string // X-Amz-Target prefix (json)
	queryCompatible bool   // a json service that also takes query-protocol requests (SQS)
	version         string // API version
	ops             []op   // sorted by name
}

// op is one operation. REST operations match on method, path template,
// static query literals and required query keys and headers.
type op struct {
	name      string
	method    string
	path      string   // "/{Bucket}/{Key+}"
	query     string   // static literals, sorted, "&"-joined: "list-type=2", "uploads"
	reqQuery  []string // query keys bound to required members
	reqHeader []string // lower-case headers bound to required members
	multi     []string // query keys bound to list members: the only ones that may repeat
	labels    []member
	queries   []member
	body      []member // top-level JSON members (json, restjson) or form keys (query, ec2query)
}

// member ties a wire name (label, query key, JSON or form key) to the SDK
// input's Go field name, which is the key in Call.Params.
type member struct {
	wire   string
	field  string
	secret bool // sensitive: never copied into Params
}
