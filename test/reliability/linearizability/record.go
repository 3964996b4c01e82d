package linearizability

// The recorder: concurrent clients, each with a connection of its own, make
// lock calls against a database and every call is written down with its
// invocation and completion times.
//
// Workloads (a group's kind):
//
//	line         lock_acquire with and without queue, lock_release, and
//	             reads of one uid: the lock and its line.
//	wait         the same, with waiting acquires (wait > 0, no queue).
//	release_all  the same as line, with lock_release_all, and reads of all
//	             the group's uids at once.
//	script       one client, one uid, a fixed sequential story of a grant,
//	             two waiters, two hand-offs and a release_all (see Script);
//	             the self-test corrupts its history.
//
// Every client picks the owner of each call at random among the group's
// owners, so that one owner makes calls from several sessions at once, as a
// user with two browser tabs does.  Some calls run in a transaction held
// open for a few milliseconds after the call (a Django request under
// ATOMIC_REQUESTS, say): the call's row locks then stay taken, so other
// calls wait behind them, and the operation ends with COMMIT's answer.
// Some of those transactions lose their connection on purpose
// (pg_terminate_backend from another session, at a random moment of the
// call or the transaction): their calls are pending.  A call that takes
// longer than the op timeout is cancelled, its connection closed, and it is
// pending too.  After a lost connection the client connects again under a
// new client number.
//
// Every ttl is an hour: no lock expires and no place lapses during a run
// (the model has no expiry).

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Workloads.
const (
	KindLine       = "line"
	KindWait       = "wait"
	KindReleaseAll = "release_all"
	KindScript     = "script"
)

// Config of a recording.
type Config struct {
	ConnString  string         // "" reads the PG* environment
	Duration    time.Duration  // groups start until then
	Slots       map[string]int // groups running at once, per workload
	Clients     int            // per group
	Uids        int            // per group
	Owners      int            // per group
	OpsPerGroup int            // a group's history ends after as many calls
	HoldPercent int            // calls made in a transaction held open
	HoldMaxMs   int            // for 1 .. HoldMaxMs milliseconds
	KillPercent int            // of held transactions, whose backend is terminated
	WaitMs      int            // the wait of a waiting acquire
	OpTimeout   time.Duration  // a call still running then is cancelled: pending
	TTL         string         // of every lock and place
	Prefix      string         // of every uid and owner name
	Seed        int64
}

// DefaultConfig is the suite's recording: about 12 seconds, 16 clients.
func DefaultConfig() Config {
	return Config{
		Duration:    12 * time.Second,
		Slots:       map[string]int{KindLine: 1, KindWait: 1, KindReleaseAll: 2},
		Clients:     4,
		Uids:        3,
		Owners:      3,
		OpsPerGroup: 150,
		HoldPercent: 20,
		HoldMaxMs:   15,
		KillPercent: 5,
		WaitMs:      30,
		OpTimeout:   15 * time.Second,
		TTL:         "1 hour",
		Prefix:      "lin",
		Seed:        time.Now().UnixNano(),
	}
}

// Stats of a recording, beyond what the history itself shows.
type Stats struct {
	Groups   map[string]int
	Kills    int // pg_terminate_backend calls made
	Timeouts int // calls cancelled at OpTimeout
	Elapsed  time.Duration
}

type recorder struct {
	cfg      Config
	start    time.Time
	mu       sync.Mutex
	history  History
	stats    Stats
	group    atomic.Int32
	client   atomic.Int32
	adminMu  sync.Mutex
	admin    *pgx.Conn
	seedMu   sync.Mutex
	seedRand *rand.Rand
}

