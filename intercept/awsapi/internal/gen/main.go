// Command gen writes awsapi's operation tables from the pinned
// aws-sdk-go-v2 service modules: for every operation its name, HTTP method,
// URI template and static query (REST), JSON target or query Action, and
// which input members travel in URI labels, query parameters, headers and
// top-level body members.
//
// It finds each module with `go mod download -json module@version`, which
// fills the module cache (and works offline once it is filled) without
// touching any go.mod, and parses the module's Go source with go/parser.
// Two generations of the SDK's code are read:
//
//   - serializer modules (s3, ec2, route53, bedrock at the pinned versions)
//     carry the bindings in serializers.go: httpbinding.SplitURI templates,
//     encoder.SetURI/SetQuery/SetHeader calls and document serializers;
//   - schema modules (the rest) carry them as Smithy traits in
//     schemas/schemas.go (smithytraits.HTTP, HTTPLabel, HTTPQuery, ...), tied
//     to operations by smithy.NewOperationSchema in api_op_*.go.
//
// Both read required members from validators.go and the SigV4 signing name
// from auth.go. Output is sorted and gofmt'ed, so runs are reproducible.
//
// Usage (from go:generate in intercept/awsapi):
//
//	go run ./internal/gen -out zz_generated_ops.go
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// service pins one SDK module. iam is the IAM action prefix and host the
// endpoint's first host label; both are facts about AWS that the SDK code
// does not state in one place, so they are kept here by hand (host is
// checked against the module's endpoint rules).
type service struct {
	name    string // module's last path element: "s3", "bedrockruntime"
	version string
	iam     string
	host    string
}

const sdk = "github.com/aws/aws-sdk-go-v2/service/"

// Versions found with `go list -m -versions`; bump them together with the
// oracle module's go.mod (internal/oracle) and rerun go generate.
var services = []service{
	{"bedrock", "v1.63.0", "bedrock", "bedrock"},
	{"bedrockruntime", "v1.63.13", "bedrock", "bedrock-runtime"},
	{"cloudformation", "v1.83.0", "cloudformation", "cloudformation"},
	{"cloudwatchlogs", "v1.92.2", "logs", "logs"},
	{"dynamodb", "v1.74.0", "dynamodb", "dynamodb"},
	{"ec2", "v1.344.3", "ec2", "ec2"},
	{"ecr", "v1.67.6", "ecr", "api.ecr"},
	{"ecs", "v1.105.1", "ecs", "ecs"},
	{"eks", "v1.105.6", "eks", "eks"},
	{"iam", "v1.65.0", "iam", "iam"},
	{"kms", "v1.62.6", "kms", "kms"},
	{"lambda", "v1.114.4", "lambda", "lambda"},
	{"rds", "v1.133.0", "rds", "rds"},
	{"route53", "v1.70.10", "route53", "route53"},
	{"s3", "v1.114.10", "s3", "s3"},
	{"secretsmanager", "v1.50.12", "secretsmanager", "secretsmanager"},
	{"sns", "v1.48.0", "sns", "sns"},
	{"sqs", "v1.53.0", "sqs", "sqs"},
	{"ssm", "v1.82.1", "ssm", "ssm"},
	{"sts", "v1.52.0", "sts", "sts"},
}

// member is one input member on the wire: wire is the label, query key,
// header or body key; field the SDK's Go field name.
type member struct {
	wire, field string
	secret      bool // sensitive in the model (or, without a model, by name)
}

type operation struct {
	name     string
	method   string
	path     string
	query    string   // static query literals of the template, x-id removed
	reqQuery []string // query keys bound to required members
	reqHead  []string // headers bound to required members (canonical form)
	multi    []string // query keys bound to list members, which may repeat
	labels   []member
	queries  []member
	body     []member // JSON body (json, restjson) or top-level form keys (query, ec2query)
}

