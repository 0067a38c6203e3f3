package awsapi

import (
	"encoding/json"
	"encoding/xml"
	"net/url"
	"sort"
	"strings"
)

// describeAccess refines the action where the request decides it (S3
// versions, DynamoDB PartiQL and transactions) and fills Resources and
// AlsoActions from the per-service rules below. The rules read Params
// (the SDK's Go field names, or form keys for the query protocols); a
// member the request does not carry yields no resource.
func describeAccess(c *Call, s *serviceTable, d *describer, opts Options) {
	a := arnBuilder{partition: partition(c.Region), region: c.Region, account: opts.Account}
	p := c.Params
	switch s.name {
	case "s3":
		s3Access(c, d, a)
	case "dynamodb":
		dynamodbAccess(c, d, a)
	case "lambda":
		if f := str(p, "FunctionName"); f != "" {
			c.Resources = append(c.Resources, a.lambdaFunction(f, str(p, "Qualifier")))
		}
	case "sqs":
		q := str(p, "QueueUrl")
		if q == "" && c.Protocol == "query" {
			q = d.r.URL.Path // legacy query requests go to the queue's URL
		}
		if r := a.sqsQueue(q); r != "" {
			c.Resources = append(c.Resources, r)
		} else if n := str(p, "QueueName"); n != "" {
			acct := str(p, "QueueOwnerAWSAccountId")
			if acct == "" {
				acct = a.account
			}
			c.Resources = append(c.Resources, a.arn("sqs", a.region, acct, n))
		}
	case "sns":
		for _, k := range []string{"TopicArn", "TargetArn", "SubscriptionArn", "ResourceArn"} {
			if v := str(p, k); strings.HasPrefix(v, "arn:") {
				c.Resources = append(c.Resources, v)
			}
		}
		if c.Operation == "CreateTopic" {
			if n := str(p, "Name"); n != "" {
				c.Resources = append(c.Resources, a.arn("sns", a.region, a.account, n))
			}
		}
	case "kms":
		for _, k := range []string{"KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"} {
			if v := str(p, k); v != "" {
				c.Resources = append(c.Resources, a.kmsKey(v))
			}
		}
		if v := str(p, "AliasName"); v != "" {
			c.Resources = append(c.Resources, a.kmsKey(v))
		}
	case "secretsmanager":
		ids := []string{str(p, "SecretId")}
		if c.Operation == "CreateSecret" {
			ids = append(ids, str(p, "Name"))
		}
		ids = append(ids, strs(p, "SecretIdList")...)
		for _, id := range ids {
			if id != "" {
				c.Resources = append(c.Resources, a.orARN(id, "secretsmanager", a.region, a.account, "secret:"+id))
			}
		}
	case "ssm":
		if strings.Contains(c.Operation, "Parameter") {
			names := append([]string{str(p, "Name"), str(p, "Path")}, strs(p, "Names")...)
			for _, n := range names {
				if n != "" {
					c.Resources = append(c.Resources, a.orARN(n, "ssm", a.region, a.account, "parameter/"+strings.TrimPrefix(n, "/")))
				}
			}
		}
	case "iam":
		iamAccess(c, a)
	case "ec2":
		ec2Access(c, a)
	case "rds":
		for _, k := range [...][2]string{{"DBInstanceIdentifier", "db:"}, {"DBClusterIdentifier", "cluster:"},
			{"DBSnapshotIdentifier", "snapshot:"}, {"DBClusterSnapshotIdentifier", "cluster-snapshot:"}} {
			if v := str(p, k[0]); v != "" {
				c.Resources = append(c.Resources, a.orARN(v, "rds", a.region, a.account, k[1]+v))
			}
		}
		if v := str(p, "ResourceName"); strings.HasPrefix(v, "arn:") {
			c.Resources = append(c.Resources, v)
		}
	case "ecr":
		acct := str(p, "RegistryId")
		if acct == "" {
			acct = a.account
		}
		for _, n := range append([]string{str(p, "RepositoryName")}, strs(p, "RepositoryNames")...) {
			if n != "" {
				c.Resources = append(c.Resources, a.arn("ecr", a.region, acct, "repository/"+n))
			}
		}
	case "ecs":
		ecsAccess(c, a)
	case "eks":
		name := str(p, "ClusterName")
		if name == "" && (strings.HasSuffix(c.Operation, "Cluster") || c.Operation == "UpdateClusterConfig" || c.Operation == "UpdateClusterVersion") {
			name = str(p, "Name")
		}
		if name != "" {
			c.Resources = append(c.Resources, a.orARN(name, "eks", a.region, a.account, "cluster/"+name))
		}
	case "cloudwatchlogs":
		g := str(p, "LogGroupName")
		if g == "" {
			g = str(p, "LogGroupIdentifier")
		}
		switch {
		case strings.HasPrefix(g, "arn:"):
			c.Resources = append(c.Resources, strings.TrimSuffix(g, ":*"))
		case g != "" && str(p, "LogStreamName") != "":
			c.Resources = append(c.Resources, a.arn("logs", a.region, a.account, "log-group:"+g+":log-stream:"+str(p, "LogStreamName")))
		case g != "":
			c.Resources = append(c.Resources, a.arn("logs", a.region, a.account, "log-group:"+g))
		}
	case "cloudformation":
		if n := str(p, "StackName"); n != "" {
			c.Resources = append(c.Resources, a.orARN(n, "cloudformation", a.region, a.account, "stack/"+n))
		}
	case "route53":
		id := str(p, "HostedZoneId")
		if id == "" && strings.Contains(c.Operation, "HostedZone") {
			id = str(p, "Id")
		}
		if id != "" {
			id = strings.TrimPrefix(strings.TrimPrefix(id, "/"), "hostedzone/")
			c.Resources = append(c.Resources, a.arn("route53", "", "", "hostedzone/"+id))
		}
	case "bedrock", "bedrockruntime":
		for _, k := range []string{"ModelId", "ModelIdentifier"} {
			if m := str(p, k); m != "" {
				c.Resources = append(c.Resources, a.bedrockModel(m))
			}
		}
	case "sts":
		if v := str(p, "RoleArn"); strings.HasPrefix(v, "arn:") {
			c.Resources = append(c.Resources, v)
		}
	}
}

