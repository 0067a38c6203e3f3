package ca_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse/ca"
)

// What `gatehouse serve` does: load the CA, creating it on first run, and
// hand intercept a tls.Config that mints leaves per SNI.
func Example() {
	tmp, err := os.MkdirTemp("", "gatehouse-ca")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	a, created, err := ca.LoadOrInit(ca.Options{Dir: filepath.Join(tmp, "ca")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created)

	certs := ca.NewCache(a, ca.CacheOptions{})
	conf := &tls.Config{GetCertificate: certs.GetCertificate}
	_ = conf // intercept serves agents with this

	leaf, err := certs.Get("STS.amazonaws.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leaf for:", leaf.Leaf.DNSNames)

	_, err = certs.Get("example.com")
	fmt.Println("example.com refused:", errors.Is(err, ca.ErrNameNotPermitted))
	// Output:
	// created: true
	// leaf for: [sts.amazonaws.com]
	// example.com refused: true
}
