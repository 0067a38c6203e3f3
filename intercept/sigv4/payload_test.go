package sigv4

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestVerifyPayload(t *testing.T) {
	body := payloadOf(100 << 10)
	cases := []struct {
		name    string
		body    []byte
		want    string
		reader  func(io.Reader) io.Reader
		wantErr string
	}{
		{name: "matching hash streams the body", body: body, want: sha256Hex(body)},
		{name: "upper-case hex matches", body: body, want: strings.ToUpper(sha256Hex(body))},
		{name: "one byte at a time", body: body, want: sha256Hex(body), reader: iotest.OneByteReader},
		{name: "data with EOF in the same read", body: []byte("abc"), want: sha256Hex([]byte("abc")), reader: iotest.DataErrReader},
		{name: "empty body", body: nil, want: sha256Hex(nil)},
		{name: "mismatch withholds the tail", body: body, want: sha256Hex([]byte("other")), wantErr: "XAmzContentSHA256Mismatch"},
		{name: "mismatch on a one-byte body emits nothing", body: []byte("x"), want: sha256Hex([]byte("y")), wantErr: "XAmzContentSHA256Mismatch"},
		{name: "mismatch on an empty body", body: nil, want: sha256Hex([]byte("y")), wantErr: "XAmzContentSHA256Mismatch"},
		{name: "declared value not a hash", body: body, want: "not-a-hash", wantErr: "XAmzContentSHA256Mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(c.body)
			if c.reader != nil {
				src = c.reader(src)
			}
			var out bytes.Buffer
			_, err := io.Copy(&out, VerifyPayload(src, c.want))
			if c.wantErr == "" {
				if err != nil || !bytes.Equal(out.Bytes(), c.body) {
					t.Fatalf("err %v, %d of %d bytes", err, out.Len(), len(c.body))
				}
				return
			}
			if errCode(err) != c.wantErr {
				t.Fatalf("err = %v, want %s", err, c.wantErr)
			}
			if out.Len() >= max(len(c.body), 1) || !bytes.HasPrefix(c.body, out.Bytes()) {
				t.Errorf("emitted %d of %d bytes: the complete body must never go out", out.Len(), len(c.body))
			}
		})
	}
}

func TestVerifyPayloadPassesReadErrorsOn(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := io.ReadAll(VerifyPayload(iotest.ErrReader(boom), sha256Hex(nil)))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestSpool(t *testing.T) {
	cases := []struct {
		name     string
		size     int
		max      int64
		onDisk   bool
		wantCode string
	}{
		{name: "small body stays in memory", size: 1000, max: 10 << 20},
		{name: "empty body", size: 0, max: 10 << 20},
		{name: "exactly 1 MiB stays in memory", size: 1 << 20, max: 10 << 20},
		{name: "larger body goes to a temp file", size: 3<<20 + 7, max: 10 << 20, onDisk: true},
		{name: "exactly the cap", size: 2 << 20, max: 2 << 20, onDisk: true},
		{name: "one byte over the cap", size: 2<<20 + 1, max: 2 << 20, wantCode: "EntityTooLarge"},
		{name: "over a cap below 1 MiB", size: 1001, max: 1000, wantCode: "EntityTooLarge"},
		{name: "far over the cap", size: 8 << 20, max: 1 << 20, wantCode: "EntityTooLarge"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			body := payloadOf(c.size)
			hash, replay, err := Spool(bytes.NewReader(body), c.max, dir)
			files, _ := os.ReadDir(dir)
			if c.wantCode != "" {
				if errCode(err) != c.wantCode {
					t.Fatalf("err = %v, want %s", err, c.wantCode)
				}
				if len(files) != 0 {
					t.Errorf("left %d files in the temp dir", len(files))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hash != sha256Hex(body) {
				t.Error("wrong hash")
			}
			if got := len(files) == 1; got != c.onDisk {
				t.Errorf("on disk = %v (%d files), want %v", got, len(files), c.onDisk)
			}
			if c.onDisk {
				fi, _ := os.Stat(filepath.Join(dir, files[0].Name()))
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("temp file mode %v", fi.Mode())
				}
			}
			got, err := io.ReadAll(replay)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("replay: %v, %d of %d bytes", err, len(got), len(body))
			}
			if err := replay.Close(); err != nil {
				t.Fatal(err)
			}
			if files, _ := os.ReadDir(dir); len(files) != 0 {
				t.Errorf("Close left %d files", len(files))
			}
		})
	}
}

func TestSpoolRemovesTempFileOnReadError(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("reset")
	src := io.MultiReader(bytes.NewReader(payloadOf(2<<20)), iotest.ErrReader(boom))
	if _, _, err := Spool(src, 10<<20, dir); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("left %d files", len(files))
	}
}
