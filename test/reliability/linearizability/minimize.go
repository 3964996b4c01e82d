package linearizability

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Minimal is a partition that is not linearizable, cut down to the answers
// its contradiction needs.
type Minimal struct {
	Partition *Partition
	Ops       []*Op        // the shortest prefix still not linearizable
	Relaxed   map[*Op]bool // answers not needed (the calls still count)
	Needed    []*Op        // the answers no order of Ops can explain together
	Complete  bool         // false if the budget ran out first
}

// Minimize cuts a partition that is not linearizable down, in two steps
// that only ever drop constraints, so that what remains is still a proof
// that the whole partition is not linearizable:
//
//  1. The shortest prefix, by invocation, that is still not linearizable,
//     with the answers of the operations still running at its end not used
//     (those may have taken effect after operations the prefix leaves out).
//  2. Latest first, every answer that can be ignored (the operation still
//     takes its step within its interval, with whatever answer the state
//     gives) while the prefix stays not linearizable.
//
// What is left are the answers that contradict each other.  Each check is
// bounded by what is left of budget; when it runs out the result is as far
// as it got.  A check that takes longer than a second counts as "still
// linearizable": the answer is kept.
func Minimize(p *Partition, budget time.Duration) *Minimal {
	const stepTimeout = time.Second
	deadline := time.Now().Add(budget)
	ops := append([]*Op(nil), p.Ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })

	// prefix(k): the first k operations, with those answering after the
	// k-th's invocation relaxed; prefix(len(ops) + 1) is the partition.
	prefix := func(k int) (*Partition, map[*Op]bool) {
		relaxed := map[*Op]bool{}
		if k > len(ops) {
			return &Partition{Kind: p.Kind, Group: p.Group, Uid: p.Uid, Ops: ops}, relaxed
		}
		cut := ops[k-1].Call
		for _, op := range ops[:k] {
			if op.Status == StatusOK && *op.Return > cut {
				relaxed[op] = true
			}
		}
		return &Partition{Kind: p.Kind, Group: p.Group, Uid: p.Uid, Ops: ops[:k]}, relaxed
	}
	// illegal: proven not linearizable within a short timeout of its own
	// (relaxed answers can make the search long; an undecided check keeps
	// the answer).  decided is false once the budget is spent.
	illegal := func(q *Partition, relaxed map[*Op]bool) (bad, decided bool) {
		left := time.Until(deadline)
		if left <= 0 {
			return false, false
		}
		if left > stepTimeout {
			left = stepTimeout
		}
		r := CheckPartition(q, relaxed, left)
		return r.Verdict == NotLinearizable, true
	}

	m := &Minimal{Partition: p, Ops: ops, Relaxed: map[*Op]bool{}}
	// Not linearizable gets no better with more operations: binary search.
	lo, hi := 1, len(ops)+1
	for lo < hi {
		mid := (lo + hi) / 2
		q, relaxed := prefix(mid)
		bad, decided := illegal(q, relaxed)
		if !decided {
			m.finish()
			return m
		}
		if bad {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	q, relaxed := prefix(lo)
	m.Ops, m.Relaxed = q.Ops, relaxed
	// Latest first: the answers nearest the contradiction are the cheapest
	// to test, and the earlier ones pin the state down meanwhile.
	for i := len(q.Ops) - 1; i >= 0; i-- {
		op := q.Ops[i]
		if op.Status != StatusOK || relaxed[op] {
			continue
		}
		relaxed[op] = true
		bad, decided := illegal(q, relaxed)
		if !bad {
			delete(relaxed, op)
		}
		if !decided {
			m.finish()
			return m
		}
	}
	m.Complete = true
	m.finish()
	return m
}

func (m *Minimal) finish() {
	m.Needed = nil
	for _, op := range m.Ops {
		if op.Status == StatusOK && !m.Relaxed[op] {
			m.Needed = append(m.Needed, op)
		}
	}
}

// Shortener gives the names of a partition back without the prefix the
// recorder puts in front of every name ("lin.3.g12.o1" becomes "o1").
func Shortener(ops []*Op) func(string) string {
	prefix := ""
	for _, op := range ops {
		name := op.Owner
		if name == "" {
			name = op.Uid
		}
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			prefix = name[:i+1]
			break
		}
	}
	return func(s string) string {
		return strings.TrimPrefix(s, prefix)
	}
}

// Print writes the minimal history: the needed answers, marked "!", and
// the other operations between the first and the last of them, marked "~"
// when the answer is not used and "?" when pending (only those that overlap
// a needed answer, when there are more than 40).  The operations not shown
// take their steps too, with whatever answers the state gives.
func (m *Minimal) Print(w io.Writer, indent string) {
	short := Shortener(m.Ops)
	shown, marks := m.shown()
	if len(shown) == 0 {
		fmt.Fprintf(w, "%sno answer left to show\n", indent)
		return
	}
	for i, op := range shown {
		fmt.Fprintf(w, "%s%s %s\n", indent, marks[i], op.Describe(short))
	}
	fmt.Fprintf(w, "%s(! = answer needed, ~ = answer not used, ? = pending; %d other calls\n", indent, len(m.Ops)-len(shown))
	fmt.Fprintf(w, "%s not shown take their steps, their answers not used; ", indent)
	if !m.Complete {
		fmt.Fprintf(w, "the minimizer ran out of time:\n%s not every answer marked needed is)\n", indent)
	} else {
		fmt.Fprintf(w, "%d calls in the shortest\n%s prefix that is not linearizable, %d answers needed)\n",
			len(m.Ops), indent, len(m.Needed))
	}
}

// Lines is the length of the listing Print writes.
func (m *Minimal) Lines() int {
	shown, _ := m.shown()
	return len(shown)
}

// shown is what Print lists, with the marks.
func (m *Minimal) shown() ([]*Op, []string) {
	if len(m.Needed) == 0 {
		return nil, nil
	}
	from, to := m.Needed[0].Call, *m.Needed[0].Return
	for _, op := range m.Needed {
		from, to = min(from, op.Call), max(to, *op.Return)
	}
	overlaps := func(op *Op) bool {
		for _, n := range m.Needed {
			if op.Call <= *n.Return && (op.Return == nil || *op.Return >= n.Call) {
				return true
			}
		}
		return false
	}
	isNeeded := func(op *Op) bool { return op.Status == StatusOK && !m.Relaxed[op] }
	inside := func(op *Op) bool { return op.Call <= to && (op.Return == nil || *op.Return >= from) }
	between := 0
	for _, op := range m.Ops {
		if !isNeeded(op) && inside(op) {
			between++
		}
	}
	var shown []*Op
	var marks []string
	for _, op := range m.Ops {
		mark := "~"
		switch {
		case isNeeded(op):
			mark = "!"
		case !inside(op) || between > 40 && !overlaps(op):
			continue
		case op.Status == StatusPending:
			mark = "?"
		}
		shown = append(shown, op)
		marks = append(marks, mark)
	}
	return shown, marks
}

// Summary names the needed answers by call: "release_all, observe".
func (m *Minimal) Summary() string {
	count := map[string]int{}
	var order []string
	for _, op := range m.Needed {
		k := op.Op
		if op.Op == OpAcquire && op.WaitMs > 0 {
			k = "acquire(wait)"
		}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	sort.Strings(order)
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s x %d", k, count[k]))
	}
	s := strings.Join(parts, ", ")
	if !m.Complete {
		s += " (not minimal: out of time)"
	}
	return s
}