type table struct {
	service
	module    string
	signing   string
	protocol  string
	target    string
	queryComp bool
	apiVer    string
	ops       []operation
}

func main() {
	out := flag.String("out", "zz_generated_ops.go", "file to write")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	var tables []table
	for _, s := range services {
		dir, err := moduleDir(sdk + s.name + "@" + s.version)
		if err != nil {
			log.Fatal(err)
		}
		t, err := read(s, dir)
		if err != nil {
			log.Fatalf("%s@%s: %v", s.name, s.version, err)
		}
		tables = append(tables, t)
	}
	src, err := render(tables)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// moduleDir asks the go command for the module's directory in the module
// cache, downloading it if need be. It runs outside any module so that no
// go.mod or go.sum is read or written.
func moduleDir(mod string) (string, error) {
	dir, err := os.MkdirTemp("", "awsapi-gen-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(outb, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("download %s: %s", mod, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %v: %s", mod, err, stderr.String())
	}
	if info.Dir == "" {
		return "", fmt.Errorf("download %s: no Dir in %s", mod, outb)
	}
	return info.Dir, nil
}

func read(s service, dir string) (table, error) {
	t := table{service: s, module: sdk + s.name + "@" + s.version}
	fset := token.NewFileSet()
	parse := func(name string) (*ast.File, error) {
		return parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
	}
	var err error
	if t.signing, err = signingName(dir); err != nil {
		return t, err
	}
	endpoints, err := os.ReadFile(filepath.Join(dir, "endpoints.go"))
	if err != nil {
		return t, err
	}
	if !bytes.Contains(endpoints, []byte(`"https://`+s.host+`."`)) && !bytes.Contains(endpoints, []byte(`"`+s.host+`"`)) {
		return t, fmt.Errorf("endpoint host %q not in endpoints.go", s.host)
	}
	val, err := parse("validators.go")
	if err != nil {
		return t, err
	}
	required := requiredFields(val)
	opFiles, err := filepath.Glob(filepath.Join(dir, "api_op_*.go"))
	if err != nil {
		return t, err
	}
	sort.Strings(opFiles)
	var ops []*ast.File
	for _, f := range opFiles {
		af, err := parse(filepath.Base(f))
		if err != nil {
			return t, err
		}
		ops = append(ops, af)
	}
	if _, err := os.Stat(filepath.Join(dir, "serializers.go")); err == nil {
		ser, err := parse("serializers.go")
		if err != nil {
			return t, err
		}
		err = readSerializers(&t, ser, ops, required)
		if err != nil {
			return t, err
		}
	} else {
		sch, err := parse("schemas/schemas.go")
		if err != nil {
			return t, err
		}
		client, err := parse("api_client.go")
		if err != nil {
			return t, err
		}
		if err := readSchemas(&t, sch, client, ops, required); err != nil {
			return t, err
		}
	}
	sort.Slice(t.ops, func(i, j int) bool { return t.ops[i].name < t.ops[j].name })
	for i := range t.ops {
		o := &t.ops[i]
		for _, l := range []*[]member{&o.labels, &o.queries, &o.body} {
			sort.Slice(*l, func(i, j int) bool { return (*l)[i].wire < (*l)[j].wire })
		}
		sort.Strings(o.reqQuery)
		sort.Strings(o.reqHead)
		sort.Strings(o.multi)
	}
	return t, nil
}

var signingRE = regexp.MustCompile(`SetSigV4SigningName\(&props, "([^"]+)"\)`)

func signingName(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "auth.go"))
	if err != nil {
		return "", err
	}
	names := map[string]bool{}
	for _, m := range signingRE.FindAllSubmatch(b, -1) {
		names[string(m[1])] = true
	}
	if len(names) != 1 {
		return "", fmt.Errorf("auth.go: want one SigV4 signing name, found %v", names)
	}
	for n := range names {
		return n, nil
	}
	return "", nil
}

