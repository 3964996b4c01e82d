package linearizability

// The sequential model of lockable, as the README states it (Lease
// semantics, Waiting in line, Reference), for leases that never run out
// while a history is recorded: every ttl is an hour, so no lock expires and
// no place lapses, and expiry is outside the model.
//
// The state of one uid is its holder (an owner, or nobody), the token of its
// last grant, and its line (the owners with a place, in order).  In one
// step, atomically:
//
//	acquire(uid, owner, queue)
//	    holder is owner:    a renewal: granted, the same token, the line
//	                        unchanged (waiters = its length, no position).
//	    held by another:    refused, naming the holder, no token; with
//	                        queue, owner takes a place at the end of the
//	                        line unless it has one; position is owner's
//	                        place (none without one), waiters the length.
//	    free:               the line is empty (see release); a fresh grant
//	                        with a token greater than every earlier token
//	                        of the uid.
//	    A waiting acquire (wait > 0, never with queue) is the same step: it
//	    is granted at the moment it is, or refused naming a live holder
//	    other than the caller; or, when its bound ended while an open
//	    transaction was changing the lock, refused naming nobody, which is
//	    a timeout: it changed nothing and says nothing, so it is a step
//	    that any state allows.
//	release(uid, owner)
//	    holder is owner:    true; the lock goes to the head of the line, if
//	                        any (a new, greater token; the head's place
//	                        removed), else it is free.
//	    owner has a place:  true; the place is removed.
//	    otherwise:          false, nothing changes.
//	release_all(owner)
//	    release(uid, owner) on every uid at once; returns how many were
//	    true.
//	observe(uids)
//	    each uid's holder and its token, and its line.
//
// A hand-off's token is not seen by the release that makes it: the state
// keeps a lower bound (the token is greater than the one before) until the
// new holder's renewal, or an observation, shows it.  A pending operation
// may take its step at any moment after its invocation, or never: the model
// is nondeterministic (Porcupine's NondeterministicModel), and a pending
// grant whose token is unknown leaves a lower bound too.  A call made in a
// transaction held open after it is one operation, from BEGIN to COMMIT's
// answer: it takes its step at one moment in between (its effects show at
// COMMIT, and the row locks it took keep every other change of its uids
// off until then).

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Sizes of a partition's state.  The recorder's groups stay within them.
const (
	MaxUids   = 4
	MaxOwners = 8
)

// Outside the partition's names: an answer naming an owner the partition
// never used.
const strangerOwner = 127

// Kinds of operation, as the model sees them.
type opKind uint8

const (
	kindAcquire opKind = iota
	kindRelease
	kindReleaseAll
	kindObserve
)

// What is known of an operation's outcome.
type outcome uint8

const (
	// Answered: the step must match the answer.
	outcomeComplete outcome = iota
	// Connection lost with no answer: the step may happen, with any
	// answer, or not at all.
	outcomePending
	// Connection lost after the call answered, before COMMIT's answer: the
	// step may happen, with that answer, or not at all.
	outcomePendingAnswered
	// For minimizing: the step happens within the operation's interval,
	// with whatever answer the state gives.
	outcomeRelaxed
)

// Input is the call of an operation, with uids and owners numbered within
// the partition.
type Input struct {
	Kind  opKind
	Uid   int8
	Owner int8
	Queue bool
	Wait  bool
	Uids  uint8 // observe: a bit per uid
}

// View is one uid as observed.
type View struct {
	Holder int8 // -1: nobody
	Token  int64
	N      int8
	Line   [MaxOwners]int8
}

// Output is an operation's answer, with what is known of its outcome.
type Output struct {
	Outcome  outcome
	Granted  bool
	Holder   int8 // -1: NULL
	Token    int64
	Waiters  int
	Position int
	Released bool
	Count    int64
	Views    [MaxUids]View
}

// uidState is the model's state of one uid.
type uidState struct {
	Holder int8 // -1: free
	// Token is the exact token of the last grant when Known; otherwise a
	// lower bound of it (a hand-off, or a pending grant, made a greater
	// token than the one before, which no answer has shown yet).
	Known bool
	Token int64
	N     int8
	Line  [MaxOwners]int8
}

// State is the model's state of a partition: comparable with ==.
type State [MaxUids]uidState

