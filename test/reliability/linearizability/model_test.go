package linearizability

import (
	"strings"
	"testing"
	"time"
)

// builder writes histories by hand: seq() calls one after the other, at()
// calls with given intervals (in arbitrary units).
type builder struct {
	h      History
	t      int64
	group  int
	kind   string
	client int
}

func newBuilder(kind string) *builder { return &builder{group: 1, kind: kind, t: 10} }

func (b *builder) add(call, ret int64, op *Op) *Op {
	op.Group, op.Kind = b.group, b.kind
	op.Call = call
	if op.Status == "" {
		op.Status = StatusOK
	}
	if op.Status != StatusPending {
		r := ret
		op.Return = &r
	}
	b.client++
	op.Client = b.client
	b.h = append(b.h, op)
	return op
}

func (b *builder) seq(op *Op) *Op {
	b.t += 10
	return b.add(b.t, b.t+5, op)
}

func (b *builder) at(call, ret int64, op *Op) *Op { return b.add(call, ret, op) }

func acquire(uid, owner string, queue bool, r Result) *Op {
	return &Op{Op: OpAcquire, Uid: uid, Owner: owner, Queue: queue, Result: &r}
}

func waitAcquire(uid, owner string, r Result) *Op {
	return &Op{Op: OpAcquire, Uid: uid, Owner: owner, WaitMs: 30, Result: &r}
}

func release(uid, owner string, ok bool) *Op {
	return &Op{Op: OpRelease, Uid: uid, Owner: owner, Result: &Result{Released: ok}}
}

func releaseAll(owner string, n int64) *Op {
	return &Op{Op: OpReleaseAll, Owner: owner, Result: &Result{Count: n}}
}

func observe(views ...LockView) *Op {
	op := &Op{Op: OpObserve, Result: &Result{Locks: views}}
	for _, v := range views {
		op.Uids = append(op.Uids, v.Uid)
	}
	return op
}

func pending(op *Op) *Op {
	op.Status = StatusPending
	op.Result = nil
	return op
}

func granted(owner string, token int64, waiters int) Result {
	return Result{Granted: true, Holder: owner, Token: token, Waiters: waiters}
}

func refused(holder string, waiters, position int) Result {
	return Result{Holder: holder, Waiters: waiters, Position: position}
}

// verdict checks the history as one partition per group (and uid).
func verdict(t *testing.T, h History) Verdict {
	t.Helper()
	h.Sort()
	v := Linearizable
	for _, p := range Partitions(h) {
		r := CheckPartition(p, nil, 10*time.Second)
		if r.Err != nil {
			t.Fatalf("%s: %v", p.Name(), r.Err)
		}
		if r.Verdict != Linearizable {
			v = r.Verdict
		}
	}
	return v
}

func expect(t *testing.T, h History, want Verdict) {
	t.Helper()
	if got := verdict(t, h); got != want {
		var lines []string
		for _, op := range h {
			lines = append(lines, op.Describe(nil))
		}
		t.Fatalf("got %s, want %s, for:\n%s", got, want, strings.Join(lines, "\n"))
	}
}

// The script's story, as lockable answers it.
func story(b *builder) {
	b.seq(acquire("u", "a", false, granted("a", 3, 0)))
	b.seq(acquire("u", "w1", true, refused("a", 1, 1)))
	b.seq(acquire("u", "w2", true, refused("a", 2, 2)))
	b.seq(release("u", "a", true))
	b.seq(acquire("u", "w1", true, granted("w1", 5, 1)))
	b.seq(acquire("u", "w2", false, refused("w1", 1, 1)))
	b.seq(release("u", "w1", true))
	b.seq(acquire("u", "w2", false, granted("w2", 9, 0)))
	b.seq(observe(LockView{Uid: "u", Holder: "w2", Token: 9}))
	b.seq(releaseAll("w2", 1))
	b.seq(observe(LockView{Uid: "u"}))
}

func TestStory(t *testing.T) {
	b := newBuilder(KindScript)
	story(b)
	expect(t, b.h, Linearizable)
}

func TestRenewalKeepsToken(t *testing.T) {
	b := newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 7, 0)))
	b.seq(acquire("u", "a", true, granted("a", 7, 0)))
	expect(t, b.h, Linearizable)

	b = newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 7, 0)))
	b.seq(acquire("u", "a", false, granted("a", 8, 0)))
	expect(t, b.h, NotLinearizable)
}

func TestDoubleGrant(t *testing.T) {
	b := newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 1, 0)))
	b.seq(acquire("u", "b", false, granted("b", 2, 0)))
	expect(t, b.h, NotLinearizable)

	// the same two, concurrent with a's release: fine
	b = newBuilder(KindLine)
	b.at(10, 20, acquire("u", "a", false, granted("a", 1, 0)))
	b.at(30, 60, release("u", "a", true))
	b.at(40, 50, acquire("u", "b", false, granted("b", 2, 0)))
	expect(t, b.h, Linearizable)
}