// requiredFields maps an input type name to its required Go fields, from
// validateOp<Input> functions: `if v.X == nil { ...NewErrParamRequired }`.
func requiredFields(f *ast.File) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "validateOp") || fd.Body == nil {
			continue
		}
		input := strings.TrimPrefix(fd.Name.Name, "validateOp")
		fields := map[string]bool{}
		for _, st := range fd.Body.List {
			is, ok := st.(*ast.IfStmt)
			if !ok || !mentions(is.Body, "NewErrParamRequired") {
				continue
			}
			if f := vField(is.Cond); f != "" {
				fields[f] = true
			}
		}
		out[input] = fields
	}
	return out
}

// vField returns X for the first selector v.X (or in.X) in an expression.
func vField(e ast.Node) string {
	var name string
	ast.Inspect(e, func(n ast.Node) bool {
		if name != "" {
			return false
		}
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "v" || id.Name == "in") {
				name = sel.Sel.Name
				return false
			}
		}
		return true
	})
	return name
}

func mentions(n ast.Node, ident string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == ident {
			found = true
		}
		return !found
	})
	return found
}

// calls lists the calls in n whose function is a selector named one of
// names, with their first argument.
func calls(n ast.Node, visit func(name string, call *ast.CallExpr)) {
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
				visit(sel.Sel.Name, c)
			}
		}
		return true
	})
}

func strLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// clientOps lists the operations the client has: methods
// func (c *Client) Op(ctx, params *OpInput, ...).
func clientOps(files []*ast.File) []string {
	var names []string
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 || !fd.Name.IsExported() {
				continue
			}
			st, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if id, ok := st.X.(*ast.Ident); !ok || id.Name != "Client" {
				continue
			}
			if fd.Type.Params.NumFields() < 2 {
				continue
			}
			names = append(names, fd.Name.Name)
		}
	}
	sort.Strings(names)
	return names
}

// secretName stands in for the model's sensitive trait where the module
// carries no model (serializer modules): members whose names say they hold
// a secret never reach Params.
var secretName = regexp.MustCompile(`(?i)(password|secret(string|binary|accesskey|key)?$|privatekey|plaintext|userdata|ssecustomerkey|sessiontoken|authtoken|tokencode|keymaterial|credentials?$)`)

// authMaterial are members that carry one-time auth codes although the
// models do not mark them sensitive (STS's MFA TokenCode).
var authMaterial = map[string]bool{"TokenCode": true, "OneTimePassword": true}

// ---- serializer modules ----

var serPrefix = map[string]string{
	"awsRestxml_":   "restxml",
	"awsRestjson1_": "restjson",
	"awsAwsjson10_": "json",
	"awsAwsjson11_": "json",
	"awsAwsquery_":  "query",
	"awsEc2query_":  "ec2query",
}