// ---- S3 ----

func s3Access(c *Call, d *describer, a arnBuilder) {
	p := c.Params
	bucket, key := str(p, "Bucket"), str(p, "Key")
	res := func(bucket, key string) string {
		if d.s3.kind == s3AccessPoint {
			svc := "s3"
			if d.s3.lambda {
				svc = "s3-object-lambda"
			}
			ap := a.arn(svc, a.region, d.s3.account, "accesspoint/"+bucket)
			if key != "" {
				return ap + "/object/" + key
			}
			return ap
		}
		if key != "" {
			return a.arn("s3", "", "", bucket+"/"+key)
		}
		return a.arn("s3", "", "", bucket)
	}
	if bucket != "" {
		c.Resources = append(c.Resources, res(bucket, key))
	}
	op := c.Operation
	if v, ok := versioned[op]; ok && str(p, "VersionId") != "" {
		c.Action = "s3:" + v
	}
	switch op {
	case "DeleteObjects":
		if bucket == "" || len(d.body) == 0 {
			return
		}
		var del struct {
			Object []struct{ Key, VersionId string }
		}
		if xml.Unmarshal(d.body, &del) != nil || len(del.Object) == 0 {
			return
		}
		var objs, versions []string
		for _, o := range del.Object {
			if o.VersionId != "" {
				versions = append(versions, res(bucket, o.Key))
			} else {
				objs = append(objs, res(bucket, o.Key))
			}
		}
		c.Resources = objs
		if len(versions) > 0 {
			if len(objs) == 0 {
				c.Action, c.Resources = "s3:DeleteObjectVersion", versions
			} else {
				c.AlsoActions = append(c.AlsoActions, Access{"s3:DeleteObjectVersion", versions})
			}
		}
	case "CopyObject", "UploadPartCopy":
		src := headerValue(d.r.Header, "x-amz-copy-source")
		p["CopySource"] = src
		if r, ver := a.s3CopySource(src); r != "" {
			act := "s3:GetObject"
			if ver {
				act = "s3:GetObjectVersion"
			}
			c.AlsoActions = append(c.AlsoActions, Access{act, []string{r}})
		}
	}
	switch op {
	case "PutObject", "CopyObject", "CreateMultipartUpload":
		h := d.r.Header
		if headerValue(h, "x-amz-acl") != "" || headerValue(h, "x-amz-grant-read") != "" ||
			headerValue(h, "x-amz-grant-read-acp") != "" || headerValue(h, "x-amz-grant-write-acp") != "" ||
			headerValue(h, "x-amz-grant-full-control") != "" {
			c.AlsoActions = append(c.AlsoActions, Access{"s3:PutObjectAcl", []string{res(bucket, key)}})
		}
		if headerValue(h, "x-amz-tagging") != "" {
			c.AlsoActions = append(c.AlsoActions, Access{"s3:PutObjectTagging", []string{res(bucket, key)}})
		}
	}
}

