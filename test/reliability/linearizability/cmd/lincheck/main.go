// Command lincheck records concurrent histories of lockable's lock functions
// and checks them for linearizability (package linearizability).
//
// Usage:
//
//	lincheck record [flags] -out HISTORY
//	    run the workloads against the database the PG* environment names
//	    (lockable created there) and write the history
//	lincheck check [-budget D] [-html DIR] [-allow SQLSTATES] HISTORY
//	    check every partition; print the figures per workload and, for a
//	    partition that is not linearizable, its minimal history (and
//	    Porcupine's HTML view of it in DIR)
//	lincheck selftest HISTORY
//	    corrupt the history (a double grant, a token that goes backwards, a
//	    skipped waiter) and check that the checker rejects every corruption
//
// Exit status: 0 when everything checked passes; 1 when a history is not
// linearizable, the check ran out of time (unknown is not a pass), a call
// failed with an error not allowed, or a corruption was accepted; 2 on a
// usage or recording error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	lin "lockable/linearizability"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var rc int
	switch os.Args[1] {
	case "record":
		rc = record(os.Args[2:])
	case "check":
		rc = check(os.Args[2:])
	case "selftest":
		rc = selftest(os.Args[2:])
	default:
		usage()
	}
	os.Exit(rc)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lincheck record|check|selftest [flags] (see the package comment)")
	os.Exit(2)
}

func record(args []string) int {
	cfg := lin.DefaultConfig()
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	out := fs.String("out", "", "history file to write")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "groups start until then")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "clients per group")
	fs.IntVar(&cfg.Uids, "uids", cfg.Uids, "uids per group")
	fs.IntVar(&cfg.Owners, "owners", cfg.Owners, "owners per group")
	fs.IntVar(&cfg.OpsPerGroup, "ops", cfg.OpsPerGroup, "calls per group")
	fs.IntVar(&cfg.HoldPercent, "hold-percent", cfg.HoldPercent, "calls made in a transaction held open")
	fs.IntVar(&cfg.HoldMaxMs, "hold-ms", cfg.HoldMaxMs, "longest hold, in milliseconds")
	fs.IntVar(&cfg.KillPercent, "kill-percent", cfg.KillPercent, "held transactions whose backend is terminated (at most one per group)")
	fs.IntVar(&cfg.WaitMs, "wait-ms", cfg.WaitMs, "wait of a waiting acquire, in milliseconds")
	fs.DurationVar(&cfg.OpTimeout, "op-timeout", cfg.OpTimeout, "a call still running then is pending")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	slots := fs.String("slots", "line=1,wait=1,release_all=2", "groups running at once, per workload")
	fs.Parse(args)
	if *out == "" || fs.NArg() != 0 || cfg.Uids > lin.MaxUids || cfg.Owners > lin.MaxOwners {
		fmt.Fprintf(os.Stderr, "record: -out is required; at most %d uids and %d owners\n", lin.MaxUids, lin.MaxOwners)
		return 2
	}
	cfg.Slots = map[string]int{}
	for _, kv := range strings.Split(*slots, ",") {
		var n int
		k, v, ok := strings.Cut(kv, "=")
		if _, err := fmt.Sscan(v, &n); !ok || err != nil {
			fmt.Fprintf(os.Stderr, "record: bad -slots %q\n", *slots)
			return 2
		}
		cfg.Slots[k] = n
	}

	h, stats, err := lin.Record(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "record: %v\n", err)
		return 2
	}
	if err := h.WriteFile(*out); err != nil {
		fmt.Fprintf(os.Stderr, "record: %v\n", err)
		return 2
	}
	clients := map[int]bool{}
	for _, op := range h {
		clients[op.Client] = true
	}
	var kinds []string
	total := 0
	for k, n := range stats.Groups {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	fmt.Printf("recorded %d calls in %d groups (%s) in %.1f s: %d clients per group, %d uids, %d owners, %d calls per group;\n",
		len(h), total, strings.Join(kinds, ", "), stats.Elapsed.Seconds(), cfg.Clients, cfg.Uids, cfg.Owners, cfg.OpsPerGroup)
	fmt.Printf("  %d client connections in all; %d%% of calls in a transaction held up to %d ms; %d backends terminated, %d calls timed out; ttl %s (nothing expires); seed %d\n",
		len(clients), cfg.HoldPercent, cfg.HoldMaxMs, stats.Kills, stats.Timeouts, cfg.TTL, cfg.Seed)
	return 0
}