func readSerializers(t *table, ser *ast.File, opFiles []*ast.File, required map[string]map[string]bool) error {
	funcs := map[string]*ast.FuncDecl{}
	var prefix string
	for _, d := range ser.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && name == "HandleSerialize" {
			st, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			id, ok := st.X.(*ast.Ident)
			if !ok {
				continue
			}
			name = id.Name
		}
		funcs[name] = fd
		if prefix == "" {
			for p := range serPrefix {
				if strings.HasPrefix(name, p) {
					prefix = p
				}
			}
		}
	}
	if prefix == "" {
		return errors.New("serializers.go: unknown protocol")
	}
	t.protocol = serPrefix[prefix]
	bucketOps := s3BucketOps(opFiles)
	for _, name := range clientOps(opFiles) {
		hs := funcs[prefix+"serializeOp"+name]
		if hs == nil {
			return fmt.Errorf("no serializer for %s", name)
		}
		o := operation{name: name}
		input := name + "Input"
		req := required[input]
		var actionMismatch error
		calls(hs.Body, func(fn string, c *ast.CallExpr) {
			switch fn {
			case "SplitURI":
				if s, ok := strLit(c.Args[0]); ok {
					o.path, o.query = splitTemplate(s)
				}
			case "String":
				// body.Key("Action").String("Op") and Version.
				if k, ok := c.Fun.(*ast.SelectorExpr).X.(*ast.CallExpr); ok && len(k.Args) == 1 && len(c.Args) == 1 {
					key, _ := strLit(k.Args[0])
					val, _ := strLit(c.Args[0])
					switch key {
					case "Action":
						if val != name {
							actionMismatch = fmt.Errorf("%s: Action %q", name, val)
						}
					case "Version":
						t.apiVer = val
					case "X-Amz-Target":
						if p, _, ok := strings.Cut(val, "."); ok {
							t.target = p
						}
					}
				}
			}
		})
		ast.Inspect(hs.Body, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
				if sel, ok := as.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Method" {
					o.method, _ = strLit(as.Rhs[0])
				}
			}
			return true
		})
		if actionMismatch != nil {
			return actionMismatch
		}
		if t.protocol == "restxml" || t.protocol == "restjson" {
			if o.method == "" || o.path == "" {
				return fmt.Errorf("%s: no method or URI", name)
			}
			if t.name == "s3" && bucketOps[name] {
				// The SDK leaves the bucket out of S3's URIs and adds it
				// through endpoint resolution (path or virtual host);
				// the wire template has it first.
				o.path = "/{Bucket}" + strings.TrimSuffix(o.path, "/")
				o.labels = append(o.labels, member{wire: "Bucket", field: "Bucket"})
			}
		} else {
			o.method, o.path = "", ""
		}
		if hb := funcs[prefix+"serializeOpHttpBindings"+input]; hb != nil {
			for _, st := range hb.Body.List {
				is, ok := st.(*ast.IfStmt)
				if !ok {
					continue
				}
				field := vField(is.Cond)
				if field == "" {
					continue
				}
				locals := map[string]string{}
				ast.Inspect(is.Body, func(n ast.Node) bool {
					if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
						if id, ok := as.Lhs[0].(*ast.Ident); ok {
							if s, ok := strLit(as.Rhs[0]); ok {
								locals[id.Name] = s
							}
						}
					}
					return true
				})
				secret := secretName.MatchString(field)
				calls(is.Body, func(fn string, c *ast.CallExpr) {
					if len(c.Args) != 1 {
						return
					}
					arg, ok := strLit(c.Args[0])
					if !ok {
						if id, isID := c.Args[0].(*ast.Ident); isID {
							arg, ok = locals[id.Name]
						}
					}
					if !ok {
						return
					}
					switch fn {
					case "SetURI":
						o.labels = append(o.labels, member{wire: arg, field: field, secret: secret})
					case "SetQuery", "AddQuery":
						o.queries = appendOnce(o.queries, member{wire: arg, field: field, secret: secret})
						if fn == "AddQuery" {
							o.multi = appendStr(o.multi, arg)
						}
						if req[field] {
							o.reqQuery = appendStr(o.reqQuery, arg)
						}
					case "SetHeader", "AddHeader":
						if req[field] {
							o.reqHead = appendStr(o.reqHead, canonicalHeader(arg))
						}
					}
				})
			}
		}
		if doc := funcs[prefix+"serializeOpDocument"+input]; doc != nil && t.protocol != "restxml" {
			for _, st := range doc.Body.List {
				is, ok := st.(*ast.IfStmt)
				if !ok {
					continue
				}
				field := vField(is.Cond)
				if field == "" {
					continue
				}
				calls(is.Body, func(fn string, c *ast.CallExpr) {
					if (fn == "Key" || fn == "FlatKey") && len(c.Args) == 1 {
						if s, ok := strLit(c.Args[0]); ok {
							if x, ok := c.Fun.(*ast.SelectorExpr).X.(*ast.Ident); ok && x.Name == "object" {
								o.body = appendOnce(o.body, member{wire: s, field: field, secret: secretName.MatchString(field)})
							}
						}
					}
				})
			}
		}
		t.ops = append(t.ops, o)
	}
	if (t.protocol == "query" || t.protocol == "ec2query") && t.apiVer == "" {
		return errors.New("no query Version")
	}
	return nil
}