// InitialState: every uid free, never granted, nobody in line.
func InitialState() State {
	var s State
	for i := range s {
		s[i].Holder = -1
		s[i].Known = true
		for j := range s[i].Line {
			s[i].Line[j] = -1
		}
	}
	return s
}

func (u *uidState) find(owner int8) int {
	for i := 0; i < int(u.N); i++ {
		if u.Line[i] == owner {
			return i
		}
	}
	return -1
}

func (u *uidState) remove(i int) {
	copy(u.Line[i:u.N], u.Line[i+1:u.N])
	u.N--
	u.Line[u.N] = -1
}

// handOff ends the holder's grant: the head of the line, if any, is granted
// the lock with a new token, greater than the last, that nobody has seen.
func (u *uidState) handOff() {
	if u.N == 0 {
		u.Holder = -1
		return
	}
	u.Holder = u.Line[0]
	u.remove(0)
	u.Known = false
	u.Token++
}

// seeToken checks a token shown as the current grant's and makes it known.
func (u *uidState) seeToken(token int64) bool {
	if u.Known && token != u.Token || !u.Known && token < u.Token {
		return false
	}
	u.Known, u.Token = true, token
	return true
}

// releaseOne is release(uid, owner) on one uid's state.
func (u *uidState) releaseOne(owner int8) bool {
	if u.Holder == owner {
		u.handOff()
		return true
	}
	if i := u.find(owner); i >= 0 {
		u.remove(i)
		return true
	}
	return false
}

// apply takes the step of in on s; with check, the answer must be out.
func apply(s State, in Input, out *Output, check bool) (State, bool) {
	switch in.Kind {
	case kindAcquire:
		u := &s[in.Uid]
		if check && in.Wait && !out.Granted && out.Holder == -1 {
			// The bound ended on an open transaction's change: a timeout.
			return s, true
		}
		switch {
		case u.Holder == in.Owner:
			if check {
				if !out.Granted || out.Holder != in.Owner || out.Waiters != int(u.N) ||
					out.Position != 0 || !u.seeToken(out.Token) {
					return s, false
				}
			}
		case u.Holder >= 0:
			pos := u.find(in.Owner) + 1
			if in.Queue && pos == 0 {
				u.Line[u.N] = in.Owner
				u.N++
				pos = int(u.N)
			}
			if check && (out.Granted || out.Holder != u.Holder || out.Token != 0 ||
				out.Waiters != int(u.N) || out.Position != pos) {
				return s, false
			}
		case u.N == 0:
			if check {
				if !out.Granted || out.Holder != in.Owner || out.Token <= u.Token ||
					out.Waiters != 0 || out.Position != 0 {
					return s, false
				}
				u.Known, u.Token = true, out.Token
			} else {
				u.Known = false
				u.Token++
			}
			u.Holder = in.Owner
		default:
			// A free lock with a live place: release always hands on, so
			// the model never gets here.
			return s, false
		}
	case kindRelease:
		released := s[in.Uid].releaseOne(in.Owner)
		if check && out.Released != released {
			return s, false
		}
	case kindReleaseAll:
		var count int64
		for i := range s {
			if s[i].releaseOne(in.Owner) {
				count++
			}
		}
		if check && out.Count != count {
			return s, false
		}
	case kindObserve:
		for i := range s {
			if in.Uids&(1<<i) == 0 {
				continue
			}
			u := &s[i]
			v := &out.Views[i]
			if !check {
				continue
			}
			if v.Holder != u.Holder || v.N != u.N || v.Line != u.Line {
				return s, false
			}
			if u.Holder >= 0 && !u.seeToken(v.Token) {
				return s, false
			}
		}
	}
	return s, true
}

// Step is the nondeterministic step function: every state the operation
// can lead to, none if it cannot happen with its answer.
func Step(state interface{}, input interface{}, output interface{}) []interface{} {
	s := state.(State)
	in := input.(Input)
	out := output.(Output)
	switch out.Outcome {
	case outcomeComplete:
		if next, ok := apply(s, in, &out, true); ok {
			return []interface{}{next}
		}
		return nil
	case outcomeRelaxed:
		next, _ := apply(s, in, &out, false)
		return []interface{}{next}
	case outcomePendingAnswered:
		states := []interface{}{s}
		if next, ok := apply(s, in, &out, true); ok && next != s {
			states = append(states, next)
		}
		return states
	default: // pending
		states := []interface{}{s}
		if next, _ := apply(s, in, &out, false); next != s {
			states = append(states, next)
		}
		return states
	}
}

