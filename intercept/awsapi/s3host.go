package awsapi

import "strings"

type s3Kind int

const (
	s3Path        s3Kind = iota // path style: the bucket is the first path segment
	s3Virtual                   // bucket.s3.region.amazonaws.com
	s3AccessPoint               // name-account.s3-accesspoint.region.amazonaws.com
	s3Other                     // s3-control, s3-outposts: not the S3 object API
)

// s3Host is what an S3 endpoint name says about the request.
type s3Host struct {
	kind    s3Kind
	bucket  string // virtual host: the bucket; access point: its name
	account string // access point: its owner
	lambda  bool   // an Object Lambda access point
	express bool   // s3express-control (directory buckets' control endpoint)
}

// parseS3Host reads an S3 endpoint name: the rightmost label that names
// S3 ("s3", "s3-<region>", "s3-accelerate", "s3express-<zone>", ...) has
// the bucket before it (bucket names may themselves contain dots, even
// "s3"). Hosts that are not AWS names are path style.
func parseS3Host(host string) s3Host {
	rest, ok := strings.CutSuffix(host, ".amazonaws.com")
	if !ok {
		rest, ok = strings.CutSuffix(host, ".amazonaws.com.cn")
	}
	if !ok {
		return s3Host{kind: s3Path}
	}
	i := len(rest)
	for i > 0 {
		j := strings.LastIndexByte(rest[:i], '.') + 1
		l := rest[j:i]
		if l == "s3" || strings.HasPrefix(l, "s3-") || strings.HasPrefix(l, "s3express-") {
			before := ""
			if j > 0 {
				before = rest[:j-1]
			}
			switch {
			case l == "s3-control" || l == "s3-outposts" || strings.HasPrefix(l, "s3-outposts"):
				return s3Host{kind: s3Other}
			case l == "s3express-control":
				return s3Host{kind: s3Path, express: true}
			case l == "s3-accesspoint" || l == "s3-object-lambda":
				if before == "" {
					return s3Host{kind: s3Path}
				}
				k := strings.LastIndexByte(before, '-')
				if k <= 0 {
					return s3Host{kind: s3Other}
				}
				return s3Host{kind: s3AccessPoint, bucket: before[:k], account: before[k+1:], lambda: l == "s3-object-lambda"}
			}
			if before == "" {
				return s3Host{kind: s3Path}
			}
			return s3Host{kind: s3Virtual, bucket: before}
		}
		i = j - 1
	}
	return s3Host{kind: s3Path}
}
