#!/usr/bin/perl
#
# test/reliability/queue_hammer.pl
#	  The waiting-line hammer: many clients queue for a few hot uids, keep
#	  their places with heartbeats, work when the lock is handed to them and
#	  release it, while a few vanish without a word; every event is recorded
#	  and the history is checked afterwards.
#
# Usage: queue_hammer.pl [--clients N] [--seconds S] [--uids U]
#                        [--ttl-ms MS] [--heartbeat-ms MS] [--hold-ms MS]
#                        [--vanish PERCENT] [--dsn DBI-DSN] [--delegated]
#
# Each client is a process with its own connection and owner name.  In a
# loop it picks a uid and calls lock_acquire(uid, me, ttl, queue => true)
# every --heartbeat-ms until the answer is granted (it was handed the lock,
# or the lock was free); it then enters a guarded section (claims
# hammer.guard for the uid, which fails if another owner is inside), holds
# it up to --hold-ms, leaves it and releases the lock, which hands it to the
# next place in line.  With probability --vanish (per wait, and per grant) a
# waiting client stops heartbeating for longer than the ttl (its place
# lapses), and a holder stops without releasing (its lease runs out and the
# next call that writes on the uid hands the lock on); both then carry on
# under a new owner name.
#
# A listener records every notification on channel "lockable"; PostgreSQL
# delivers them in commit order, so the record is the history of every uid.
# A sampler checks, all along, that no released lock has a live place in
# its line (the hand-off invariant).  Checked afterwards:
#
#	- never two owners inside one uid's section (the guard);
#	- tokens strictly increasing per uid, over every grant announced;
#	- hand-offs in line order: when an owner is handed a lock, every owner
#	  that queued for the uid before it and is still waiting has vanished;
#	- bounded service: an honest waiter is granted the lock after at most
#	  (its position when it joined - 1) grants to others;
#	- every "acquired" notification is a grant a client saw (granted, with
#	  that token) or one that ended (released, expired or broken, with that
#	  token), and every grant a client saw was announced;
#	- the lock rows count exactly the places in lockable.places, and no
#	  released lock has a live place (also sampled during the run);
#	- amcheck finds every index of both tables in agreement with the heap.
#
# Prints the figures; exits 1 on any violation, 2 on a client error.
#
# --delegated runs through a Citus coordinator after lockable.distribute(),
# where Citus delegates each per-uid call to the worker holding the uid's
# shard, if the call is a statement by itself: the clients' calls already
# are (SELECT ... FROM lockable.lock_acquire(...), SELECT
# lockable.lock_release(...), with bind parameters; the set-up checks that
# Citus says "pushing down the function call" for both), and what they saw
# is recorded by the next statement, as always.  In that mode:
#	- a call that fails with 40001 or a connection failure (class 08) has
#	  an unknown outcome (the worker commits a delegated call by itself):
#	  the client records 'unknown' (with the reason), never enters the
#	  section on it, calls lock_release for the uid until it gets an
#	  answer (reconnecting with a short backoff while a node restarts),
#	  which gives up its place or ends the grant that may have stood
#	  (recorded as 'resolve'), and carries on under a new owner name, as
#	  one that vanished does; the line-order check forgives it the same
#	  way, since its place may have lapsed meanwhile.  Any other error is
#	  fatal;
#	- notifications are raised on the node that ran the call, so the
#	  listener LISTENs on every active node (pg_dist_node, coordinator
#	  included) and records what arrives from each in the order it
#	  arrives: each node's notifications keep their commit order, and all
#	  of a uid's come from the node of its shard, so every uid's history
#	  is in commit order, which is all the checks use.  A listener that
#	  loses a node (a worker restarted) fails the run (exit 2), and the
#	  checks that read its record are skipped: it would be incomplete;
#	- the sampler reads the count through the coordinator (each shard's
#	  answer is one snapshot of that shard, and a uid's lock and places
#	  are in one shard) and records it in a second statement; a sample
#	  that fails with an unknown outcome is skipped;
#	- the end checks read lockable.locks and lockable.places through the
#	  coordinator into local tables first, without the "high-water" rows
#	  (uid '') that lock_sweep leaves in every shard, and amcheck runs on
#	  every shard placement of both tables, on every node.

