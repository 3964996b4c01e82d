// Package linearizability records concurrent histories of lockable's lock
// functions and checks them for linearizability against a sequential model
// of the lock, its waiting line and lock_release_all, with Porcupine.
//
// A history is a list of operations, one JSON object a line.  Each holds the
// call (which function, on which uid, for which owner), the time it was
// invoked and the time its answer came back (nanoseconds since the start of
// the run, on one monotonic clock), and the answer.  A call whose connection
// was lost, or that timed out, is pending: it may have taken effect, at any
// moment after its invocation, or not at all.  A call that failed with an
// error that rolled it back (a deadlock, say) had no effect; it is kept in
// the history, marked failed, for the figures, and left out of the check.
//
// Terms used throughout:
//
//	group      the unit of a workload: a few uids and owners of their own
//	           (names that no other group uses) and the clients that work on
//	           them; groups are independent of each other.
//	partition  the operations checked together: a group, or, when nothing in
//	           the group spans uids (lock_release_all, a read of several
//	           uids), one uid of a group.
package linearizability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// The calls a history holds.
const (
	OpAcquire    = "acquire"     // lock_acquire(uid, owner, ttl, wait, queue)
	OpRelease    = "release"     // lock_release(uid, owner)
	OpReleaseAll = "release_all" // lock_release_all(owner)
	OpObserve    = "observe"     // the views active_locks and lock_queue, for some uids, in one statement
)

// The outcome of a call.
const (
	StatusOK      = "ok"      // answered
	StatusPending = "pending" // connection lost or timed out: outcome unknown
	StatusFailed  = "failed"  // an error that rolled the call back: no effect
)

// Op is one operation of a history.
type Op struct {
	Group  int    `json:"group"`
	Kind   string `json:"kind"` // the group's workload
	Client int    `json:"client"`
	Op     string `json:"op"`

	Uid    string   `json:"uid,omitempty"`
	Uids   []string `json:"uids,omitempty"` // observe
	Owner  string   `json:"owner,omitempty"`
	Queue  bool     `json:"queue,omitempty"`
	WaitMs int      `json:"wait_ms,omitempty"`
	// With HoldMs > 0 the call ran in a transaction that stayed open that
	// long after the call's answer, before COMMIT; the operation ends with
	// the COMMIT's answer.
	HoldMs int `json:"hold_ms,omitempty"`

	Call   int64  `json:"call"`
	Return *int64 `json:"return"` // nil while pending
	Status string `json:"status"`
	// A pending call in a transaction may have had its answer before the
	// connection was lost (the COMMIT's fate is what is unknown).
	Answered bool    `json:"answered,omitempty"`
	SQLState string  `json:"sqlstate,omitempty"`
	Error    string  `json:"error,omitempty"`
	Result   *Result `json:"result,omitempty"`
}

// Result is the answer of a call.  SQL NULLs are zero values: an owner is
// never empty, tokens and positions start at 1.
type Result struct {
	// lock_acquire's lock_status
	Granted  bool   `json:"granted,omitempty"`
	Holder   string `json:"holder,omitempty"`
	Token    int64  `json:"token,omitempty"`
	Waiters  int    `json:"waiters,omitempty"`
	Position int    `json:"position,omitempty"`
	// lock_release
	Released bool `json:"released,omitempty"`
	// lock_release_all
	Count int64 `json:"count,omitempty"`
	// observe: one row per uid asked for
	Locks []LockView `json:"locks,omitempty"`
}

// LockView is what the views show of one uid: the live holder and its
// token, and the live places in line order.
type LockView struct {
	Uid    string   `json:"uid"`
	Holder string   `json:"holder,omitempty"`
	Token  int64    `json:"token,omitempty"`
	Line   []string `json:"line,omitempty"`
}

// History is a recorded history, in invocation order.
type History []*Op

