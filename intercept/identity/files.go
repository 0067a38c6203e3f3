package identity

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The files this package keeps are small and private: readable by their
// owner only, replaced whole (temp file + rename) so a reader never sees
// half of one, and serialised between processes by a lock file beside them.
const (
	filePerm    = 0o600
	dirPerm     = 0o700
	maxFileSize = 16 << 20 // a keys.json of ~50k keys; a wrong path to a huge file fails
)

// readPrivate reads a file written by writePrivate, refusing one that
// others can read or write: its contents are keys.
func readPrivate(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("read %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, nil, fmt.Errorf("read %s: mode %04o lets others read it; chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, nil, fmt.Errorf("read %s: larger than %d bytes", path, maxFileSize)
	}
	return b, fi, nil
}

// writePrivate replaces path with data atomically, mode 0600.
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if err := writeAndSync(tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// createPrivate writes path only if it does not exist yet, atomically: a
// link fails if another process created it first, and then the caller
// reads theirs. It reports whether this call created it.
func createPrivate(path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndSync(tmp, data); err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	return true, syncDir(dir)
}

func writeAndSync(f *os.File, data []byte) error {
	if err := f.Chmod(filePerm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not supported everywhere; the rename is what matters
	return nil
}

// ensureDir creates dir (0700) if needed.
func ensureDir(dir string) error {
	if dir == "" {
		return errors.New("no directory given")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

// sameFile reports whether a and b are the same version of a file: the
// same inode (every write renames a new one in), size and mtime.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// withLock runs fn holding an exclusive lock on path+".lock", so that two
// processes (the gateway and `gatehouse keys create`, say) never both
// read-modify-write the same file.
func withLock(path string, fn func() error) error {
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer lf.Close()
	if err := lockFile(lf); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlockFile(lf)
	return fn()
}
