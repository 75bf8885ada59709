// Package jobs runs Berth's periodic work so that each run happens once per
// cluster, not once per replica: every replica polls, and a run is claimed
// in the metadata database (an atomic upsert on the schedule's row) before
// it starts. Tasks are plain functions; they must be idempotent, because a
// replica that dies mid-run leaves the next run to whoever claims it.
//
// TODO(berth): a durable queue for one-off jobs (garbage collection,
// replication, webhooks) arrives with the first such job, on River.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"time"
)

// Task is one periodic piece of work.
type Task struct {
	Name    string
	Every   time.Duration
	Timeout time.Duration // per run; 0 means Every
	Run     func(ctx context.Context) error
}

// claimer is what the scheduler needs from the metadata store.
type claimer interface {
	ClaimSchedule(ctx context.Context, name, owner string, now, next time.Time) (bool, error)
}

// Scheduler fires tasks once per interval across the cluster.
type Scheduler struct {
	store claimer
	log   *slog.Logger
	owner string
	now   func() time.Time
	poll  time.Duration
}

// NewScheduler returns a scheduler that identifies this replica by host
// name, process ID and a random suffix.
func NewScheduler(store claimer, log *slog.Logger) *Scheduler {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Scheduler{
		store: store,
		log:   log,
		owner: host + "/" + hex.EncodeToString(b[:]),
		now:   time.Now,
		poll:  5 * time.Second,
	}
}

// Run polls until ctx ends, running each task whose turn this replica claims.
// Tasks run one after another on this goroutine.
func (s *Scheduler) Run(ctx context.Context, tasks []Task) {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		for _, task := range tasks {
			s.tick(ctx, task)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) tick(ctx context.Context, task Task) {
	now := s.now()
	ok, err := s.store.ClaimSchedule(ctx, task.Name, s.owner, now, now.Add(task.Every))
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "claim scheduled task", "task", task.Name, "err", err)
		}
		return
	}
	if !ok {
		return
	}
	timeout := task.Timeout
	if timeout <= 0 {
		timeout = task.Every
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := task.Run(rctx); err != nil {
		s.log.WarnContext(ctx, "scheduled task failed", "task", task.Name, "err", err)
		return
	}
	s.log.DebugContext(ctx, "scheduled task done", "task", task.Name, "duration_ms", time.Since(start).Milliseconds())
}