// s3BucketOps lists the operations whose input binds Bucket as an endpoint
// parameter (p.Bucket = in.Bucket).
func s3BucketOps(files []*ast.File) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != "bindEndpointParams" || fd.Recv == nil {
				continue
			}
			st, _ := fd.Recv.List[0].Type.(*ast.StarExpr)
			id, _ := st.X.(*ast.Ident)
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 {
					if sel, ok := as.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Bucket" {
						if r, ok := as.Rhs[0].(*ast.SelectorExpr); ok && r.Sel.Name == "Bucket" {
							out[strings.TrimSuffix(id.Name, "Input")] = true
						}
					}
				}
				return true
			})
		}
	}
	return out
}

// ---- schema modules ----

type shape struct {
	name   string
	kind   string                       // smithy.ShapeType…: "ShapeTypeList"
	traits map[string]map[string]string // trait type → fields
	refs   []string                     // member targets (vars)
	member map[string]string            // member var → member name (structs)
}

type schemaMember struct {
	name, target, varName string
	traits                map[string]map[string]string
}

func readSchemas(t *table, sch, client *ast.File, opFiles []*ast.File, required map[string]map[string]bool) error {
	shapes := map[string]*shape{}
	services := map[string][2]string{} // var → shape var, version
	members := map[string][]schemaMember{}
	for _, d := range sch.Decls {
		gd, ok := d.(*ast.GenDecl)
		if ok && gd.Tok == token.VAR {
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				if len(vs.Values) != 1 {
					continue
				}
				c, ok := vs.Values[0].(*ast.CallExpr)
				if !ok {
					continue
				}
				sel, ok := c.Fun.(*ast.SelectorExpr)
				if !ok {
					continue
				}
				v := vs.Names[0].Name
				switch sel.Sel.Name {
				case "NewSchema":
					s := &shape{traits: map[string]map[string]string{}}
					if cl, ok := c.Args[0].(*ast.CompositeLit); ok {
						s.name = kv(cl)["Name"]
					}
					if k, ok := c.Args[1].(*ast.SelectorExpr); ok {
						s.kind = k.Sel.Name
					}
					for _, a := range c.Args[3:] {
						name, fields := trait(a)
						if name != "" {
							s.traits[name] = fields
						}
					}
					shapes[v] = s
				case "NewServiceSchema":
					id, _ := c.Args[0].(*ast.Ident)
					ver, _ := strLit(c.Args[1])
					if id != nil {
						services[v] = [2]string{id.Name, ver}
					}
				}
			}
		}
		fd, ok := d.(*ast.FuncDecl)
		if ok && fd.Name.Name == "init" && fd.Recv == nil {
			for _, st := range fd.Body.List {
				as, ok := st.(*ast.AssignStmt)
				if !ok || len(as.Rhs) != 1 {
					continue
				}
				c, ok := as.Rhs[0].(*ast.CallExpr)
				if !ok {
					continue
				}
				sel, ok := c.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "AddMember" || len(c.Args) < 2 {
					continue
				}
				owner, _ := sel.X.(*ast.Ident)
				lhs, _ := as.Lhs[0].(*ast.Ident)
				name, _ := strLit(c.Args[0])
				if owner == nil || lhs == nil {
					continue
				}
				m := schemaMember{name: name, varName: lhs.Name, target: exprName(c.Args[1]), traits: map[string]map[string]string{}}
				for _, a := range c.Args[2:] {
					tn, fields := trait(a)
					if tn != "" {
						m.traits[tn] = fields
					}
				}
				members[owner.Name] = append(members[owner.Name], m)
			}
		}
	}
	// Protocol and service shape: options.Protocol = pkg.NewX(schemas.Svc).
	calls(client, func(fn string, c *ast.CallExpr) {
		pkg, ok := c.Fun.(*ast.SelectorExpr).X.(*ast.Ident)
		if !ok || len(c.Args) < 1 {
			return
		}
		arg, ok := c.Args[0].(*ast.SelectorExpr)
		if !ok {
			return
		}
		proto := map[string]string{"restjson1": "restjson", "awsjson": "json", "awsquery": "query", "ec2query": "ec2query", "restxml": "restxml", "rpcv2": "rpcv2cbor"}[pkg.Name]
		if proto == "" {
			return
		}
		svc, ok := services[arg.Sel.Name]
		if !ok {
			return
		}
		t.protocol = proto
		t.apiVer = svc[1]
		if s := shapes[svc[0]]; s != nil {
			if proto == "json" {
				t.target = s.name
			}
			_, t.queryComp = s.traits["AWSQueryCompatible"]
		}
	})
	if t.protocol == "" {
		return errors.New("api_client.go: no protocol")
	}
	// Transitive sensitivity: a member is secret if its target, or
	// anything the target holds, is sensitive.
	memo := map[string]int{} // 0 unknown, 1 visiting, 2 clean, 3 secret
	var secret func(v string) bool
	secret = func(v string) bool {
		switch memo[v] {
		case 1, 2:
			return false
		case 3:
			return true
		}
		memo[v] = 1
		s := shapes[v]
		out := s != nil && s.traits["Sensitive"] != nil
		for _, m := range members[v] {
			if m.traits["Sensitive"] != nil || secret(m.target) {
				out = true
			}
		}
		memo[v] = 2
		if out {
			memo[v] = 3
		}
		return out
	}
	for _, name := range clientOps(opFiles) {
		opVar, inVar, fields := opSchema(opFiles, name)
		if opVar == "" {
			return fmt.Errorf("%s: no NewOperationSchema", name)
		}
		opShape := shapes[opVar]
		if opShape == nil {
			return fmt.Errorf("%s: no schema %s", name, opVar)
		}
		o := operation{name: name}
		if h := opShape.traits["HTTP"]; h != nil && (t.protocol == "restjson" || t.protocol == "restxml") {
			o.method = h["Method"]
			o.path, o.query = splitTemplate(h["URI"])
		}
		if (t.protocol == "restjson" || t.protocol == "restxml") && (o.method == "" || o.path == "") {
			return fmt.Errorf("%s: no HTTP trait", name)
		}
		req := required[name+"Input"]
		for _, m := range members[inVar] {
			field := fields[m.varName]
			if field == "" {
				// not serialized by the SDK (never sent)
				continue
			}
			sec := m.traits["Sensitive"] != nil || secret(m.target) || authMaterial[field]
			switch {
			case m.traits["HTTPLabel"] != nil:
				o.labels = append(o.labels, member{wire: m.name, field: field, secret: sec})
			case m.traits["HTTPQuery"] != nil:
				q := m.traits["HTTPQuery"]["Name"]
				o.queries = append(o.queries, member{wire: q, field: field, secret: sec})
				if t := shapes[m.target]; t != nil && (t.kind == "ShapeTypeList" || t.kind == "ShapeTypeSet") {
					o.multi = appendStr(o.multi, q)
				}
				if req[field] {
					o.reqQuery = appendStr(o.reqQuery, q)
				}
			case m.traits["HTTPHeader"] != nil:
				if req[field] {
					o.reqHead = appendStr(o.reqHead, canonicalHeader(m.traits["HTTPHeader"]["Name"]))
				}
			case m.traits["HTTPPayload"] != nil, m.traits["HTTPPrefixHeaders"] != nil, m.traits["HTTPQueryParams"] != nil, m.traits["HTTPResponseCode"] != nil:
			default:
				if sec {
					continue
				}
				wire := m.name
				switch t.protocol {
				case "restjson":
					if j := m.traits["JSONName"]; j != nil {
						wire = j["Name"]
					}
				case "query":
					if x := m.traits["XMLName"]; x != nil {
						wire = x["Name"]
					}
				case "ec2query":
					if x := m.traits["EC2QueryName"]; x != nil {
						wire = x["Name"]
					}
				case "restxml":
					continue
				}
				o.body = append(o.body, member{wire: wire, field: field})
			}
		}
		t.ops = append(t.ops, o)
	}
	return nil
}