use strict;
use warnings;

use DBI;
use FindBin;
use lib $FindBin::Bin;
use StorageCheck;
use Delegated;
use Getopt::Long;
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my %opt = (
	clients => 32,
	seconds => 30,
	uids => 4,
	'ttl-ms' => 3000,
	'heartbeat-ms' => 50,
	'hold-ms' => 20,
	vanish => 4,
	dsn => 'dbi:Pg:',
	delegated => 0,
);
GetOptions(\%opt, 'clients=i', 'seconds=f', 'uids=i', 'ttl-ms=i',
	'heartbeat-ms=f', 'hold-ms=f', 'vanish=f', 'dsn=s', 'delegated!')
  or die "usage: see the header of $0\n";

sub Connect
{
	return DBI->connect($opt{dsn}, undef, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0 });
}

#---- set-up ----

my $dbh = Connect();
$dbh->do('SET client_min_messages = warning; DROP SCHEMA IF EXISTS hammer CASCADE');
$dbh->do('CREATE SCHEMA hammer');
# what the clients saw
$dbh->do(q{
	CREATE TABLE hammer.seen (
		seq     bigserial PRIMARY KEY,
		uid     text NOT NULL,
		owner   text NOT NULL,
		event   text NOT NULL,
		token   bigint,
		position integer,
		ok      boolean,
		at      timestamptz NOT NULL DEFAULT clock_timestamp())});
# what the listener received, in commit order
$dbh->do(q{
	CREATE TABLE hammer.events (
		n       integer PRIMARY KEY,
		event   text NOT NULL,
		uid     text NOT NULL,
		owner   text NOT NULL,
		token   bigint,
		position integer,
		waiters integer NOT NULL)});
if ($opt{delegated})
{
	# which call an 'unknown' or a 'resolve' is about, and why
	$dbh->do(q{ALTER TABLE hammer.seen ADD COLUMN call text, ADD COLUMN reason text});
	for my $sql (q{SELECT granted, token, position
			FROM lockable.lock_acquire($1, $2, $3::interval, '0', true)},
		q{SELECT lockable.lock_release($1, $2)})
	{
		my @args = ('probe:delegation', 'hammer', '1 s');
		$#args = $sql =~ /\$3/ ? 2 : 1;
		die "not delegated by Citus: $sql\n"
		  unless Delegated::CheckPushedDown($dbh, $sql, @args);
	}
}
$dbh->do(q{CREATE TABLE hammer.guard (uid text PRIMARY KEY, holder text)});
$dbh->do(q{CREATE TABLE hammer.invariant (at timestamptz, bad integer)});
for my $i (1 .. $opt{uids})
{
	$dbh->do('INSERT INTO hammer.guard VALUES (?, NULL)', undef, "line:$i");
}
$dbh->disconnect;

#---- the listener ----

# The parent creates this file when everything the listener must hear has
# been committed.
my $done_flag = "/tmp/queue-hammer-done.$$";
unlink $done_flag;
$ENV{QUEUE_HAMMER_DONE} = $done_flag;

