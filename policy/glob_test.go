package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlobShapes(t *testing.T) {
	for _, tc := range []struct {
		pat  string
		kind globKind
		lit  string
	}{
		{"*", globAny, ""},
		{"**", globAny, ""},
		{"s3:getobject", globExact, "s3:getobject"},
		{"s3:get*", globPrefix, "s3:get"},
		{"*:get", globSuffix, ":get"},
		{"*prod*", globInner, "prod"},
		{"s3:get?bject", globGeneral, ""},
		{"arn:*:s3:::*/*", globGeneral, ""},
	} {
		g := compileGlob(tc.pat, false)
		if g.kind != tc.kind || g.kind != globGeneral && g.lit != tc.lit {
			t.Errorf("compileGlob(%q) = kind %d lit %q, want %d %q", tc.pat, g.kind, g.lit, tc.kind, tc.lit)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		fold   bool
		want   bool
	}{
		{"*", "", false, true},
		{"*", "anything/at:all", false, true},
		{"", "", false, true},
		{"", "x", false, false},
		{"abc", "abc", false, true},
		{"abc", "abcd", false, false},
		{"abc", "ABC", false, false},
		{"abc", "ABC", true, true},
		{"a?c", "abc", false, true},
		{"a?c", "ac", false, false},
		{"a?c", "abbc", false, false},
		{"a?c", "aéc", false, true}, // ? is one character, not one byte
		{"a??c", "aéc", false, false},
		{"a*", "a", false, true},
		{"*a", "ba", false, true},
		{"*a", "ab", false, false},
		{"*b*", "abc", false, true},
		{"*B*", "abc", true, true},
		{"*B*", "abc", false, false},
		{"a*b*c", "a/x/b/y/c", false, true},
		{"a*b*c", "a/x/b/y/d", false, false},
		{"a*b?c", "abbbbxc", false, true},
		{"*aab", "aaaab", false, true},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false, false},
		{"arn:aws:s3:::prod-*/*", "arn:aws:s3:::prod-x/a/b/c", false, true},
		{"arn:aws:s3:::prod-*/*", "arn:aws:s3:::prod-x", false, false},
		{"arn:aws:s3:::prod-*", "arn:aws:s3:::prod-x/a/b", false, true}, // * crosses '/', as in IAM
		{"s3:get*object", "S3:GetObject", true, true},
		{"s3:get*object", "S3:GetObjectAcl", true, false},
	} {
		g := compileGlob(tc.pat, tc.fold)
		if got := g.match(tc.s); got != tc.want {
			t.Errorf("glob %q (fold %v) match %q = %v, want %v", tc.pat, tc.fold, tc.s, got, tc.want)
		}
		if ref := refMatch(g.pat, tc.s, tc.fold); ref != tc.want && utf8.ValidString(tc.s) {
			t.Errorf("reference matcher disagrees with the table on %q %q", tc.pat, tc.s)
		}
	}
}

func TestGlobMatchDoesNotAllocate(t *testing.T) {
	gs := []glob{compileGlob("arn:aws:s3:::prod-*/*", false), compileGlob("s3:get*object", true), compileGlob("*PROD*", true), compileGlob("a?c*", false)}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range gs {
			gs[i].match("arn:aws:s3:::prod-data/some/key.json")
			gs[i].match("S3:GetObject")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per match", allocs)
	}
}

func TestPatternChecks(t *testing.T) {
	for _, tc := range []struct {
		check func(string) error
		pat   string
		ok    bool
	}{
		{checkActionPattern, "*", true},
		{checkActionPattern, "s3:*", true},
		{checkActionPattern, "*:Unknown", true},
		{checkActionPattern, "portal.sso:GetRoleCredentials", true},
		{checkActionPattern, "s3", false},
		{checkActionPattern, "s3:", false},
		{checkActionPattern, ":Get", false},
		{checkActionPattern, "s3:Get:Object", false},
		{checkActionPattern, "s3:Get Object", false},
		{checkActionPattern, "s3:(Get|Put)Object", false},
		{checkResourcePattern, "*", true},
		{checkResourcePattern, "arn:aws:s3:::b/*", true},
		{checkResourcePattern, "arn:aws:s3:::b/ünïcode?", true},
		{checkResourcePattern, "b/*", false},
		{checkResourcePattern, "arn:aws:s3:::b/{a,b}", false},
		{checkResourcePattern, "arn:aws:s3:::b /x", false},
		{checkResourcePattern, "arn:aws:s3:::\xff", false},
		{checkRegionPattern, "eu-*", true},
		{checkRegionPattern, "eu_west", false},
		{checkNamePattern, "Domain Admins", true},
		{checkNamePattern, "a\nb", false},
		{checkNamePattern, "", false},
	} {
		if err := tc.check(tc.pat); (err == nil) != tc.ok {
			t.Errorf("check %q: %v, want ok=%v", tc.pat, err, tc.ok)
		}
	}
}

// refMatch is the reference the fuzzer holds the matcher to: the glob
// turned into a regular expression, '*' as (?s:.*) and '?' as (?s:.), with
// ASCII case folding done up front.
func refMatch(pat, s string, fold bool) bool {
	if fold {
		pat, s = lowerASCII(pat), lowerASCII(s)
	}
	var re strings.Builder
	re.WriteString("^")
	for _, r := range pat {
		switch r {
		case '*':
			re.WriteString("(?s:.*)")
		case '?':
			re.WriteString("(?s:.)")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}