func TestTokenBackwards(t *testing.T) {
	for _, tok := range []int64{4, 5} {
		b := newBuilder(KindLine)
		b.seq(acquire("u", "a", false, granted("a", 5, 0)))
		b.seq(release("u", "a", true))
		b.seq(acquire("u", "b", false, granted("b", tok, 0)))
		expect(t, b.h, NotLinearizable)
	}
	// a hand-off's token is above the one before, and seen later
	b := newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 10, 0)))
	b.seq(acquire("u", "w", true, refused("a", 1, 1)))
	b.seq(release("u", "a", true))
	b.seq(acquire("u", "w", true, granted("w", 10, 0)))
	expect(t, b.h, NotLinearizable)
	b.h[len(b.h)-1].Result.Token = 11
	expect(t, b.h, Linearizable)
}

func TestSkippedWaiter(t *testing.T) {
	prefix := func() *builder {
		b := newBuilder(KindLine)
		b.seq(acquire("u", "a", false, granted("a", 1, 0)))
		b.seq(acquire("u", "w1", true, refused("a", 1, 1)))
		b.seq(acquire("u", "w2", true, refused("a", 2, 2)))
		b.seq(release("u", "a", true))
		return b
	}
	b := prefix()
	b.seq(acquire("u", "w2", true, granted("w2", 2, 1)))
	expect(t, b.h, NotLinearizable)

	b = prefix()
	b.seq(observe(LockView{Uid: "u", Holder: "w2", Token: 2, Line: []string{"w1"}}))
	expect(t, b.h, NotLinearizable)

	b = prefix()
	b.seq(observe(LockView{Uid: "u", Holder: "w1", Token: 2, Line: []string{"w2"}}))
	expect(t, b.h, Linearizable)

	// w1 left the line first: then w2 is served
	b = prefix()
	b.h = b.h[:3]
	b.seq(release("u", "w1", true))
	b.seq(release("u", "a", true))
	b.seq(acquire("u", "w2", true, granted("w2", 2, 0)))
	expect(t, b.h, Linearizable)
}

func TestConcurrentOrder(t *testing.T) {
	b := newBuilder(KindLine)
	b.at(10, 50, acquire("u", "a", false, granted("a", 1, 0)))
	b.at(20, 40, acquire("u", "b", false, refused("a", 0, 0)))
	expect(t, b.h, Linearizable)

	b = newBuilder(KindLine)
	b.at(10, 50, acquire("u", "a", false, refused("b", 0, 0)))
	b.at(20, 40, acquire("u", "b", false, refused("a", 0, 0)))
	expect(t, b.h, NotLinearizable)

	// a refusal that ended before the grant was invoked cannot name it
	b = newBuilder(KindLine)
	b.at(10, 20, acquire("u", "b", false, refused("a", 0, 0)))
	b.at(30, 40, acquire("u", "a", false, granted("a", 1, 0)))
	expect(t, b.h, NotLinearizable)
}

func TestQueueSemantics(t *testing.T) {
	b := newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 1, 0)))
	b.seq(acquire("u", "w", false, refused("a", 0, 0))) // no queue: no place
	b.seq(acquire("u", "w", true, refused("a", 1, 1)))
	b.seq(acquire("u", "w", true, refused("a", 1, 1))) // keeps its place
	b.seq(acquire("u", "x", true, refused("a", 2, 2)))
	b.seq(acquire("u", "x", false, refused("a", 2, 2))) // told its position
	b.seq(acquire("u", "a", true, granted("a", 1, 2)))  // the holder renews
	b.seq(release("u", "w", true))                      // w leaves
	b.seq(release("u", "w", false))
	b.seq(release("u", "a", true)) // to x
	b.seq(acquire("u", "x", false, granted("x", 2, 0)))
	b.seq(release("u", "x", true))
	b.seq(observe(LockView{Uid: "u"}))
	expect(t, b.h, Linearizable)
}