// s3CopySource reads x-amz-copy-source: "bucket/key" or
// "/bucket/key", URL-encoded, with an optional "?versionId=", or an access
// point ARN ".../accesspoint/name/object/key".
func (a arnBuilder) s3CopySource(src string) (string, bool) {
	if src == "" {
		return "", false
	}
	path, q, _ := strings.Cut(src, "?")
	ver := strings.HasPrefix(q, "versionId=") || strings.Contains(q, "&versionId=")
	dec, err := url.PathUnescape(path)
	if err != nil {
		return "", false
	}
	dec = strings.TrimPrefix(dec, "/")
	if strings.HasPrefix(dec, "arn:") {
		return dec, ver
	}
	b, k, ok := strings.Cut(dec, "/")
	if !ok || b == "" || k == "" {
		return "", false
	}
	return a.arn("s3", "", "", b+"/"+k), ver
}

// ---- DynamoDB ----

func dynamodbAccess(c *Call, d *describer, a arnBuilder) {
	p := c.Params
	table := func(t string) string { return a.orARN(t, "dynamodb", a.region, a.account, "table/"+t) }
	if t := str(p, "TableName"); t != "" {
		r := table(t)
		if i := str(p, "IndexName"); i != "" && (c.Operation == "Query" || c.Operation == "Scan") {
			r += "/index/" + i
		}
		c.Resources = append(c.Resources, r)
	}
	if t := str(p, "ResourceArn"); strings.HasPrefix(t, "arn:") {
		c.Resources = append(c.Resources, t)
	}
	switch c.Operation {
	case "BatchGetItem", "BatchWriteItem":
		if m, ok := p["RequestItems"].(map[string]any); ok {
			names := make([]string, 0, len(m))
			for t := range m {
				names = append(names, t)
			}
			sort.Strings(names)
			for _, t := range names {
				c.Resources = append(c.Resources, table(t))
			}
		}
	case "TransactGetItems", "TransactWriteItems":
		// IAM authorizes each part as the item call it is (iam-dataset's
		// map.json): Get → GetItem, Put → PutItem, ...
		items, _ := p["TransactItems"].([]any)
		need := map[string][]string{}
		var order []string
		for _, it := range items {
			m, _ := it.(map[string]any)
			for _, kind := range [...]string{"Get", "Put", "Update", "Delete", "ConditionCheck"} {
				part, _ := m[kind].(map[string]any)
				t, _ := part["TableName"].(string)
				if t == "" {
					continue
				}
				act := "dynamodb:" + kind + "Item"
				if _, seen := need[act]; !seen {
					order = append(order, act)
				}
				r := table(t)
				if !contains(need[act], r) {
					need[act] = append(need[act], r)
				}
			}
		}
		for i, act := range order {
			if i == 0 {
				c.Action, c.Resources = act, need[act]
			} else {
				c.AlsoActions = append(c.AlsoActions, Access{act, need[act]})
			}
		}
	case "ExecuteStatement":
		// PartiQL is authorized by statement kind.
		st := strings.ToUpper(strings.TrimSpace(str(p, "Statement")))
		for _, k := range [...]string{"SELECT", "INSERT", "UPDATE", "DELETE"} {
			if strings.HasPrefix(st, k) {
				c.Action = "dynamodb:PartiQL" + k[:1] + strings.ToLower(k[1:])
			}
		}
	}
}