// hashState for Porcupine's cache.
func hashState(state interface{}) uint64 {
	s := state.(State)
	h := fnv.New64a()
	var b [8]byte
	for i := range s {
		u := &s[i]
		b[0] = byte(u.Holder)
		b[1] = byte(u.N)
		if u.Known {
			b[2] = 1
		} else {
			b[2] = 0
		}
		h.Write(b[:3])
		t := u.Token
		for j := 0; j < 8; j++ {
			b[j] = byte(t >> (8 * j))
		}
		h.Write(b[:])
		for j := 0; j < int(u.N); j++ {
			h.Write([]byte{byte(u.Line[j])})
		}
	}
	return h.Sum64()
}

// Names numbers the uids and owners of a partition, for the model, and
// gives them back for reports.
type Names struct {
	Uids   []string
	Owners []string
	uid    map[string]int8
	owner  map[string]int8
}

func newNames() *Names {
	return &Names{uid: map[string]int8{}, owner: map[string]int8{}}
}

func (n *Names) uidIndex(uid string) (int8, error) {
	if i, ok := n.uid[uid]; ok {
		return i, nil
	}
	if len(n.Uids) == MaxUids {
		return 0, fmt.Errorf("more than %d uids in a partition", MaxUids)
	}
	i := int8(len(n.Uids))
	n.uid[uid] = i
	n.Uids = append(n.Uids, uid)
	return i, nil
}

func (n *Names) ownerIndex(owner string) (int8, error) {
	if i, ok := n.owner[owner]; ok {
		return i, nil
	}
	if len(n.Owners) == MaxOwners {
		return 0, fmt.Errorf("more than %d owners in a partition", MaxOwners)
	}
	i := int8(len(n.Owners))
	n.owner[owner] = i
	n.Owners = append(n.Owners, owner)
	return i, nil
}

// answerOwner is an owner as an answer names it: -1 for NULL, and a number
// no owner has for a name the partition never used.
func (n *Names) answerOwner(name string) int8 {
	if name == "" {
		return -1
	}
	if i, ok := n.owner[name]; ok {
		return i
	}
	return strangerOwner
}

func (n *Names) ownerName(i int8) string {
	switch {
	case i == -1:
		return "nobody"
	case i >= 0 && int(i) < len(n.Owners):
		return n.Owners[i]
	}
	return "a stranger"
}

// operations turns a partition's operations into Porcupine's, in the same
// order, and the names it numbered.  Failed operations had no effect and
// must have been left out.  Pending operations return at "never".
func operations(ops []*Op, relaxed map[*Op]bool) ([]porcupine.Operation, *Names, error) {
	names := newNames()
	// Number the owners and uids first, so that an answer naming one used
	// only later still means it.
	for _, op := range ops {
		if op.Uid != "" {
			if _, err := names.uidIndex(op.Uid); err != nil {
				return nil, nil, err
			}
		}
		for _, u := range op.Uids {
			if _, err := names.uidIndex(u); err != nil {
				return nil, nil, err
			}
		}
		if op.Owner != "" {
			if _, err := names.ownerIndex(op.Owner); err != nil {
				return nil, nil, err
			}
		}
	}
	const never = int64(1) << 62
	result := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.Status == StatusFailed {
			return nil, nil, fmt.Errorf("failed operation in a partition")
		}
		in := Input{}
		switch op.Op {
		case OpAcquire:
			in.Kind = kindAcquire
			in.Queue = op.Queue
			in.Wait = op.WaitMs > 0
		case OpRelease:
			in.Kind = kindRelease
		case OpReleaseAll:
			in.Kind = kindReleaseAll
		case OpObserve:
			in.Kind = kindObserve
		default:
			return nil, nil, fmt.Errorf("unknown operation %q", op.Op)
		}
		if op.Uid != "" {
			in.Uid = names.uid[op.Uid]
		}
		if op.Owner != "" {
			in.Owner = names.owner[op.Owner]
		}
		for _, u := range op.Uids {
			in.Uids |= 1 << names.uid[u]
		}

		out := Output{Holder: -1}
		for i := range out.Views {
			out.Views[i].Holder = -1
			for j := range out.Views[i].Line {
				out.Views[i].Line[j] = -1
			}
		}
		ret := never
		switch {
		case op.Status == StatusPending && op.Answered && op.Result != nil:
			out.Outcome = outcomePendingAnswered
		case op.Status == StatusPending:
			out.Outcome = outcomePending
		case relaxed[op]:
			out.Outcome = outcomeRelaxed
			ret = *op.Return
		default:
			out.Outcome = outcomeComplete
			if op.Return == nil || op.Result == nil {
				return nil, nil, fmt.Errorf("answered operation without its answer")
			}
			ret = *op.Return
		}
		if r := op.Result; r != nil {
			out.Granted = r.Granted
			out.Holder = names.answerOwner(r.Holder)
			out.Token = r.Token
			out.Waiters = r.Waiters
			out.Position = r.Position
			out.Released = r.Released
			out.Count = r.Count
			for _, lv := range r.Locks {
				i, ok := names.uid[lv.Uid]
				if !ok {
					return nil, nil, fmt.Errorf("observation of uid %q not asked for", lv.Uid)
				}
				v := &out.Views[i]
				v.Holder = names.answerOwner(lv.Holder)
				v.Token = lv.Token
				if len(lv.Line) > MaxOwners {
					// longer than any line the model can have: never matches
					v.N = MaxOwners + 1
					continue
				}
				v.N = int8(len(lv.Line))
				for j, w := range lv.Line {
					v.Line[j] = names.answerOwner(w)
				}
			}
		}
		result = append(result, porcupine.Operation{
			ClientId: op.Client,
			Input:    in,
			Call:     op.Call,
			Output:   out,
			Return:   ret,
			Metadata: op,
		})
	}
	return result, names, nil
}

