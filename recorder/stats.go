package recorder

// Commits is how many transactions the store has committed since it was
// opened, each shared by every entry waiting when it began (group commit);
// the bench reports entries per commit from it.
func (s *Store) Commits() int64 { return s.commits.Load() }

// Syncs is how many write-ahead files the store has synced since it was
// opened (fdatasync calls; 0 with NoSync): one per commit that holds an
// intent or an appended record, one more for each memtable file Badger
// started meanwhile, and the periodic syncs of completions.
func (s *Store) Syncs() int64 {
	if s.wal == nil {
		return 0
	}
	return s.wal.syncs.Load()
}
