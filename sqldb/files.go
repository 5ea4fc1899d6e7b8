package sqldb

import (
	"errors"
	"io/fs"
	"os"

	"github.com/tapwallet/tapwallet/fault"
)

// PrivateFolder makes sure dir is a data folder only its owner can read:
// it creates it with mode 0700 if it does not exist, and refuses (with
// fault.Forbidden "data_folder_open", naming the folder and the fix) a
// folder that its group or others may read, write or enter, since the
// databases and the key file in it would be theirs to copy. It fails with
// fault.Unavailable if the folder cannot be made or read.
//
// Open only makes a missing folder 0700 (a library leaves the judging of
// an existing folder to the program): serve calls PrivateFolder first.
func PrivateFolder(dir string) error {
	if err := makeFolder(dir); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "data_folder", "read data folder %s", dir)
	}
	if !st.IsDir() {
		return fault.E(fault.Invalid, "data_folder", "data folder %s is not a folder", dir)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return fault.E(fault.Forbidden, "data_folder_open",
			"data folder %s has mode %04o: others on this machine can read its databases and keys; run: chmod 700 %s", dir, m, dir)
	}
	return nil
}

// makeFolder creates dir with mode 0700 if it does not exist. It fails
// with fault.Unavailable.
func makeFolder(dir string) error {
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fault.Wrap(err, fault.Unavailable, "data_folder", "create data folder %s", dir)
	}
	return nil
}

// privateFiles creates the SQLite database file at path with mode 0600
// before SQLite opens it (SQLite gives its log -wal, its index -shm and its
// -journal the mode of the database file), and brings an existing database
// and its companions to 0600. It fails with fault.Unavailable.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "db_open", "create database file")
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fault.Wrap(err, fault.Unavailable, "db_open", "read database file mode")
		}
		if st.Mode().Perm() != 0o600 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fault.Wrap(err, fault.Unavailable, "db_open", "make database file private (chmod 600)")
			}
		}
	}
	return nil
}
