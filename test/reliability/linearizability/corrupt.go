package linearizability

// Corrupted histories: proof that the checker can fail.  Each corruption
// changes the answers of a recorded partition that the checker found
// linearizable so that no order can explain them, by construction:
//
//	double grant       a refused acquire, made while another owner
//	                   certainly held the lock, now says granted.
//	token backwards    a grant's token is now below the token of a grant
//	                   that completed before it was invoked.
//	skipped waiter     the hand-off of the script goes to the second place
//	                   in line instead of the first.
//
// The script's partition is corrupted all three ways; the recorded
// concurrent partitions the first two ways, wherever the history holds a
// place that makes the corruption certain.

import (
	"fmt"
	"time"
)

// Corruption is one corrupted partition.
type Corruption struct {
	Name      string
	Where     string
	Partition *Partition
}

// replace gives a copy of p with op's answer replaced by res.
func replace(p *Partition, op *Op, res Result) *Partition {
	q := &Partition{Kind: p.Kind, Group: p.Group, Uid: p.Uid}
	for _, o := range p.Ops {
		if o == op {
			c := *o
			c.Result = &res
			o = &c
		}
		q.Ops = append(q.Ops, o)
	}
	return q
}

// ScriptCorruptions corrupts the script's partition.
func ScriptCorruptions(p *Partition) ([]*Corruption, error) {
	if len(p.Ops) != len(Script) {
		return nil, fmt.Errorf("the script has %d operations, not %d", len(p.Ops), len(Script))
	}
	step := func(name string) *Op { return p.Ops[ScriptStep(name)] }
	handedW1 := step("w1 handed")
	toldW2 := step("w2 told w1 holds")
	handedW2 := step("w2 handed")
	if !handedW1.Result.Granted || toldW2.Result.Granted || toldW2.Result.Position != 1 ||
		!handedW2.Result.Granted {
		return nil, fmt.Errorf("the script's answers are not as told: %s; %s; %s",
			DescribeResult(handedW1, nil), DescribeResult(toldW2, nil), DescribeResult(handedW2, nil))
	}
	t2 := handedW1.Result.Token
	w2 := toldW2.Owner
	var result []*Corruption

	// w2 is granted a fresh lock while w1 holds it.
	result = append(result, &Corruption{
		Name:      "double grant",
		Where:     "script: w2 granted while w1 holds the lock",
		Partition: replace(p, toldW2, Result{Granted: true, Holder: w2, Token: t2 + 1}),
	})

	// The hand-off to w2 comes with a token below w1's.
	r := *handedW2.Result
	r.Token = t2 - 1
	result = append(result, &Corruption{
		Name:      "token backwards",
		Where:     fmt.Sprintf("script: w2 handed token %d after w1's %d", t2-1, t2),
		Partition: replace(p, handedW2, r),
	})

	// a's release hands the lock to w2, the second place: w1 is told w2
	// holds it (w1 still first in line), and w2's next call is a renewal.
	q := replace(p, handedW1, Result{Holder: w2, Waiters: 1, Position: 1})
	q = replace(q, q.Ops[ScriptStep("w2 told w1 holds")],
		Result{Granted: true, Holder: w2, Token: t2, Waiters: 1})
	result = append(result, &Corruption{
		Name:      "skipped waiter",
		Where:     "script: a's release hands the lock to w2, second in line, not w1",
		Partition: q,
	})
	return result, nil
}

// mayEnd tells whether op may end owner's grant of uid.
func mayEnd(op *Op, uid, owner string) bool {
	return op.Owner == owner && (op.Op == OpReleaseAll || op.Op == OpRelease && op.Uid == uid)
}