// opSchema finds, in the operation's api_op file, the operation and input
// schema vars and the input's member var → Go field map from its
// SerializeMembers method.
func opSchema(files []*ast.File, name string) (opVar, inVar string, fields map[string]string) {
	fields = map[string]string{}
	for _, f := range files {
		if !definesMethod(f, name) {
			continue
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if fd.Recv != nil && fd.Name.Name == "SerializeMembers" {
				st, _ := fd.Recv.List[0].Type.(*ast.StarExpr)
				if id, _ := st.X.(*ast.Ident); id == nil || id.Name != name+"Input" {
					continue
				}
				for _, s := range fd.Body.List {
					is, ok := s.(*ast.IfStmt)
					if !ok {
						continue
					}
					field := vField(is.Cond)
					ast.Inspect(is.Body, func(n ast.Node) bool {
						if sel, ok := n.(*ast.SelectorExpr); ok {
							if x, ok := sel.X.(*ast.Ident); ok && x.Name == "schemas" && field != "" {
								fields[sel.Sel.Name] = field
								return false
							}
						}
						return true
					})
				}
				continue
			}
			calls(fd, func(fn string, c *ast.CallExpr) {
				if fn == "NewOperationSchema" && len(c.Args) >= 2 && opVar == "" {
					opVar, inVar = exprName(c.Args[0]), exprName(c.Args[1])
				}
			})
		}
		return opVar, inVar, fields
	}
	return "", "", fields
}