pipe(my $listener_ready, my $listener_tell) or die "pipe: $!";
my $listener = fork;
die "fork: $!" unless defined $listener;
if ($listener == 0)
{
	close $listener_ready;
	my $ok = eval {
		my $dbh = Connect();
		# --delegated: every node, each in its own commit order
		my @listen = ($dbh);
		my @node = ('');
		if ($opt{delegated})
		{
			@node = map { "$_->[0]:$_->[1]" } Delegated::Nodes($dbh);
			@listen = map { Delegated::ConnectNode($dbh, split /:/) } @node;
		}
		$_->do('LISTEN lockable') for @listen;
		print $listener_tell "ready\n";
		close $listener_tell;
		my @events;
		my $quiet_since = undef;
		my $end = time + $opt{seconds};
		my $sel = IO::Select->new(map { $_->{pg_socket} } @listen);
		my $pinged = time;
		# listen until the clients are done and the channel stays quiet
		while (1)
		{
			$sel->can_read(0.1);
			my $got = 0;
			for my $l (@listen)
			{
				while (my $n = $l->pg_notifies)
				{
					push @events, $n->[2];
					$got++;
				}
			}
			if ($opt{delegated} && time > $pinged + 1)
			{
				for my $i (0 .. $#listen)
				{
					die "lost node $node[$i]: the history would be incomplete\n"
					  unless $listen[$i]->ping;
				}
				$pinged = time;
			}
			if (time > $end + 1)
			{
				$quiet_since = time if $got || !defined $quiet_since;
				last if !$got && time - $quiet_since > 2 &&
				  -e "$ENV{QUEUE_HAMMER_DONE}";
			}
		}
		my $ins = $dbh->prepare(q{
			INSERT INTO hammer.events
			SELECT $1, p->>'event', p->>'uid', p->>'owner',
			       (p->>'token')::bigint, (p->>'position')::integer,
			       (p->>'waiters')::integer
			  FROM (SELECT $2::jsonb AS p) AS j});
		$dbh->begin_work;
		$ins->execute($_ + 1, $events[$_]) for 0 .. $#events;
		$dbh->commit;
		1;
	};
	print STDERR "listener: $@" unless $ok;
	_exit($ok ? 0 : 2);
}
close $listener_tell;
<$listener_ready>;

#---- the sampler: no released lock with a live place, all along ----

my $sampler = fork;
die "fork: $!" unless defined $sampler;
if ($sampler == 0)
{
	my $ok = eval {
		my $dbh = Connect();
		my $end = time + $opt{seconds};
		my $check = $dbh->prepare(q{
			INSERT INTO hammer.invariant
			SELECT clock_timestamp(), count(*) FROM lockable.locks AS l
			 WHERE l.owner IS NULL
			   AND EXISTS (SELECT FROM lockable.places AS p
			                WHERE p.uid = l.uid
			                  AND p.expires_at > clock_timestamp())});
		# --delegated: the count through the coordinator, then its record
		my $s = $opt{delegated} && Delegated::Session->new(\&Connect, {
			count => q{
				SELECT clock_timestamp(), count(*) FROM lockable.locks AS l
				 WHERE l.owner IS NULL
				   AND EXISTS (SELECT FROM lockable.places AS p
				                WHERE p.uid = l.uid
				                  AND p.expires_at > clock_timestamp())},
			record => q{INSERT INTO hammer.invariant VALUES ($1, $2)} });
		while (time < $end)
		{
			if ($s)
			{
				my ($answered, $at, $bad) = $s->Call('count');
				$s->Do('record', $at, $bad) if $answered;
			}
			else
			{
				$check->execute;
			}
			sleep 0.05;
		}
		1;
	};
	print STDERR "sampler: $@" unless $ok;
	_exit($ok ? 0 : 2);
}

#---- the clients ----

my %sql = (
	acquire => q{SELECT granted, token, position
		FROM lockable.lock_acquire($1, $2, $3::interval, '0', true)},
	release => q{SELECT lockable.lock_release($1, $2)},
	leave_all => q{SELECT lockable.lock_release_all($1)},
	seen => q{INSERT INTO hammer.seen (uid, owner, event, token, position, ok)
		VALUES ($1, $2, $3, $4, $5, $6)},
	enter => q{UPDATE hammer.guard SET holder = $2
		WHERE uid = $1 AND holder IS NULL},
	exit => q{UPDATE hammer.guard SET holder = NULL
		WHERE uid = $1 AND holder = $2},
);

sub Client
{
	my ($n) = @_;
	my $dbh = Connect();
	my %st = map { $_ => $dbh->prepare($sql{$_}) } keys %sql;
	my $end = time + $opt{seconds};
	my $incarnation = 0;
	my $vanish_pause = 1.5 * $opt{'ttl-ms'} / 1000;    # longer than the ttl
	my $ttl = "$opt{'ttl-ms'} milliseconds";
	srand($$ ^ time);

	my $owner = "client$n.$incarnation";
	while (time < $end)
	{
		my $uid = 'line:' . (1 + int rand $opt{uids});
		my ($granted, $token, $position, $joined);
		# a waiter that will vanish does so after a few heartbeats
		my $vanish_after = rand(100) < $opt{vanish} ? 1 + int rand 10 : -1;

		# queue, and heartbeat until granted
		while (1)
		{
			$st{acquire}->execute($uid, $owner, $ttl);
			($granted, $token, $position) = $st{acquire}->fetchrow_array;
			$st{acquire}->finish;
			if (!$granted && defined $position && !$joined)
			{
				$joined = 1;
				$st{seen}->execute($uid, $owner, 'joined', undef, $position, 1);
			}
			last if $granted;
			if (time >= $end)
			{
				# give the place up; if it was handed to us meanwhile, the
				# release says so and the grant ends
				$st{release}->execute($uid, $owner);
				my ($ok) = $st{release}->fetchrow_array;
				$st{release}->finish;
				$st{seen}->execute($uid, $owner, 'gave up', undef, undef, $ok);
				last;
			}
			if ($joined && $vanish_after-- == 0)
			{
				# vanish: the place lapses
				$st{seen}->execute($uid, $owner, 'vanished waiting', undef, undef, 1);
				sleep $vanish_pause;
				$owner = "client$n." . ++$incarnation;
				undef $joined;
				last;
			}
			sleep $opt{'heartbeat-ms'} / 1000;
		}
		next unless $granted;

		$st{seen}->execute($uid, $owner, 'granted', $token, undef, 1);
		if (rand(100) < $opt{vanish})
		{
			# vanish holding the lock: the lease runs out
			$st{seen}->execute($uid, $owner, 'vanished holding', $token, undef, 1);
			sleep $vanish_pause;
			$owner = "client$n." . ++$incarnation;
			next;
		}
		my $entered = $st{enter}->execute($uid, $owner) + 0;
		$st{seen}->execute($uid, $owner, 'enter', $token, undef, $entered == 1);
		sleep rand($opt{'hold-ms'}) / 1000;
		my $exited = $st{exit}->execute($uid, $owner) + 0;
		$st{seen}->execute($uid, $owner, 'exit', $token, undef, $exited == 1);
		$st{release}->execute($uid, $owner);
		my ($ok) = $st{release}->fetchrow_array;
		$st{release}->finish;
		$st{seen}->execute($uid, $owner, 'released', $token, undef, $ok);
	}
	$dbh->disconnect;
}

# The client of --delegated, the same cycles as Client's, for calls whose
# outcome may be unknown.
sub DelegatedClient
{
	my ($n) = @_;
	my $s = Delegated::Session->new(\&Connect, { %sql,
		seen => q{INSERT INTO hammer.seen
			(uid, owner, event, token, position, ok, call, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)} });
	my $end = time + $opt{seconds};
	my $incarnation = 0;
	my $vanish_pause = 1.5 * $opt{'ttl-ms'} / 1000;    # longer than the ttl
	my $ttl = "$opt{'ttl-ms'} milliseconds";
	srand($$ ^ time);

	my $owner = "client$n.$incarnation";
	# Seen(uid, owner, event, token, position, ok[, call, reason])
	my $seen = sub { my @v = @_; $#v = 7; $s->Do('seen', @v) };
	# Lock(call, uid, args): (answered, the row); an unknown outcome is
	# recorded, settled by lock_release for the uid, and the client goes
	# on under a new name
	my $lock = sub {
		my ($call, $uid, @args) = @_;
		my ($answered, @row) = $s->Call($call, $uid, $owner, @args);
		return (1, @row) if $answered;
		$seen->($uid, $owner, 'unknown', undef, undef, undef, $call, $row[0]);
		my ($ok, $tries) = $s->Settle('release', $uid, $owner);
		$seen->($uid, $owner, 'resolve', undef, undef, $ok, $call,
			"answered after $tries call(s)");
		$owner = "client$n." . ++$incarnation;
		return (0);
	};

	while (time < $end)
	{
		my $uid = 'line:' . (1 + int rand $opt{uids});
		my ($answered, $granted, $token, $position, $joined);
		# a waiter that will vanish does so after a few heartbeats
		my $vanish_after = rand(100) < $opt{vanish} ? 1 + int rand 10 : -1;

		# queue, and heartbeat until granted
		while (1)
		{
			($answered, $granted, $token, $position) = $lock->('acquire', $uid, $ttl);
			last unless $answered;
			if (!$granted && defined $position && !$joined)
			{
				$joined = 1;
				$seen->($uid, $owner, 'joined', undef, $position, 1);
			}
			last if $granted;
			if (time >= $end)
			{
				# give the place up; if it was handed to us meanwhile, the
				# release says so and the grant ends
				($answered, my $ok) = $lock->('release', $uid);
				$seen->($uid, $owner, 'gave up', undef, undef, $ok) if $answered;
				last;
			}
			if ($joined && $vanish_after-- == 0)
			{
				# vanish: the place lapses
				$seen->($uid, $owner, 'vanished waiting', undef, undef, 1);
				sleep $vanish_pause;
				$owner = "client$n." . ++$incarnation;
				undef $joined;
				last;
			}
			sleep $opt{'heartbeat-ms'} / 1000;
		}
		next unless $answered && $granted;

		$seen->($uid, $owner, 'granted', $token, undef, 1);
		if (rand(100) < $opt{vanish})
		{
			# vanish holding the lock: the lease runs out
			$seen->($uid, $owner, 'vanished holding', $token, undef, 1);
			sleep $vanish_pause;
			$owner = "client$n." . ++$incarnation;
			next;
		}
		my $entered = $s->Do('enter', $uid, $owner) + 0;
		$seen->($uid, $owner, 'enter', $token, undef, $entered == 1);
		sleep rand($opt{'hold-ms'}) / 1000;
		my $exited = $s->Do('exit', $uid, $owner) + 0;
		$seen->($uid, $owner, 'exit', $token, undef, $exited == 1);
		($answered, my $ok) = $lock->('release', $uid);
		$seen->($uid, $owner, 'released', $token, undef, $ok) if $answered;
	}
	$s->dbh->disconnect;
}

my %kids;
for my $n (1 .. $opt{clients})
{
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $ok = eval { $opt{delegated} ? DelegatedClient($n) : Client($n); 1 };
		print STDERR "client $n: $@" unless $ok;
		_exit($ok ? 0 : 2);
	}
	$kids{$pid} = $n;
}
my $client_errors = 0;
for my $pid (keys %kids, $sampler)
{
	waitpid($pid, 0);
	$client_errors++ if $? != 0;
}
# Hand on whatever expired with someone still in line, so that every
# grant the clients left behind is announced, then let the listener finish.
$dbh = Connect();
$dbh->do(q{SELECT lockable.lock_sweep('1 hour')});
open my $flag, '>', $done_flag or die;
close $flag;
waitpid($listener, 0);
my $listener_failed = $? != 0;
$client_errors++ if $listener_failed;
unlink $done_flag;

#---- checks ----

my %check = (
	# a section entered while another owner was inside (guard claim failed)
	'guard collision' => q{
		SELECT count(*) FROM hammer.seen
		 WHERE event IN ('enter', 'exit') AND NOT ok},
	# grants of one uid, in commit order, carry growing tokens
	'token not increasing' => q{
		SELECT count(*) FROM (
			SELECT token <= lag(token) OVER (PARTITION BY uid ORDER BY n) AS bad
			  FROM hammer.events WHERE event = 'acquired') s WHERE bad},
	# a hand-off past an earlier waiter that had not vanished
	'hand-off out of line order' => q{
		WITH q AS (
			SELECT e.uid, e.owner, e.n AS queued_n,
			       (SELECT min(x.n) FROM hammer.events x
			         WHERE x.uid = e.uid AND x.owner = e.owner AND x.n > e.n
			           AND x.event IN ('acquired', 'left')) AS done_n
			  FROM hammer.events e WHERE e.event = 'queued')
		SELECT count(*) FROM hammer.events g
		  JOIN q ON q.uid = g.uid AND q.queued_n < g.n
		        AND (q.done_n IS NULL OR q.done_n > g.n)
		        AND q.owner <> g.owner
		 WHERE g.event = 'acquired'
		   AND EXISTS (SELECT FROM q AS mine
		                WHERE mine.uid = g.uid AND mine.owner = g.owner
		                  AND mine.done_n = g.n AND mine.queued_n > q.queued_n)
		   AND NOT EXISTS (SELECT FROM hammer.seen v
		                    WHERE v.owner = q.owner
		                      AND v.event = 'vanished waiting')},
	# an honest waiter served only after more grants than were ahead of it
	'service not bounded' => q{
		WITH q AS (
			SELECT e.uid, e.owner, e.n AS queued_n, e.position,
			       (SELECT min(x.n) FROM hammer.events x
			         WHERE x.uid = e.uid AND x.owner = e.owner AND x.n > e.n
			           AND x.event = 'acquired') AS served_n
			  FROM hammer.events e WHERE e.event = 'queued')
		SELECT count(*) FROM q
		 WHERE q.served_n IS NOT NULL
		   AND (SELECT count(*) FROM hammer.events g
		         WHERE g.uid = q.uid AND g.event = 'acquired'
		           AND g.n > q.queued_n AND g.n < q.served_n) > q.position - 1},
	# an announced grant nobody saw and that never ended
	'acquired not a grant' => q{
		SELECT count(*) FROM hammer.events a
		 WHERE a.event = 'acquired'
		   AND NOT EXISTS (SELECT FROM hammer.seen s
		                    WHERE s.event = 'granted' AND s.uid = a.uid
		                      AND s.owner = a.owner AND s.token = a.token)
		   AND NOT EXISTS (SELECT FROM hammer.events x
		                    WHERE x.uid = a.uid AND x.owner = a.owner
		                      AND x.token = a.token AND x.n > a.n
		                      AND x.event IN ('released', 'expired', 'broken'))
		   AND NOT EXISTS (SELECT FROM lockable.locks l
		                    WHERE l.uid = a.uid AND l.owner = a.owner
		                      AND l.token = a.token)},
	# a grant a client saw that was never announced
	'grant not announced' => q{
		SELECT count(*) FROM hammer.seen s
		 WHERE s.event = 'granted'
		   AND NOT EXISTS (SELECT FROM hammer.events a
		                    WHERE a.event = 'acquired' AND a.uid = s.uid
		                      AND a.owner = s.owner AND a.token = s.token)},
	# the lock rows count the places exactly
	'place count wrong' => q{
		SELECT count(*) FROM lockable.locks l
		 WHERE l.places <> (SELECT count(*) FROM lockable.places p
		                     WHERE p.uid = l.uid)},
	# a released lock with a live place, now or at any sample
	'free lock with a live place' => q{
		SELECT coalesce(sum(bad), 0) FROM hammer.invariant},
	# releases by the holder that worked must be true
	'release refused' => q{
		SELECT count(*) FROM hammer.seen
		 WHERE event = 'released' AND NOT ok},
);
my %fig = (
	grants => q{SELECT count(*) FROM hammer.events WHERE event = 'acquired'},
	'hand-offs' => q{
		SELECT count(*) FROM hammer.events a
		 WHERE a.event = 'acquired'
		   AND EXISTS (SELECT FROM hammer.events q
		                WHERE q.event = 'queued' AND q.uid = a.uid
		                  AND q.owner = a.owner AND q.n < a.n)},
	joins => q{SELECT count(*) FROM hammer.events WHERE event = 'queued'},
	'expiry hand-offs' => q{SELECT count(*) FROM hammer.events WHERE event = 'expired'},
	'places lapsed' => q{SELECT count(*) FROM hammer.seen WHERE event = 'vanished waiting'},
	'holders vanished' => q{SELECT count(*) FROM hammer.seen WHERE event = 'vanished holding'},
	sections => q{SELECT count(*) FROM hammer.seen WHERE event = 'enter'},
	samples => q{SELECT count(*) FROM hammer.invariant},
	'longest line' => q{SELECT coalesce(max(position), 0) FROM hammer.events WHERE event = 'queued'},
);

if ($opt{delegated})
{
	# The rows as the coordinator reads them from every shard, into local
	# tables that the checks can join, without lock_sweep's high-water rows.
	$dbh->do(q{CREATE TABLE hammer.locks_end AS
		SELECT * FROM lockable.locks WITH NO DATA});
	$dbh->do(q{INSERT INTO hammer.locks_end
		SELECT * FROM lockable.locks WHERE uid <> ''});
	$dbh->do(q{CREATE TABLE hammer.places_end AS
		SELECT * FROM lockable.places WITH NO DATA});
	$dbh->do(q{INSERT INTO hammer.places_end SELECT * FROM lockable.places});
	s/\blockable\.(locks|places)\b/hammer.$1_end/g for values %check;
	# a waiter whose call had an unknown outcome may have lost its place
	$check{'hand-off out of line order'} =~
	  s/v\.event = 'vanished waiting'/v.event IN ('vanished waiting', 'unknown')/
	  or die "no vanished waiting in the line-order check";
	%check = (%check,
		# every unknown outcome was settled
		'unknown not settled' => q{
			SELECT abs((SELECT count(*) FROM hammer.seen WHERE event = 'unknown') -
			           (SELECT count(*) FROM hammer.seen WHERE event = 'resolve'))},
	);
	# A listener that lost a node (a worker restarted) left no history to
	# check: the run fails (exit 2) on the checks that do not need it.
	if ($listener_failed)
	{
		my @skip = grep { $check{$_} =~ /hammer\.events/ } sort keys %check;
		delete @check{@skip};
		$listener_failed = join(', ', @skip);
	}
	%fig = (%fig,
		Delegated::Figures('hammer.seen'),
	);
}
my %n = map { $_ => $dbh->selectrow_array($fig{$_}) } keys %fig;
my $violations = 0;
my @bad;
for my $name (sort keys %check)
{
	my $count = $dbh->selectrow_array($check{$name});
	next unless $count;
	$violations += $count;
	push @bad, "$name: $count";
}

my ($amcheck, @storage) = $opt{delegated}
  ? StorageCheck::CheckShards($dbh, sub { Delegated::ConnectNode($dbh, @_) },
	'lockable.locks', 'lockable.places')
  : StorageCheck::Check($dbh, 'lockable.locks', 'lockable.places');
$violations += @storage;
push @bad, @storage;
$dbh->disconnect;

printf "queue hammer: clients=%d seconds=%g uids=%d ttl=%dms heartbeat=%gms hold<=%gms vanish=%g%%\n",
  $opt{clients}, $opt{seconds}, $opt{uids}, $opt{'ttl-ms'}, $opt{'heartbeat-ms'},
  $opt{'hold-ms'}, $opt{vanish};
printf "  grants=%d hand-offs=%d expiry_hand-offs=%d joins=%d longest_line=%d sections=%d\n",
  $n{grants}, $n{'hand-offs'}, $n{'expiry hand-offs'}, $n{joins},
  $n{'longest line'}, $n{sections};
printf "  places_lapsed=%d holders_vanished=%d invariant_samples=%d violations=%d\n",
  $n{'places lapsed'}, $n{'holders vanished'}, $n{samples}, $violations;
if ($opt{delegated})
{
	print "  delegated: unknown outcomes: $n{unknowns}\n";
	print "    why: $n{'unknown reasons'}\n" if $n{'unknown reasons'};
	print "    settled by lock_release (answered true/false): $n{settled}\n";
	print "    the listener lost a node: not checked: $listener_failed\n"
	  if $listener_failed;
}
print "  storage: $amcheck\n";
print "  VIOLATION $_\n" for @bad;
print "  $client_errors process(es) failed\n" if $client_errors;

exit 2 if $client_errors;
exit 1 if $violations;
if ($n{'hand-offs'} < $opt{clients} || $n{'expiry hand-offs'} == 0
	|| $n{'places lapsed'} == 0)
{
	print "  too little happened to prove anything\n";
	exit 1;
}
exit 0;
