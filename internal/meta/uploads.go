package meta

import "context"

// CountOpenUploads returns how many upload sessions are open in repository
// repo and how many account opened (in any repository).
func (s *Store) CountOpenUploads(ctx context.Context, repo, account string) (inRepo, byAccount int, err error) {
	err = s.q.QueryRowContext(ctx, `
		SELECT (SELECT COUNT(*) FROM uploads WHERE repository = $1),
		       (SELECT COUNT(*) FROM uploads WHERE account = $2)`, repo, account).Scan(&inRepo, &byAccount)
	if err != nil {
		return 0, 0, wrapErr(err, "meta: count uploads of %s and %s", repo, account)
	}
	return inRepo, byAccount, nil
}