func definesMethod(f *ast.File, name string) bool {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && fd.Name.Name == name {
			if st, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
				if id, ok := st.X.(*ast.Ident); ok && id.Name == "Client" {
					return true
				}
			}
		}
	}
	return false
}

func exprName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		// schemas.X in api_op files; other packages' shapes (the
		// prelude's strings) are named with their package.
		if p, ok := x.X.(*ast.Ident); ok {
			if p.Name == "schemas" {
				return x.Sel.Name
			}
			return p.Name + "." + x.Sel.Name
		}
	}
	return ""
}

// trait reads &smithytraits.Name{Field: "lit", ...}.
func trait(e ast.Expr) (string, map[string]string) {
	u, ok := e.(*ast.UnaryExpr)
	if !ok {
		return "", nil
	}
	cl, ok := u.X.(*ast.CompositeLit)
	if !ok {
		return "", nil
	}
	sel, ok := cl.Type.(*ast.SelectorExpr)
	if !ok {
		return "", nil
	}
	return sel.Sel.Name, kv(cl)
}

func kv(cl *ast.CompositeLit) map[string]string {
	out := map[string]string{}
	for _, el := range cl.Elts {
		p, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		k, _ := p.Key.(*ast.Ident)
		if k == nil {
			continue
		}
		switch v := p.Value.(type) {
		case *ast.BasicLit:
			if s, ok := strLit(v); ok {
				out[k.Name] = s
			} else {
				out[k.Name] = v.Value
			}
		}
	}
	return out
}