func TestPending(t *testing.T) {
	// a pending grant may not have happened ...
	b := newBuilder(KindLine)
	b.seq(pending(acquire("u", "a", false, Result{})))
	b.seq(acquire("u", "b", false, granted("b", 2, 0)))
	expect(t, b.h, Linearizable)
	// ... or may have: then it is held by a, with a token above the last
	b = newBuilder(KindLine)
	b.seq(pending(acquire("u", "a", false, Result{})))
	b.seq(acquire("u", "b", false, refused("a", 0, 0)))
	b.seq(observe(LockView{Uid: "u", Holder: "a", Token: 4}))
	expect(t, b.h, Linearizable)
	// ... at any time after its invocation
	b = newBuilder(KindLine)
	b.seq(pending(acquire("u", "a", false, Result{})))
	b.seq(observe(LockView{Uid: "u"}))
	b.seq(observe(LockView{Uid: "u", Holder: "a", Token: 4}))
	expect(t, b.h, Linearizable)
	// but not before it
	b = newBuilder(KindLine)
	b.seq(observe(LockView{Uid: "u", Holder: "a", Token: 4}))
	b.seq(pending(acquire("u", "a", false, Result{})))
	expect(t, b.h, NotLinearizable)
	// answered before the connection was lost: if it happened, as answered
	b = newBuilder(KindLine)
	op := b.seq(acquire("u", "a", false, granted("a", 7, 0)))
	op.Status, op.Answered, op.Return = StatusPending, true, nil
	b.seq(observe(LockView{Uid: "u", Holder: "a", Token: 8}))
	expect(t, b.h, NotLinearizable)
	b.h[1].Result.Locks[0].Token = 7
	expect(t, b.h, Linearizable)
}

func TestFailedLeftOut(t *testing.T) {
	b := newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 1, 0)))
	f := b.seq(release("u", "a", false))
	f.Status, f.SQLState, f.Result = StatusFailed, "40P01", nil
	b.seq(acquire("u", "b", false, refused("a", 0, 0)))
	expect(t, b.h, Linearizable)
}

// release_all is one atomic step: what the owner gains meanwhile from
// another session is either counted and released, or survives because it
// came after; never both, never neither.
func TestReleaseAll(t *testing.T) {
	setup := func() *builder {
		b := newBuilder(KindReleaseAll)
		b.seq(acquire("B", "o", false, granted("o", 1, 0)))
		b.seq(acquire("C", "o", false, granted("o", 2, 0)))
		return b
	}
	// During release_all(o), o gains A, then gives B up; release_all's
	// count must see either {B, C} (before the gain: then B's release
	// would be false), {B, C, A} or {C, A}.
	for _, tc := range []struct {
		count int64
		want  Verdict
	}{{1, NotLinearizable}, {2, Linearizable}, {3, NotLinearizable}} {
		b := setup()
		b.at(100, 200, releaseAll("o", tc.count))
		b.at(110, 120, acquire("A", "o", false, granted("o", 3, 0)))
		b.at(130, 140, release("B", "o", true))
		expect(t, b.h, tc.want)
	}

	// What it left behind shows afterwards: A survives only if the gain
	// came after release_all, which its count then leaves out.
	b := setup()
	b.at(100, 200, releaseAll("o", 2))
	b.at(110, 120, acquire("A", "o", false, granted("o", 3, 0)))
	b.at(300, 310, observe(LockView{Uid: "A", Holder: "o", Token: 3}, LockView{Uid: "B"}, LockView{Uid: "C"}))
	expect(t, b.h, Linearizable)
	b.h[2].Result.Count = 3
	expect(t, b.h, NotLinearizable)

	// A hand-off to o during release_all: o had a place before, and has
	// either the place or the lock at every moment; a count of 0 is wrong.
	b = newBuilder(KindReleaseAll)
	b.seq(acquire("u", "h", false, granted("h", 1, 0)))
	b.seq(acquire("u", "o", true, refused("h", 1, 1)))
	b.at(100, 200, releaseAll("o", 0))
	b.at(110, 120, release("u", "h", true))
	expect(t, b.h, NotLinearizable)
	b.h[2].Result.Count = 1
	expect(t, b.h, Linearizable)

	// Two owners' holdings: only the owner's are touched, and a release
	// hands the lock on to the line.
	b = newBuilder(KindReleaseAll)
	b.seq(acquire("u", "o", false, granted("o", 1, 0)))
	b.seq(acquire("u", "p", true, refused("o", 1, 1)))
	b.seq(acquire("v", "p", false, granted("p", 2, 0)))
	b.seq(acquire("v", "o", true, refused("p", 1, 1)))
	b.seq(releaseAll("o", 2))
	b.seq(observe(LockView{Uid: "u", Holder: "p", Token: 3}, LockView{Uid: "v", Holder: "p", Token: 2}))
	expect(t, b.h, Linearizable)
}