// Record runs the workloads and returns the history, in invocation order.
func Record(ctx context.Context, cfg Config) (History, Stats, error) {
	r := &recorder{cfg: cfg, start: time.Now(), seedRand: rand.New(rand.NewSource(cfg.Seed))}
	r.stats.Groups = map[string]int{}
	admin, err := pgx.Connect(ctx, cfg.ConnString)
	if err != nil {
		return nil, r.stats, err
	}
	defer admin.Close(context.Background())
	r.admin = admin

	// The story first, alone, so that its history is sequential.
	if err := r.script(ctx); err != nil {
		return nil, r.stats, fmt.Errorf("script: %w", err)
	}

	end := time.Now().Add(cfg.Duration)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for _, kind := range []string{KindLine, KindWait, KindReleaseAll} {
		for i := 0; i < cfg.Slots[kind]; i++ {
			wg.Add(1)
			go func(kind string) {
				defer wg.Done()
				if err := r.slot(ctx, kind, end); err != nil {
					errs <- fmt.Errorf("%s: %w", kind, err)
				}
			}(kind)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, r.stats, err
	}
	r.stats.Elapsed = time.Since(r.start)
	r.history.Sort()
	return r.history, r.stats, nil
}

func (r *recorder) now() int64 { return time.Since(r.start).Nanoseconds() }

func (r *recorder) newRand() *rand.Rand {
	r.seedMu.Lock()
	defer r.seedMu.Unlock()
	return rand.New(rand.NewSource(r.seedRand.Int63()))
}

// group is one group's names and budget.
type group struct {
	id     int
	kind   string
	uids   []string
	owners []string
	budget atomic.Int32
	kills  atomic.Int32
}

func (r *recorder) newGroup(kind string, uids, owners int) *group {
	g := &group{id: int(r.group.Add(1)), kind: kind}
	for i := 1; i <= uids; i++ {
		g.uids = append(g.uids, fmt.Sprintf("%s.g%d.u%d", r.cfg.Prefix, g.id, i))
	}
	for i := 1; i <= owners; i++ {
		g.owners = append(g.owners, fmt.Sprintf("%s.g%d.o%d", r.cfg.Prefix, g.id, i))
	}
	g.budget.Store(int32(r.cfg.OpsPerGroup))
	r.mu.Lock()
	r.stats.Groups[kind]++
	r.mu.Unlock()
	return g
}

// client is one connection, under a client number that changes when the
// connection is lost.
type client struct {
	r    *recorder
	id   int
	conn *pgx.Conn
	rand *rand.Rand
}

func (r *recorder) connect(ctx context.Context) (*client, error) {
	conn, err := pgx.Connect(ctx, r.cfg.ConnString)
	if err != nil {
		return nil, err
	}
	return &client{r: r, id: int(r.client.Add(1)) - 1, conn: conn, rand: r.newRand()}, nil
}

func (c *client) reconnect(ctx context.Context) error {
	c.conn.Close(context.Background())
	conn, err := pgx.Connect(ctx, c.r.cfg.ConnString)
	if err != nil {
		return err
	}
	c.conn = conn
	c.id = int(c.r.client.Add(1)) - 1
	return nil
}

// slot runs groups of one workload, one after the other, until end.
func (r *recorder) slot(ctx context.Context, kind string, end time.Time) error {
	clients := make([]*client, r.cfg.Clients)
	for i := range clients {
		c, err := r.connect(ctx)
		if err != nil {
			return err
		}
		clients[i] = c
	}
	defer func() {
		for _, c := range clients {
			c.conn.Close(context.Background())
		}
	}()
	for time.Now().Before(end) {
		g := r.newGroup(kind, r.cfg.Uids, r.cfg.Owners)
		var wg sync.WaitGroup
		errs := make([]error, len(clients))
		for i, c := range clients {
			wg.Add(1)
			go func(i int, c *client) {
				defer wg.Done()
				for g.budget.Add(-1) >= 0 {
					if err := c.do(ctx, g, c.pick(g)); err != nil {
						errs[i] = err
						return
					}
				}
			}(i, c)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		// A last look at the quiet group.
		if kind == KindReleaseAll {
			if err := clients[0].do(ctx, g, &Op{Op: OpObserve, Uids: g.uids}); err != nil {
				return err
			}
		} else {
			for _, u := range g.uids {
				if err := clients[0].do(ctx, g, &Op{Op: OpObserve, Uids: []string{u}}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pick chooses a call for the group's workload.
func (c *client) pick(g *group) *Op {
	rnd := c.rand
	op := &Op{Uid: g.uids[rnd.Intn(len(g.uids))], Owner: g.owners[rnd.Intn(len(g.owners))]}
	x := rnd.Intn(100)
	switch g.kind {
	case KindLine:
		switch {
		case x < 35:
			op.Op, op.Queue = OpAcquire, true
		case x < 50:
			op.Op = OpAcquire
		case x < 85:
			op.Op = OpRelease
		default:
			op.Op = OpObserve
		}
	case KindWait:
		switch {
		case x < 30:
			op.Op, op.Queue = OpAcquire, true
		case x < 55:
			op.Op, op.WaitMs = OpAcquire, c.r.cfg.WaitMs
		case x < 85:
			op.Op = OpRelease
		default:
			op.Op = OpObserve
		}
	case KindReleaseAll:
		switch {
		case x < 35:
			op.Op, op.Queue = OpAcquire, true
		case x < 45:
			op.Op = OpAcquire
		case x < 65:
			op.Op = OpRelease
		case x < 80:
			op.Op = OpReleaseAll
		default:
			op.Op = OpObserve
		}
	}
	switch op.Op {
	case OpObserve:
		if g.kind == KindReleaseAll {
			op.Uids = g.uids
		} else {
			op.Uids = []string{op.Uid}
		}
		op.Uid, op.Owner = "", ""
	case OpReleaseAll:
		op.Uid = ""
	}
	if op.Op != OpObserve && rnd.Intn(100) < c.r.cfg.HoldPercent {
		op.HoldMs = 1 + rnd.Intn(c.r.cfg.HoldMaxMs)
	}
	return op
}

// querier is a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const (
	sqlAcquire = `SELECT granted, owner, token, waiters, position
	  FROM lockable.lock_acquire($1, $2, $3::interval, $4::interval, $5)`
	sqlRelease    = `SELECT lockable.lock_release($1, $2)`
	sqlReleaseAll = `SELECT lockable.lock_release_all($1)`
	// One statement, so one snapshot of both views.
	sqlObserve = `SELECT u.uid, a.owner, a.token,
	       coalesce((SELECT array_agg(q.owner ORDER BY q.position)
	                   FROM lockable.lock_queue AS q WHERE q.uid = u.uid), '{}')
	  FROM unnest($1::text[]) WITH ORDINALITY AS u(uid, n)
	  LEFT JOIN lockable.active_locks AS a ON a.uid = u.uid
	 ORDER BY u.n`
)

// call makes op's call and reads its answer.
func (c *client) call(ctx context.Context, q querier, op *Op) (*Result, error) {
	res := &Result{}
	switch op.Op {
	case OpAcquire:
		var holder *string
		var token *int64
		var position *int32
		var waiters int32
		wait := fmt.Sprintf("%d milliseconds", op.WaitMs)
		if err := q.QueryRow(ctx, sqlAcquire, op.Uid, op.Owner, c.r.cfg.TTL, wait, op.Queue).
			Scan(&res.Granted, &holder, &token, &waiters, &position); err != nil {
			return nil, err
		}
		if holder != nil {
			res.Holder = *holder
		}
		if token != nil {
			res.Token = *token
		}
		if position != nil {
			res.Position = int(*position)
		}
		res.Waiters = int(waiters)
	case OpRelease:
		if err := q.QueryRow(ctx, sqlRelease, op.Uid, op.Owner).Scan(&res.Released); err != nil {
			return nil, err
		}
	case OpReleaseAll:
		if err := q.QueryRow(ctx, sqlReleaseAll, op.Owner).Scan(&res.Count); err != nil {
			return nil, err
		}
	case OpObserve:
		rows, err := q.Query(ctx, sqlObserve, op.Uids)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v LockView
			var holder *string
			var token *int64
			if err := rows.Scan(&v.Uid, &holder, &token, &v.Line); err != nil {
				rows.Close()
				return nil, err
			}
			if holder != nil {
				v.Holder = *holder
			}
			if token != nil {
				v.Token = *token
			}
			if len(v.Line) == 0 {
				v.Line = nil
			}
			res.Locks = append(res.Locks, v)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// lost tells a lost connection (outcome unknown) from an error that rolled
// the call back.  A server error that ends the session (FATAL, as
// pg_terminate_backend's 57P01) may come after the COMMIT went through.
func (c *client) lost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC" ||
			strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return c.conn.IsClosed() || errors.Is(err, context.DeadlineExceeded)
}

// do makes one call, records it, and returns an error only for a failure
// of the recorder itself.
func (c *client) do(ctx context.Context, g *group, op *Op) error {
	r := c.r
	op.Group, op.Kind, op.Client = g.id, g.kind, c.id
	kill := op.HoldMs > 0 && c.rand.Intn(100) < r.cfg.KillPercent && g.kills.Add(1) == 1
	opCtx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()

	op.Call = r.now()
	var res *Result
	var err error
	if op.HoldMs == 0 {
		res, err = c.call(opCtx, c.conn, op)
	} else {
		var tx pgx.Tx
		if tx, err = c.conn.Begin(opCtx); err == nil {
			if kill {
				// somewhere in the call or the transaction
				c.kill(c.conn.PgConn().PID(), time.Duration(c.rand.Intn(op.HoldMs+3))*time.Millisecond)
			}
			if res, err = c.call(opCtx, tx, op); err == nil {
				op.Answered = true
				if _, err = tx.Exec(opCtx, "SELECT pg_sleep($1)", float64(op.HoldMs)/1000); err == nil {
					err = tx.Commit(opCtx)
				}
			}
			if err != nil && !c.lost(err) {
				_ = tx.Rollback(opCtx)
			}
		}
	}
	ret := r.now()

	switch {
	case err == nil:
		op.Status = StatusOK
		op.Return = &ret
		op.Result = res
		op.Answered = false
	case c.lost(err):
		op.Status = StatusPending
		op.Error = err.Error()
		if op.Answered {
			op.Result = res
		}
		if errors.Is(err, context.DeadlineExceeded) {
			r.mu.Lock()
			r.stats.Timeouts++
			r.mu.Unlock()
		}
	default:
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return fmt.Errorf("%s: %w", op.DescribeCall(nil), err)
		}
		op.Status = StatusFailed
		op.Return = &ret
		op.SQLState = pgErr.Code
		op.Error = pgErr.Message
		op.Answered = false
	}
	r.mu.Lock()
	r.history = append(r.history, op)
	r.mu.Unlock()

	if op.Status == StatusPending {
		return c.reconnect(ctx)
	}
	return nil
}

// kill terminates the backend pid after delay, from the admin session.
func (c *client) kill(pid uint32, delay time.Duration) {
	r := c.r
	go func() {
		time.Sleep(delay)
		r.adminMu.Lock()
		defer r.adminMu.Unlock()
		if _, err := r.admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", int32(pid)); err == nil {
			r.mu.Lock()
			r.stats.Kills++
			r.mu.Unlock()
		}
	}()
}

// Script is the story of the script group, one call after the other, with
// the answers the model gives (tokens aside): a holds u; w1 and w2 take
// places; a's release hands the lock to w1, whose next acquire finds it
// granted; w2, still waiting, is told w1 holds it; w1's release hands it to
// w2; release_all(w2) releases it.  The self-test corrupts this history at
// steps named here.
var Script = []struct {
	Name  string
	Op    string
	Owner string // a, w1 or w2
	Queue bool
}{
	{"a grant", OpAcquire, "a", false},
	{"w1 joins", OpAcquire, "w1", true},
	{"w2 joins", OpAcquire, "w2", true},
	{"a releases", OpRelease, "a", false},
	{"w1 handed", OpAcquire, "w1", true},
	{"w2 told w1 holds", OpAcquire, "w2", false},
	{"w1 releases", OpRelease, "w1", false},
	{"w2 handed", OpAcquire, "w2", false},
	{"w2 seen", OpObserve, "", false},
	{"w2 releases all", OpReleaseAll, "w2", false},
	{"free", OpObserve, "", false},
}

// ScriptStep is the index of a step of Script by name.
func ScriptStep(name string) int {
	for i, s := range Script {
		if s.Name == name {
			return i
		}
	}
	panic("no script step " + name)
}

func (r *recorder) script(ctx context.Context) error {
	c, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer func() { c.conn.Close(context.Background()) }()
	g := r.newGroup(KindScript, 1, 0)
	owners := map[string]string{}
	for _, o := range []string{"a", "w1", "w2"} {
		owners[o] = fmt.Sprintf("%s.g%d.%s", r.cfg.Prefix, g.id, o)
	}
	for _, s := range Script {
		op := &Op{Op: s.Op, Uid: g.uids[0], Owner: owners[s.Owner], Queue: s.Queue}
		switch s.Op {
		case OpObserve:
			op.Uid, op.Uids = "", g.uids
		case OpReleaseAll:
			op.Uid = ""
		}
		if err := c.do(ctx, g, op); err != nil {
			return err
		}
		if op.Status != StatusOK {
			return fmt.Errorf("step %q: %s %s", s.Name, op.Status, op.Error)
		}
	}
	return nil
}
