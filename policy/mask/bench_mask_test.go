package mask

import (
	"bytes"
	"fmt"
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
	benchFind(b, stBenchText())
}

// BenchmarkDetectorsJSON: the same over 64 KiB of CloudTrail-like JSON
// records (ids, ARNs, timestamps, UUIDs, a session token; nothing to
// mask but a key id in every record).
func BenchmarkDetectorsJSON(b *testing.B) {
	var t bytes.Buffer
	for i := 0; t.Len() < 64<<10; i++ {
		fmt.Fprintf(&t, `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEID%05d:session-%d",`+
			`"arn":"arn:aws:sts::123456789012:assumed-role/app-role/session-%d","accountId":"123456789012","accessKeyId":"ASIAEXAMPLE%09d",`+
			`"sessionContext":{"attributes":{"creationDate":"2026-11-26T08:%02d:%02dZ","mfaAuthenticated":"false"}}},`+
			`"eventTime":"2026-11-26T08:%02d:%02dZ","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1",`+
			`"sourceIPAddress":"203.0.113.%d","userAgent":"aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64",`+
			`"requestParameters":{"bucketName":"logs-%d","key":"app/2026/11/26/part-%05d.json.gz"},"responseElements":null,`+
			`"additionalEventData":{"bytesTransferredOut":%d,"x-amz-id-2":"FwoGZXIvYXdzEJr/%08xwEaDM+bQ2Fsa5ZXJlbnQ="},`+
			`"requestID":"%016X","eventID":"%08x-5e6f-7a8b-9c0d-1e2f3a4b5c6d","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"123456789012"}`+"\n",
			i, i, i, i, i/60%60, i%60, i/60%60, i%60, i%256, i%7, i, 1000+i*37, i*7919, i*104729, i*31)
	}
	benchFind(b, t.Bytes())
}

func benchFind(b *testing.B, text []byte) {
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
