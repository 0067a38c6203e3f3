package mask

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func benchText() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"the", "quick", "brown", "fox", "4111", "2024-01-15", "a@b", "eyJ", "AKIA", "-----", "1234567890", "Secret", "key=", "\n", "user@example.com", "ZmFrZQ=="}
	var b bytes.Buffer
	for b.Len() < 1<<20 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()
}

func BenchmarkDetectors(b *testing.B) {
	text := benchText()
	for _, d := range []Detector{AccessKeyID(), SecretAccessKey(), PrivateKey(), JWT(), Email(), Card(), SSN()} {
		b.Run(d.Name(), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				d.Find(text)
			}
		})
	}
}

func BenchmarkJSONDynamoDBScan(b *testing.B) {
	var doc bytes.Buffer
	doc.WriteString(`{"Count":1000,"Items":[`)
	for i := range 1000 {
		if i > 0 {
			doc.WriteByte(',')
		}
		doc.WriteString(`{"id":{"S":"user-0001"},"ssn":{"S":"123-45-6789"},"email":{"S":"bob@example.com"},"n":{"N":"12.5"},"tags":{"L":[{"S":"a"},{"S":"b"}]}}`)
	}
	doc.WriteString(`],"ScannedCount":1000}`)
	m := Default().For("dynamodb:Scan")
	m.Fields = append(m.Fields, rule("pii", "Items[*].ssn"))
	m.Detectors = append(m.Detectors, Email())
	b.SetBytes(int64(doc.Len()))
	for b.Loop() {
		if _, _, err := m.JSON(doc.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDetectorsLog: each built-in detector's Find over 64 KiB of the
// stream benchmark's log lines (digits, dashes and a value to mask in
// every few lines), without the stream around it.
func BenchmarkDetectorsLog(b *testing.B) {
	text := stBenchText()
	for _, d := range []Detector{AccessKeyID(), SecretAccessKey(), PrivateKey(), JWT(), Email(), Card(), SSN()} {
		b.Run(d.Name(), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				d.Find(text)
			}
		})
	}
}
