// Package fsutil holds the few file-system helpers Halo's packages share:
// atomic writes (readers never see half a file, an interrupted write leaves
// the old file) and the private-file check applied to keys and credentials.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to a temporary file in path's directory with
// mode perm, syncs it, and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CheckPrivate returns an error, with the chmod that fixes it, when the file
// at path can be read or written by anyone but its owner.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o: it holds a secret and must be readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}