// ReadHistory reads a history written by History.Write.
func ReadHistory(path string) (History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h History
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<16), 1<<24)
	for line := 1; scanner.Scan(); line++ {
		var op Op
		if err := json.Unmarshal(scanner.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		h = append(h, &op)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	h.Sort()
	return h, nil
}

// Write writes the history, one operation a line.
func (h History) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, op := range h {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes the history to path.
func (h History) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := h.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Sort puts the operations in invocation order.
func (h History) Sort() {
	sort.SliceStable(h, func(i, j int) bool { return h[i].Call < h[j].Call })
}

// Clone copies the history deeply enough to corrupt the copy.
func (h History) Clone() History {
	c := make(History, len(h))
	for i, op := range h {
		o := *op
		if op.Return != nil {
			r := *op.Return
			o.Return = &r
		}
		if op.Result != nil {
			r := *op.Result
			r.Locks = append([]LockView(nil), op.Result.Locks...)
			o.Result = &r
		}
		c[i] = &o
	}
	return c
}

// Describe renders an operation as a line of a report:
//
//	[   12.301 ..    12.309 ms] c3 acquire(u1, o2, queue) -> refused, holder o1, waiters 1, position 1
func (op *Op) Describe(short func(string) string) string {
	if short == nil {
		short = func(s string) string { return s }
	}
	ret := "     ...  "
	if op.Return != nil {
		ret = fmt.Sprintf("%10.3f", float64(*op.Return)/1e6)
	}
	return fmt.Sprintf("[%10.3f .. %s ms] c%-3d %s -> %s",
		float64(op.Call)/1e6, ret, op.Client, op.DescribeCall(short), op.DescribeAnswer(short))
}

// DescribeCall renders the call.
func (op *Op) DescribeCall(short func(string) string) string {
	var s string
	switch op.Op {
	case OpAcquire:
		s = fmt.Sprintf("acquire(%s, %s", short(op.Uid), short(op.Owner))
		if op.Queue {
			s += ", queue"
		}
		if op.WaitMs > 0 {
			s += fmt.Sprintf(", wait %d ms", op.WaitMs)
		}
		s += ")"
	case OpRelease:
		s = fmt.Sprintf("release(%s, %s)", short(op.Uid), short(op.Owner))
	case OpReleaseAll:
		s = fmt.Sprintf("release_all(%s)", short(op.Owner))
	case OpObserve:
		s = "observe("
		for i, u := range op.Uids {
			if i > 0 {
				s += ", "
			}
			s += short(u)
		}
		s += ")"
	default:
		s = op.Op + "(?)"
	}
	if op.HoldMs > 0 {
		s += fmt.Sprintf(" in a transaction held %d ms", op.HoldMs)
	}
	return s
}

// DescribeAnswer renders the answer, or what became of the call.
func (op *Op) DescribeAnswer(short func(string) string) string {
	switch op.Status {
	case StatusFailed:
		return fmt.Sprintf("failed %s (no effect)", op.SQLState)
	case StatusPending:
		if !op.Answered || op.Result == nil {
			return "pending (connection lost: outcome unknown)"
		}
		return DescribeResult(op, short) + ", then the connection was lost before COMMIT's answer"
	}
	if op.Result == nil {
		return "?"
	}
	return DescribeResult(op, short)
}

// DescribeResult renders the answer of a call.
func DescribeResult(op *Op, short func(string) string) string {
	r := op.Result
	switch op.Op {
	case OpAcquire:
		var s string
		if r.Granted {
			s = fmt.Sprintf("granted, token %d", r.Token)
		} else if r.Holder == "" {
			s = "refused, holder NULL"
		} else {
			s = fmt.Sprintf("refused, holder %s", short(r.Holder))
		}
		s += fmt.Sprintf(", waiters %d", r.Waiters)
		if r.Position > 0 {
			s += fmt.Sprintf(", position %d", r.Position)
		}
		return s
	case OpRelease:
		return fmt.Sprintf("%t", r.Released)
	case OpReleaseAll:
		return fmt.Sprintf("%d", r.Count)
	case OpObserve:
		s := ""
		for i, v := range r.Locks {
			if i > 0 {
				s += "; "
			}
			s += short(v.Uid) + ": "
			if v.Holder == "" {
				s += "free"
			} else {
				s += fmt.Sprintf("%s (token %d)", short(v.Holder), v.Token)
			}
			if len(v.Line) > 0 {
				s += ", line"
				for _, w := range v.Line {
					s += " " + short(w)
				}
			}
		}
		return s
	}
	return "?"
}