// ---- IAM, EC2, ECS ----

func iamAccess(c *Call, a arnBuilder) {
	p := c.Params
	path := "/"
	if strings.HasPrefix(c.Operation, "Create") {
		if v := str(p, "Path"); strings.HasPrefix(v, "/") && strings.HasSuffix(v, "/") {
			path = v
		}
	}
	for _, k := range [...][2]string{{"RoleName", "role"}, {"UserName", "user"}, {"GroupName", "group"},
		{"InstanceProfileName", "instance-profile"}} {
		if v := str(p, k[0]); v != "" {
			c.Resources = append(c.Resources, a.arn("iam", "", a.account, k[1]+path+v))
		}
	}
	if c.Operation == "CreatePolicy" {
		if v := str(p, "PolicyName"); v != "" {
			c.Resources = append(c.Resources, a.arn("iam", "", a.account, "policy"+path+v))
		}
	}
	for _, k := range []string{"PolicyArn", "OpenIDConnectProviderArn", "SAMLProviderArn"} {
		if v := str(p, k); strings.HasPrefix(v, "arn:") {
			c.Resources = append(c.Resources, v)
		}
	}
}

// ec2Kinds maps EC2 query members (form keys without the ".N" suffix) to
// resource types; images and snapshots carry no account in their ARNs.
var ec2Kinds = [...]struct {
	key, kind string
	account   bool
}{
	{"InstanceId", "instance", true},
	{"VolumeId", "volume", true},
	{"ImageId", "image", false},
	{"SnapshotId", "snapshot", false},
	{"SubnetId", "subnet", true},
	{"SecurityGroupId", "security-group", true},
	{"VpcId", "vpc", true},
	{"NetworkInterfaceId", "network-interface", true},
}

func ec2Access(c *Call, a arnBuilder) {
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessIndexed(keys[i], keys[j]) })
	for _, k := range keys {
		base, idx, _ := strings.Cut(k, ".")
		if idx != "" && strings.Trim(idx, "0123456789") != "" {
			continue
		}
		for _, e := range ec2Kinds {
			if base == e.key {
				v := str(c.Params, k)
				if v == "" {
					continue
				}
				acct := a.account
				if !e.account {
					acct = ""
				}
				c.Resources = append(c.Resources, a.arn("ec2", a.region, acct, e.kind+"/"+v))
			}
		}
	}
}

// lessIndexed orders "InstanceId.2" before "InstanceId.10".
func lessIndexed(x, y string) bool {
	xb, xi, _ := strings.Cut(x, ".")
	yb, yi, _ := strings.Cut(y, ".")
	if xb != yb {
		return xb < yb
	}
	if len(xi) != len(yi) {
		return len(xi) < len(yi)
	}
	return xi < yi
}

