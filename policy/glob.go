package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// glob is a wildcard pattern compiled once at load: '*' matches any run of
// characters, none included, across '/' and ':' (as in IAM); '?' matches
// exactly one character. There are no escapes and no character classes.
// The common shapes (any, exact, prefix*, *suffix, *inner*) skip the
// general matcher; nothing on the matching path allocates.
type glob struct {
	src  string // as written, for explanations
	pat  string // lower-cased (ASCII) when fold
	kind globKind
	lit  string // the literal part of the exact, prefix, suffix and inner kinds
	fold bool   // ASCII case-insensitive, as IAM compares action names
}

type globKind uint8

const (
	globAny     globKind = iota // *
	globExact                   // lit
	globPrefix                  // lit*
	globSuffix                  // *lit
	globInner                   // *lit*
	globGeneral                 // anything else
)

func compileGlob(pat string, fold bool) glob {
	src := pat
	if fold {
		pat = lowerASCII(pat)
	}
	g := glob{src: src, pat: pat, kind: globGeneral, fold: fold}
	inner := strings.Trim(pat, "*")
	if strings.ContainsRune(inner, '*') || strings.ContainsRune(pat, '?') {
		return g
	}
	lead, trail := strings.HasPrefix(pat, "*"), strings.HasSuffix(pat, "*")
	switch {
	case inner == "":
		if pat == "" {
			g.kind, g.lit = globExact, ""
		} else {
			g.kind = globAny
		}
	case lead && trail:
		g.kind, g.lit = globInner, inner
	case lead:
		g.kind, g.lit = globSuffix, inner
	case trail:
		g.kind, g.lit = globPrefix, inner
	default:
		g.kind, g.lit = globExact, inner
	}
	return g
}

func (g *glob) match(s string) bool {
	switch g.kind {
	case globAny:
		return true
	case globExact:
		return len(s) == len(g.lit) && hasPrefixFold(s, g.lit, g.fold)
	case globPrefix:
		return hasPrefixFold(s, g.lit, g.fold)
	case globSuffix:
		return len(s) >= len(g.lit) && hasPrefixFold(s[len(s)-len(g.lit):], g.lit, g.fold)
	case globInner:
		if !g.fold {
			return strings.Contains(s, g.lit)
		}
		for i := 0; i+len(g.lit) <= len(s); i++ {
			if hasPrefixFold(s[i:], g.lit, true) {
				return true
			}
		}
		return false
	}
	return wildMatch(g.pat, s, g.fold)
}

func (g *glob) String() string { return g.src }

// wildMatch is the general matcher: linear backtracking to the last '*',
// which is enough because a later '*' subsumes what an earlier one could
// have matched. '?' takes one UTF-8 character (one byte when invalid).
func wildMatch(p, s string, fold bool) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, n := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += n
					continue
				}
			default:
				if sx < len(s) && (s[sx] == c || fold && lowerByte(s[sx]) == c) {
					px++
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			// Let the last '*' swallow one more character and retry.
			_, n := utf8.DecodeRuneInString(s[starSx:])
			starSx += n
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// hasPrefixFold reports whether s starts with lit, which is lower-case
// already when fold.
func hasPrefixFold(s, lit string, fold bool) bool {
	if len(s) < len(lit) {
		return false
	}
	if !fold {
		return s[:len(lit)] == lit
	}
	for i := 0; i < len(lit); i++ {
		if lowerByte(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerASCII lower-cases ASCII letters only, as IAM folds action names; it
// returns s itself when there is nothing to change.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

// Pattern checks. Each returns why a pattern is refused, for an error
// that names the file position.

var errEmptyPattern = errors.New("empty pattern")

// checkActionPattern accepts "*" or "<service>:<name>", either part a glob.
func checkActionPattern(p string) error {
	if p == "" {
		return errEmptyPattern
	}
	if p == "*" {
		return nil
	}
	svc, name, ok := strings.Cut(p, ":")
	if !ok || svc == "" || name == "" || strings.Contains(name, ":") {
		return fmt.Errorf("action pattern %q: want <service>:<action> (\"s3:Get*\") or \"*\"", p)
	}
	for i := 0; i < len(svc); i++ {
		if c := svc[i]; !(isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '*' || c == '?') {
			return fmt.Errorf("action pattern %q: character %q not allowed in a service prefix", p, rune(c))
		}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(isAlnum(c) || c == '*' || c == '?') {
			return fmt.Errorf("action pattern %q: character %q not allowed in an action name (globs take * and ? only)", p, rune(c))
		}
	}
	return nil
}

// checkResourcePattern accepts "*" or an ARN glob.
func checkResourcePattern(p string) error {
	if p == "" {
		return errEmptyPattern
	}
	if p == "*" {
		return nil
	}
	if !strings.HasPrefix(p, "arn:") {
		return fmt.Errorf("resource pattern %q: want an ARN (\"arn:aws:s3:::bucket/*\") or \"*\"", p)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("resource pattern %q: not valid UTF-8", p)
	}
	for _, r := range p {
		switch {
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("resource pattern %q: white space or control character", p)
		case strings.ContainsRune("[]{}", r):
			return fmt.Errorf("resource pattern %q: %q is not glob syntax here (globs take * and ? only)", p, r)
		}
	}
	return nil
}

func checkRegionPattern(p string) error {
	if p == "" {
		return errEmptyPattern
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(isAlnum(c) || c == '-' || c == '*' || c == '?') {
			return fmt.Errorf("region pattern %q: character %q not allowed (\"us-east-1\", \"eu-*\")", p, rune(c))
		}
	}
	return nil
}

// checkNamePattern checks subjects, groups and issuers, which are free
// text from the identity provider (spaces included).
func checkNamePattern(p string) error {
	if p == "" {
		return errEmptyPattern
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("pattern %q: not valid UTF-8", p)
	}
	for _, r := range p {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("pattern %q: control character", p)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