// Model is the Porcupine model of a partition numbered by names.
func Model(names *Names) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{InitialState()} },
		Step: Step,
		Hash: hashState,
		DescribeOperation: func(input, output interface{}) string {
			return describeModelOp(names, input.(Input), output.(Output))
		},
		DescribeState: func(state interface{}) string {
			return describeState(names, state.(State))
		},
		DescribeOperationMetadata: func(info interface{}) string {
			if op, ok := info.(*Op); ok {
				return op.Describe(nil)
			}
			return ""
		},
	}
	return nm.ToModel()
}

func describeModelOp(names *Names, in Input, out Output) string {
	var s string
	switch in.Kind {
	case kindAcquire:
		s = fmt.Sprintf("acquire(%s, %s", names.Uids[in.Uid], names.ownerName(in.Owner))
		if in.Queue {
			s += ", queue"
		}
		if in.Wait {
			s += ", wait"
		}
		s += ")"
		if out.Outcome == outcomeComplete || out.Outcome == outcomePendingAnswered {
			if out.Granted {
				s += fmt.Sprintf(" -> granted %d", out.Token)
			} else {
				s += fmt.Sprintf(" -> refused (%s, pos %d)", names.ownerName(out.Holder), out.Position)
			}
		}
	case kindRelease:
		s = fmt.Sprintf("release(%s, %s)", names.Uids[in.Uid], names.ownerName(in.Owner))
		if out.Outcome == outcomeComplete || out.Outcome == outcomePendingAnswered {
			s += fmt.Sprintf(" -> %t", out.Released)
		}
	case kindReleaseAll:
		s = fmt.Sprintf("release_all(%s)", names.ownerName(in.Owner))
		if out.Outcome == outcomeComplete || out.Outcome == outcomePendingAnswered {
			s += fmt.Sprintf(" -> %d", out.Count)
		}
	case kindObserve:
		s = "observe"
	}
	switch out.Outcome {
	case outcomePending:
		s += " (pending)"
	case outcomePendingAnswered:
		s += " (commit unknown)"
	case outcomeRelaxed:
		s += " (answer not used)"
	}
	return s
}

func describeState(names *Names, s State) string {
	var parts []string
	for i, uid := range names.Uids {
		u := s[i]
		p := uid + ": "
		if u.Holder < 0 {
			p += "free"
		} else {
			p += names.ownerName(u.Holder)
		}
		if u.Known {
			p += fmt.Sprintf(" token %d", u.Token)
		} else {
			p += fmt.Sprintf(" token >= %d", u.Token)
		}
		if u.N > 0 {
			var line []string
			for j := 0; j < int(u.N); j++ {
				line = append(line, names.ownerName(u.Line[j]))
			}
			p += " line [" + strings.Join(line, " ") + "]"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