func ecsAccess(c *Call, a arnBuilder) {
	p := c.Params
	cluster := str(p, "Cluster")
	name := func(v string) string {
		if i := strings.LastIndexByte(v, '/'); i >= 0 {
			return v[i+1:]
		}
		return v
	}
	clusters := append([]string{cluster}, strs(p, "Clusters")...)
	if c.Operation == "CreateCluster" {
		clusters = append(clusters, str(p, "ClusterName"))
	}
	for _, cl := range clusters {
		if cl != "" {
			c.Resources = append(c.Resources, a.orARN(cl, "ecs", a.region, a.account, "cluster/"+cl))
		}
	}
	services := append([]string{str(p, "Service")}, strs(p, "Services")...)
	if c.Operation == "CreateService" {
		services = append(services, str(p, "ServiceName"))
	}
	for _, sv := range services {
		switch {
		case sv == "":
		case strings.HasPrefix(sv, "arn:"):
			c.Resources = append(c.Resources, sv)
		case cluster != "":
			// The service's ARN holds its cluster's name; without a
			// cluster in the request there is nothing to name.
			c.Resources = append(c.Resources, a.arn("ecs", a.region, a.account, "service/"+name(cluster)+"/"+sv))
		}
	}
	if td := str(p, "TaskDefinition"); td != "" {
		c.Resources = append(c.Resources, a.orARN(td, "ecs", a.region, a.account, "task-definition/"+td))
	}
}

// ---- ARNs ----

type arnBuilder struct{ partition, region, account string }

func (a arnBuilder) arn(service, region, account, resource string) string {
	return "arn:" + a.partition + ":" + service + ":" + region + ":" + account + ":" + resource
}

// orARN keeps a value that already is an ARN and builds one otherwise.
func (a arnBuilder) orARN(v, service, region, account, resource string) string {
	if strings.HasPrefix(v, "arn:") {
		return v
	}
	return a.arn(service, region, account, resource)
}

// lambdaFunction accepts what Lambda does: a name ("f", "f:alias"), a
// partial ARN ("123456789012:function:f") or a full ARN; a Qualifier query
// parameter qualifies an unqualified name.
func (a arnBuilder) lambdaFunction(f, qualifier string) string {
	var r string
	switch {
	case strings.HasPrefix(f, "arn:"):
		r = f
	case strings.Contains(f, ":function:"):
		acct, rest, _ := strings.Cut(f, ":function:")
		r = a.arn("lambda", a.region, acct, "function:"+rest)
	default:
		r = a.arn("lambda", a.region, a.account, "function:"+f)
	}
	if qualifier != "" {
		_, after, _ := strings.Cut(r, ":function:")
		if !strings.Contains(after, ":") {
			r += ":" + qualifier
		}
	}
	return r
}

// sqsQueue turns a queue URL (https://sqs.R.amazonaws.com/ACCOUNT/NAME, or
// just its path) into the queue's ARN.
func (a arnBuilder) sqsQueue(q string) string {
	if q == "" {
		return ""
	}
	if u, err := url.Parse(q); err == nil && u.Path != "" {
		q = u.Path
	}
	acct, name, ok := strings.Cut(strings.Trim(q, "/"), "/")
	if !ok || acct == "" || name == "" || strings.Contains(name, "/") {
		return ""
	}
	return a.arn("sqs", a.region, acct, name)
}

func (a arnBuilder) kmsKey(v string) string {
	switch {
	case strings.HasPrefix(v, "arn:"):
		return v
	case strings.HasPrefix(v, "alias/"):
		return a.arn("kms", a.region, a.account, v)
	}
	return a.arn("kms", a.region, a.account, "key/"+v)
}

// bedrockModel names what a model id points at: an ARN as given; a
// cross-region inference profile ("us.anthropic...") in the account; any
// other id a foundation model, whose ARNs carry no account.
func (a arnBuilder) bedrockModel(m string) string {
	if strings.HasPrefix(m, "arn:") {
		return m
	}
	if geo, _, ok := strings.Cut(m, "."); ok {
		switch geo {
		case "us", "eu", "apac", "us-gov", "jp", "au", "ca", "global":
			return a.arn("bedrock", a.region, a.account, "inference-profile/"+m)
		}
	}
	return a.arn("bedrock", a.region, "", "foundation-model/"+m)
}

// partition is the ARN partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	}
	return "aws"
}

// ---- Params access ----

func str(p map[string]any, k string) string {
	switch v := p[k].(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// strs reads a list member: a JSON array of strings, or repeated query
// values.
func strs(p map[string]any, k string) []string {
	switch v := p[k].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