// splitTemplate separates a URI template's path from its static query,
// dropping x-id: the Go SDK adds x-id=<Operation> to tell otherwise equal
// S3 templates apart, other clients do not send it and S3 ignores it, so
// matching must never depend on it.
func splitTemplate(uri string) (path, query string) {
	path, q, _ := strings.Cut(uri, "?")
	var keep []string
	for _, kv := range strings.Split(q, "&") {
		if kv == "" || strings.HasPrefix(kv, "x-id=") {
			continue
		}
		keep = append(keep, kv)
	}
	sort.Strings(keep)
	return path, strings.Join(keep, "&")
}

func canonicalHeader(h string) string { return strings.ToLower(h) }

func appendOnce(ms []member, m member) []member {
	for _, x := range ms {
		if x.wire == m.wire {
			return ms
		}
	}
	return append(ms, m)
}

func appendStr(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// ---- output ----

func render(tables []table) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/gen from the aws-sdk-go-v2 service modules; DO NOT EDIT.\n\n")
	b.WriteString("package awsapi\n\n")
	b.WriteString("// Operations per service:\n")
	for _, t := range tables {
		fmt.Fprintf(&b, "//   %-16s %4d  %s\n", t.name, len(t.ops), t.module)
	}
	b.WriteString("\nvar services = [...]serviceTable{\n")
	for _, t := range tables {
		if err := checkAmbiguity(t); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "{name: %q, module: %q, signing: %q, iam: %q, host: %q, protocol: %q, target: %q, queryCompatible: %v, version: %q, ops: []op{\n",
			t.name, t.module, t.signing, t.iam, t.host, t.protocol, t.target, t.queryComp, t.apiVer)
		for _, o := range t.ops {
			fmt.Fprintf(&b, "{name: %q", o.name)
			if o.method != "" {
				fmt.Fprintf(&b, ", method: %q, path: %q", o.method, o.path)
			}
			if o.query != "" {
				fmt.Fprintf(&b, ", query: %q", o.query)
			}
			if len(o.reqQuery) > 0 {
				fmt.Fprintf(&b, ", reqQuery: %#v", o.reqQuery)
			}
			if len(o.reqHead) > 0 {
				fmt.Fprintf(&b, ", reqHeader: %#v", o.reqHead)
			}
			if len(o.multi) > 0 {
				fmt.Fprintf(&b, ", multi: %#v", o.multi)
			}
			writeMembers(&b, "labels", o.labels)
			writeMembers(&b, "queries", o.queries)
			writeMembers(&b, "body", o.body)
			b.WriteString("},\n")
		}
		b.WriteString("}},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format: %w\n%s", err, b.Bytes())
	}
	return src, nil
}

func writeMembers(b *bytes.Buffer, name string, ms []member) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintf(b, ", %s: []member{", name)
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		if m.secret {
			fmt.Fprintf(b, "{%q, %q, true}", m.wire, m.field)
		} else {
			fmt.Fprintf(b, "{%q, %q, false}", m.wire, m.field)
		}
	}
	b.WriteString("}")
}

// sameTemplate lists the pairs known to share a template; the matcher
// resolves them by endpoint (ListDirectoryBuckets is served only by
// s3express-control).
var sameTemplate = map[string]bool{
	"s3:ListBuckets:ListDirectoryBuckets": true,
}

// checkAmbiguity refuses two REST operations that no request could tell
// apart: same method, path shape and constraints.
func checkAmbiguity(t table) error {
	seen := map[string]string{}
	for _, o := range t.ops {
		if o.method == "" {
			continue
		}
		shape := regexp.MustCompile(`\{[^}+]+\}`).ReplaceAllString(o.path, "{}")
		key := strings.Join([]string{o.method, shape, o.query, strings.Join(o.reqQuery, ","), strings.Join(o.reqHead, ",")}, " ")
		if prev, ok := seen[key]; ok && !sameTemplate[t.name+":"+prev+":"+o.name] {
			return fmt.Errorf("%s: %s and %s have the same template %s", t.name, prev, o.name, key)
		}
		seen[key] = o.name
	}
	return nil
}