// RecordedCorruptions corrupts a concurrent partition where the history
// makes the corruption certain: at most one of each kind.
func RecordedCorruptions(p *Partition) []*Corruption {
	var result []*Corruption
	done := func(r *Op) string {
		return fmt.Sprintf("%s, op at %.3f ms", p.Name(), float64(r.Call)/1e6)
	}
	granted := func(op *Op) bool {
		return op.Op == OpAcquire && op.Status == StatusOK && op.Result.Granted
	}
	var maxToken int64
	for _, op := range p.Ops {
		if op.Result != nil && op.Result.Token > maxToken {
			maxToken = op.Result.Token
		}
	}

	// Double grant.  After a grant X to a completes, a holds the lock until
	// a call that may end it (a's release of the uid, or a's release_all)
	// may have taken its step: a refusal of another owner inside that
	// window, turned into a grant, has no place in any order.
double:
	for _, x := range p.Ops {
		if !granted(x) {
			continue
		}
		a, uid := x.Owner, x.Uid
		end := int64(1) << 62
		for _, y := range p.Ops {
			if y != x && mayEnd(y, uid, a) && (y.Return == nil || *y.Return > x.Call) && y.Call < end {
				end = y.Call
			}
		}
		for _, r := range p.Ops {
			if r.Op == OpAcquire && r.Uid == uid && r.Owner != a && r.Status == StatusOK &&
				!r.Result.Granted && r.Call > *x.Return && *r.Return < end {
				result = append(result, &Corruption{
					Name:      "double grant",
					Where:     done(r),
					Partition: replace(p, r, Result{Granted: true, Holder: r.Owner, Token: maxToken + 1}),
				})
				break double
			}
		}
	}

	// Token backwards.  A grant G2 invoked after a grant G1 of the uid
	// completed shows G1's token or a later one.
backwards:
	for _, g1 := range p.Ops {
		if !granted(g1) || g1.Result.Token <= 1 {
			continue
		}
		for _, g2 := range p.Ops {
			if granted(g2) && g2.Uid == g1.Uid && g2.Call > *g1.Return {
				r := *g2.Result
				r.Token = g1.Result.Token - 1
				result = append(result, &Corruption{
					Name:      "token backwards",
					Where:     fmt.Sprintf("%s: token %d after %d", done(g2), r.Token, g1.Result.Token),
					Partition: replace(p, g2, r),
				})
				break backwards
			}
		}
	}
	return result
}

// SelfTestResult is the check of one corrupted partition.
type SelfTestResult struct {
	Corruption *Corruption
	Verdict    Verdict
	Elapsed    time.Duration
}

// SelfTest corrupts the script's partition and, of the concurrent
// partitions the checker finds linearizable, the first that allow it, and
// checks every corrupted one; each must be not linearizable.  The recorded
// corruptions are sought in at most tries partitions of each kind.
func SelfTest(h History, tries int, timeout time.Duration) ([]*SelfTestResult, error) {
	var corruptions []*Corruption
	wanted := map[string]bool{"double grant": true, "token backwards": true}
	found := map[string]bool{}
	seen := map[string]int{}
	scripted := false
	for _, p := range Partitions(h) {
		if p.Kind == KindScript {
			c, err := ScriptCorruptions(p)
			if err != nil {
				return nil, err
			}
			if r := CheckPartition(p, nil, timeout); r.Verdict != Linearizable {
				return nil, fmt.Errorf("the script's own history is %s", r.Verdict)
			}
			corruptions = append(corruptions, c...)
			scripted = true
			continue
		}
		if len(found) == len(wanted) || seen[p.Kind] >= tries {
			continue
		}
		seen[p.Kind]++
		if r := CheckPartition(p, nil, timeout); r.Verdict != Linearizable {
			continue
		}
		for _, c := range RecordedCorruptions(p) {
			if !found[c.Name] {
				found[c.Name] = true
				corruptions = append(corruptions, c)
			}
		}
	}
	if !scripted {
		return nil, fmt.Errorf("no script in the history")
	}
	var results []*SelfTestResult
	for _, c := range corruptions {
		r := CheckPartition(c.Partition, nil, timeout)
		results = append(results, &SelfTestResult{Corruption: c, Verdict: r.Verdict, Elapsed: r.Elapsed})
	}
	return results, nil
}
