package recorder

// Commits is how many transactions the store has committed since it was
// opened. With NoSync off each one is one fsync, shared by every entry
// waiting when it began (group commit); the bench reports entries per
// commit from it.
func (s *Store) Commits() int64 { return s.commits.Load() }