func check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	budget := fs.Duration("budget", 60*time.Second, "time for the whole check; partitions left unchecked then are unknown")
	minBudget := fs.Duration("minimize-budget", 10*time.Second, "time to minimize per workload (per partition with -classify)")
	html := fs.String("html", "", "directory for Porcupine's view of each partition that is not linearizable")
	allow := fs.String("allow", "", "SQLSTATEs a failed call may have, comma-separated")
	show := fs.Int("show", 1, "minimal histories to print per workload")
	candidates := fs.Int("candidates", 5, "partitions to minimize per workload, sharing the minimize budget, to show the shortest")
	views := fs.Int("views", 5, "Porcupine views to write per workload, with -html")
	groups := fs.String("groups", "", "check only these groups, comma-separated")
	classify := fs.Bool("classify", false, "minimize every partition that is not linearizable and name the answers each contradiction needs")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	h, err := lin.ReadHistory(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "check: %v\n", err)
		return 2
	}
	if *groups != "" {
		only := map[string]bool{}
		for _, g := range strings.Split(*groups, ",") {
			only[g] = true
		}
		var kept lin.History
		for _, op := range h {
			if only[fmt.Sprint(op.Group)] {
				kept = append(kept, op)
			}
		}
		h = kept
	}
	allowed := map[string]bool{}
	for _, s := range strings.Split(*allow, ",") {
		if s != "" {
			allowed[s] = true
		}
	}

	start := time.Now()
	reports := lin.Check(h, *budget)
	rc := 0
	fmt.Printf("linearizability check (Porcupine), budget %s:\n", *budget)
	for _, r := range reports {
		pending := fmt.Sprintf("%d pending", r.Pending)
		if r.Answered > 0 {
			pending += fmt.Sprintf(" (%d of them answered before the connection was lost)", r.Answered)
		}
		fmt.Printf("  %s: %d groups, %d calls, %s; %d clients, %d uids, %d owners\n",
			r.Kind, r.Groups, r.Ops, pending, len(r.Clients), len(r.Uids), len(r.Owners))
		if len(r.Failed) > 0 {
			var states []string
			for state := range r.Failed {
				states = append(states, state)
			}
			sort.Strings(states)
			fmt.Printf("    calls failed (rolled back, left out of the check):\n")
			for _, state := range states {
				mark := ""
				if !allowed[state] {
					mark = " NOT ALLOWED"
					rc = 1
				}
				fmt.Printf("      %s x %d%s, first %s\n", state, r.Failed[state], mark, r.FailedHow[state])
			}
		}
		bad := 0
		for _, b := range r.Bad {
			if b.Verdict == lin.NotLinearizable {
				bad++
			}
		}
		verdict := string(r.Verdict)
		switch r.Verdict {
		case lin.NotLinearizable:
			verdict += fmt.Sprintf(" (%d of %d partitions)", bad, r.Partitions)
			rc = 1
		case lin.Unknown:
			verdict += " (the checker ran out of time: not a pass)"
			rc = 1
		}
		fmt.Printf("    %d partitions, longest %d calls; checked in %.3f s: %s\n",
			r.Partitions, r.Longest, r.Elapsed.Seconds(), verdict)
		// Minimize a few and show the shortest listings.
		var minimal []*lin.Minimal
		viewed := 0
		for _, b := range r.Bad {
			if b.Verdict != lin.NotLinearizable {
				continue
			}
			if b.Err != nil {
				fmt.Printf("    %s: %v\n", b.Partition.Name(), b.Err)
				continue
			}
			if *html != "" && viewed < *views {
				viewed++
				if path, err := lin.Visualize(b, *html); err == nil {
					fmt.Printf("    %s: Porcupine's view in %s\n", b.Partition.Name(), path)
				}
			}
			if *classify {
				m := lin.Minimize(b.Partition, *minBudget)
				fmt.Printf("    %s: needs %s\n", b.Partition.Name(), m.Summary())
				minimal = append(minimal, m)
			} else if len(minimal) < *candidates && *show > 0 {
				minimal = append(minimal, lin.Minimize(b.Partition, *minBudget/time.Duration(*candidates)))
			}
		}
		sort.SliceStable(minimal, func(i, j int) bool {
			a, b := minimal[i], minimal[j]
			if a.Complete != b.Complete {
				return a.Complete
			}
			return a.Lines() < b.Lines()
		})
		for i, m := range minimal {
			if i >= *show {
				break
			}
			fmt.Printf("    %s, %d calls; minimal history (the shortest of %d minimized):\n",
				m.Partition.Name(), len(m.Partition.Ops), len(minimal))
			m.Print(os.Stdout, "      ")
		}
	}
	fmt.Printf("  check took %.1f s in all\n", time.Since(start).Seconds())
	return rc
}

func selftest(args []string) int {
	fs := flag.NewFlagSet("selftest", flag.ExitOnError)
	timeout := fs.Duration("timeout", 10*time.Second, "for each check")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	h, err := lin.ReadHistory(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "selftest: %v\n", err)
		return 2
	}
	results, err := lin.SelfTest(h, 20, *timeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "selftest: %v\n", err)
		return 1
	}
	rc := 0
	rejected := 0
	fmt.Println("corrupted histories (each must be rejected):")
	for _, r := range results {
		mark := "rejected"
		if r.Verdict == lin.NotLinearizable {
			rejected++
		} else {
			mark = "ACCEPTED (" + string(r.Verdict) + ")"
			rc = 1
		}
		fmt.Printf("  %-16s %s in %.3f s: %s\n", r.Corruption.Name, mark, r.Elapsed.Seconds(), r.Corruption.Where)
	}
	fmt.Printf("  %d of %d corrupted histories rejected\n", rejected, len(results))
	return rc
}