func TestWaitingRefusal(t *testing.T) {
	// A waiting acquire is refused only by a live holder other than the
	// caller; a refusal naming nobody is a timeout (the bound ended while
	// an open transaction was changing the lock), which changed nothing.
	b := newBuilder(KindWait)
	b.seq(acquire("u", "a", false, granted("a", 1, 0)))
	b.seq(waitAcquire("u", "b", refused("a", 0, 0)))
	expect(t, b.h, Linearizable)

	b = newBuilder(KindWait)
	b.seq(waitAcquire("u", "b", refused("", 0, 0)))
	b.seq(acquire("u", "b", false, granted("b", 1, 0)))
	expect(t, b.h, Linearizable)

	b = newBuilder(KindWait)
	b.seq(acquire("u", "a", false, granted("a", 1, 0)))
	b.at(100, 200, waitAcquire("u", "a", refused("a", 0, 0)))
	expect(t, b.h, NotLinearizable)
}

func TestPartitions(t *testing.T) {
	b := newBuilder(KindLine)
	b.seq(acquire("u", "a", false, granted("a", 1, 0)))
	b.seq(acquire("v", "a", false, granted("a", 2, 0)))
	if n := len(Partitions(b.h)); n != 2 {
		t.Fatalf("one-uid calls: %d partitions, want 2", n)
	}
	b.seq(releaseAll("a", 2))
	if n := len(Partitions(b.h)); n != 1 {
		t.Fatalf("with release_all: %d partitions, want 1", n)
	}
}

func TestMinimize(t *testing.T) {
	b := newBuilder(KindReleaseAll)
	// some history first, then the non-atomic release_all, then more
	b.seq(acquire("C", "p", false, granted("p", 1, 0)))
	b.seq(release("C", "p", true))
	b.seq(acquire("B", "o", false, granted("o", 2, 0)))
	b.seq(acquire("C", "o", false, granted("o", 3, 0)))
	b.at(100, 200, releaseAll("o", 1))
	b.at(110, 120, acquire("A", "o", false, granted("o", 4, 0)))
	b.at(130, 140, release("B", "o", true))
	b.at(300, 310, acquire("C", "p", true, granted("p", 5, 0)))
	b.at(320, 330, acquire("A", "p", true, refused("o", 1, 1)))
	b.h.Sort()
	p := Partitions(b.h)[0]
	if r := CheckPartition(p, nil, 10*time.Second); r.Verdict != NotLinearizable {
		t.Fatalf("got %s", r.Verdict)
	}
	m := Minimize(p, 10*time.Second)
	if !m.Complete {
		t.Fatal("minimizer ran out of time")
	}
	if r := CheckPartition(&Partition{Kind: p.Kind, Group: p.Group, Ops: m.Ops}, m.Relaxed, 10*time.Second); r.Verdict != NotLinearizable {
		t.Fatalf("minimal history is %s", r.Verdict)
	}
	needsReleaseAll := false
	for _, op := range m.Needed {
		if op.Op == OpReleaseAll {
			needsReleaseAll = true
		}
		if op.Call >= 300 {
			t.Errorf("needed answer after the contradiction: %s", op.Describe(nil))
		}
	}
	if !needsReleaseAll || len(m.Needed) > 4 {
		var s strings.Builder
		m.Print(&s, "  ")
		t.Fatalf("minimal history:\n%s", s.String())
	}
}

// The self-test's corruptions, on the story and on a concurrent history.
func TestCorruptions(t *testing.T) {
	b := newBuilder(KindScript)
	story(b)
	b.h.Sort()
	p := Partitions(b.h)[0]
	cs, err := ScriptCorruptions(p)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range cs {
		names[c.Name] = true
		if r := CheckPartition(c.Partition, nil, 10*time.Second); r.Verdict != NotLinearizable {
			t.Errorf("%s (%s): %s", c.Name, c.Where, r.Verdict)
		}
	}
	for _, n := range []string{"double grant", "token backwards", "skipped waiter"} {
		if !names[n] {
			t.Errorf("no %s corruption", n)
		}
	}
	// the story itself is untouched
	expect(t, b.h, Linearizable)

	b = newBuilder(KindLine)
	b.at(10, 20, acquire("u", "a", false, granted("a", 4, 0)))
	b.at(15, 40, acquire("u", "b", true, refused("a", 1, 1)))
	b.at(30, 35, acquire("u", "c", false, refused("a", 1, 0)))
	b.at(45, 60, release("u", "a", true))
	b.at(50, 70, acquire("u", "b", true, granted("b", 6, 0)))
	b.h.Sort()
	p = Partitions(b.h)[0]
	if r := CheckPartition(p, nil, 10*time.Second); r.Verdict != Linearizable {
		t.Fatalf("uncorrupted: %s", r.Verdict)
	}
	cs = RecordedCorruptions(p)
	if len(cs) != 2 {
		t.Fatalf("%d corruptions, want 2", len(cs))
	}
	for _, c := range cs {
		if r := CheckPartition(c.Partition, nil, 10*time.Second); r.Verdict != NotLinearizable {
			t.Errorf("%s (%s): %s", c.Name, c.Where, r.Verdict)
		}
	}
}
