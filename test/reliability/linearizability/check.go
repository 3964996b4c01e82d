package linearizability

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Partition is a set of operations checked together: a group, or one uid
// of a group (see the package comment).
type Partition struct {
	Kind  string
	Group int
	Uid   string // "" for the whole group
	Ops   []*Op  // in invocation order, failed operations left out
}

// Name is how reports name the partition.
func (p *Partition) Name() string {
	if p.Uid == "" {
		return fmt.Sprintf("group %d (%s)", p.Group, p.Kind)
	}
	return fmt.Sprintf("group %d (%s), uid %s", p.Group, p.Kind, p.Uid)
}

// Partitions splits a history.  A group whose operations each touch one uid
// (no release_all, no observation of several uids) is split by uid: a lock's
// model state depends on the calls on its own uid only.
func Partitions(h History) []*Partition {
	type key struct {
		group int
		uid   string
	}
	spans := map[int]bool{}
	kinds := map[int]string{}
	for _, op := range h {
		kinds[op.Group] = op.Kind
		if op.Op == OpReleaseAll || op.Op == OpObserve && len(op.Uids) > 1 {
			spans[op.Group] = true
		}
	}
	parts := map[key]*Partition{}
	var order []key
	for _, op := range h {
		if op.Status == StatusFailed {
			continue
		}
		k := key{group: op.Group}
		if !spans[op.Group] {
			k.uid = op.Uid
			if op.Op == OpObserve {
				k.uid = op.Uids[0]
			}
		}
		p := parts[k]
		if p == nil {
			p = &Partition{Kind: kinds[op.Group], Group: op.Group, Uid: k.uid}
			parts[k] = p
			order = append(order, k)
		}
		p.Ops = append(p.Ops, op)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].group != order[j].group {
			return order[i].group < order[j].group
		}
		return order[i].uid < order[j].uid
	})
	result := make([]*Partition, len(order))
	for i, k := range order {
		result[i] = parts[k]
	}
	return result
}

// Verdict of a check.
type Verdict string

const (
	Linearizable    Verdict = "linearizable"
	NotLinearizable Verdict = "NOT linearizable"
	Unknown         Verdict = "unknown" // the checker ran out of time
)

// PartitionResult is the check of one partition.
type PartitionResult struct {
	Partition *Partition
	Verdict   Verdict
	Elapsed   time.Duration
	Info      porcupine.LinearizationInfo
	Names     *Names
	Err       error
}

// CheckPartition checks one partition, giving up after timeout (0: none).
// relaxed marks operations whose answers are not to be checked (see
// Minimize).
func CheckPartition(p *Partition, relaxed map[*Op]bool, timeout time.Duration) *PartitionResult {
	r := &PartitionResult{Partition: p}
	ops, names, err := operations(p.Ops, relaxed)
	if err != nil {
		r.Err = err
		r.Verdict = NotLinearizable
		return r
	}
	r.Names = names
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(Model(names), ops, timeout)
	r.Elapsed = time.Since(start)
	r.Info = info
	switch res {
	case porcupine.Ok:
		r.Verdict = Linearizable
	case porcupine.Illegal:
		r.Verdict = NotLinearizable
	default:
		r.Verdict = Unknown
	}
	return r
}

// KindReport sums up the checks of one workload.
type KindReport struct {
	Kind       string
	Groups     int
	Partitions int
	Ops        int
	Longest    int // operations in the longest partition
	Pending    int
	Answered   int // pending, but with the call's answer
	Failed     map[string]int
	FailedHow  map[string]string // per SQLSTATE, the first such call and its message
	Elapsed    time.Duration
	Verdict    Verdict
	Bad        []*PartitionResult // not linearizable, or unknown
	Clients    map[int]bool
	Uids       map[string]bool
	Owners     map[string]bool
}

// Check checks every partition of h within budget (the whole check); a
// partition the budget cannot cover is unknown.  Reports come per kind.
func Check(h History, budget time.Duration) []*KindReport {
	deadline := time.Now().Add(budget)
	reports := map[string]*KindReport{}
	var kinds []string
	report := func(kind string) *KindReport {
		r := reports[kind]
		if r == nil {
			r = &KindReport{Kind: kind, Failed: map[string]int{}, FailedHow: map[string]string{}, Verdict: Linearizable,
				Clients: map[int]bool{}, Uids: map[string]bool{}, Owners: map[string]bool{}}
			reports[kind] = r
			kinds = append(kinds, kind)
		}
		return r
	}
	groups := map[int]bool{}
	for _, op := range h {
		r := report(op.Kind)
		r.Ops++
		if !groups[op.Group] {
			groups[op.Group] = true
			r.Groups++
		}
		r.Clients[op.Client] = true
		for _, u := range append([]string{op.Uid}, op.Uids...) {
			if u != "" {
				r.Uids[u] = true
			}
		}
		if op.Owner != "" {
			r.Owners[op.Owner] = true
		}
		switch op.Status {
		case StatusPending:
			r.Pending++
			if op.Answered {
				r.Answered++
			}
		case StatusFailed:
			if r.Failed[op.SQLState] == 0 {
				r.FailedHow[op.SQLState] = fmt.Sprintf("%s: %q", op.DescribeCall(Shortener([]*Op{op})), op.Error)
			}
			r.Failed[op.SQLState]++
		}
	}
	for _, p := range Partitions(h) {
		r := report(p.Kind)
		r.Partitions++
		if len(p.Ops) > r.Longest {
			r.Longest = len(p.Ops)
		}
		remaining := time.Until(deadline)
		var res *PartitionResult
		if remaining <= 0 {
			res = &PartitionResult{Partition: p, Verdict: Unknown}
		} else {
			res = CheckPartition(p, nil, remaining)
		}
		r.Elapsed += res.Elapsed
		switch res.Verdict {
		case NotLinearizable:
			r.Verdict = NotLinearizable
			r.Bad = append(r.Bad, res)
		case Unknown:
			if r.Verdict == Linearizable {
				r.Verdict = Unknown
			}
			r.Bad = append(r.Bad, res)
		}
	}
	// In a fixed order: the plain ones first.
	rank := map[string]int{KindScript: 1, KindLine: 2, KindWait: 3, KindReleaseAll: 4}
	sort.SliceStable(kinds, func(i, j int) bool {
		ri, rj := rank[kinds[i]], rank[kinds[j]]
		if ri == 0 {
			ri = 99
		}
		if rj == 0 {
			rj = 99
		}
		return ri < rj
	})
	result := make([]*KindReport, len(kinds))
	for i, k := range kinds {
		result[i] = reports[k]
	}
	return result
}

// Visualize writes Porcupine's HTML view of a partition's check to dir.
func Visualize(res *PartitionResult, dir string) (string, error) {
	if res.Names == nil {
		return "", fmt.Errorf("no check to show")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("group-%d", res.Partition.Group)
	if res.Partition.Uid != "" {
		name += "-" + filepath.Base(sanitize(res.Partition.Uid))
	}
	path := filepath.Join(dir, name+".html")
	if err := porcupine.VisualizePath(Model(res.Names), res.Info, path); err != nil {
		return "", err
	}
	return path, nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
