#!/usr/bin/perl
#
# test/reliability/hammer.pl
#	  The mutual-exclusion hammer: many clients fight over a few hot uids,
#	  every step is logged in the database, and the log is checked afterwards.
#
# Usage: hammer.pl [--mode exclusion|takeover] [--clients N] [--seconds S]
#                  [--uids U] [--ttl INTERVAL] [--hold-ms MS] [--wait INTERVAL]
#                  [--fenced] [--sweep] [--ddl reindex|repack] [--padding N]
#                  [--dsn DBI-DSN] [--no-server-prepare]
#                  [--delegated [--move-shards SECONDS]]
#
# Each client is a process with its own connection and its own owner name.
#
# exclusion: each cycle is acquire -> critical section -> release, with a ttl
#	far longer than the section.  The section is guarded: entering it claims
#	hammer.guard for the uid and fails if another owner is inside.  Checked
#	afterwards: no two owners inside one uid's section at once (guard and
#	log order), tokens strictly increasing per uid in grant order, as many
#	sections entered as grants, every release accepted.
#
# takeover: short ttl, and holders sleep up to --hold-ms (longer than the
#	ttl) before their write, so leases run out under them and waiting
#	clients take over all the time.  The write is the section: with
#	--fenced an UPDATE of hammer.resource protected by lockable's
#	enforce_lock trigger with SET LOCAL lockable.owner / lockable.token
#	(a stale token is refused with 55P03); without it, lock_verify.  A
#	holder whose write was refused must then have its release refused
#	(false) and its renew refused (never the old token again).  Checked
#	afterwards: tokens strictly increasing per uid in grant order, no
#	write accepted from a grant older than a grant logged before it, and
#	hammer.resource agrees with the accepted writes.
#
# --sweep adds a process that runs lock_sweep() all the time, so released
# rows vanish and grants keep racing to re-create them (INSERT ... ON
# CONFLICT) instead of updating a row that is already there.
#
# --ddl adds a process that works on lockable.locks the way a DBA would while
# the clients run, with an extra index on owner, so that grants and
# releases are non-HOT updates that must reach every index:
#	reindex: REINDEX INDEX CONCURRENTLY of the primary key and of the extra
#	         index, and CREATE INDEX CONCURRENTLY / DROP INDEX CONCURRENTLY of
#	         a third one, in a loop;
#	repack:  pg_repack --table lockable.locks (Debian's postgresql-15-repack,
#	         connecting with the PG* environment), in a loop.
# --padding N first fills lockable.locks with N released rows, so that a
# rebuild takes long enough to overlap the clients' writes.
#
# After every run, whatever the mode: lockable.locks has one row per uid;
# each hot uid's row carries the token of the last grant logged for it (a
# grant that was acknowledged and then lost shows up here), and in
# exclusion mode it is released; and, where the amcheck extension exists,
# bt_index_check(index, true) on every index of the table and verify_heapam
# on the table find nothing.
#
# Every log row gets its sequence number when it is written, so log order is
# real-time order across clients.  Prints the figures; exits 1 on any
# violation, 2 on a client error.
#
# --delegated runs through a Citus coordinator after lockable.distribute():
# lockable.locks and lockable.places are hash-distributed on uid, and Citus
# delegates each per-uid call to the worker that holds the uid's shard,
# where it commits on its own, but only a call that is a statement by
# itself.  So every lock call (acquire, release, verify, sweep) is its own
# statement, SELECT ... FROM lockable.lock_acquire(...) or SELECT
# lockable.lock_release(...) with bind parameters (the set-up checks that
# Citus says "pushing down the function call" for each), and its log row
# is written by the next statement, once the answer is in; the log and the
# guard stay local tables of the coordinator.  Not with --fenced, --ddl or
# --padding (enforce_lock is refused on Citus tables, and the other two
# work on the coordinator's empty shell of lockable.locks).  Why the checks
# stay sound when a grant and its log row are two statements:
#	- a grant is logged by its holder before it enters, and so, in
#	  exclusion mode (leases never run out), before it releases, hence
#	  before the next grant of the uid is made and logged: the grants'
#	  log order is still their real order, and "tokens strictly increasing
#	  per uid in grant order", the guard and the sections are checked as
#	  before;
#	- in takeover mode a lease may run out, and the next grant be made and
#	  logged, before its holder has logged it, so log order proves
#	  nothing there.  Each lock call's row records when the call was sent
#	  (sent, the client's clock, which is the server's on this machine)
#	  besides when its row was written (at, after the answer): a grant
#	  whose row was written before another grant of its uid was asked for
#	  was made before it, and must carry a lower token; a write that
#	  lock_verify accepted is stale only if a grant with a higher token
#	  was logged before the verify was sent;
#	- a call that fails with 40001 (its shard moved while it ran) or with a
#	  connection failure (SQLSTATE class 08: the coordinator lost the
#	  worker, which may have committed the call all the same) has an
#	  unknown outcome: it is logged as event 'unknown' (with the call and
#	  the reason), its client never enters the section on it, and it calls
#	  lock_release for the uid until it gets an answer (reconnecting with
#	  a short backoff, for up to 30 s, while a node restarts), which it
#	  logs as event 'resolve': true means a grant of its stood and is now
#	  ended.  Any other error is fatal.  A release whose outcome is
#	  unknown is resolved the same way, and does not count as a refused
#	  release;
#	- at the end each hot uid's row must carry the token of the last grant
#	  logged; a higher token is accepted only if an acquire with an
#	  unknown outcome was logged for the uid after that grant (in
#	  takeover mode: after that grant was asked for), since that grant may
#	  have stood; a lower one is always a violation (an acknowledged grant
#	  lost).  The rows are read through the coordinator into a local table
#	  first, without the "high-water" rows (uid '') that lock_sweep leaves
#	  in every shard;
#	- the storage check runs on every shard placement of lockable.locks and
#	  lockable.places, on every node.
# --move-shards SECONDS (with --delegated) adds a process that, every
# SECONDS, moves the shard of a random hot uid (and the colocated shard of
# lockable.places) to another worker with citus_move_shard_placement
# (block_writes), and logs an event 'move' for every hot uid of the shard:
# tokens must keep increasing per uid across the moves, though they are
# drawn from another node's counter afterwards.  A failed move is printed,
# not a violation.

use strict;
use warnings;

use DBI;
use FindBin;
use lib $FindBin::Bin;
use StorageCheck;
use Delegated;
use Getopt::Long;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my %opt = (
	mode => 'exclusion',
	clients => 32,
	seconds => 20,
	uids => 4,
	ttl => undef,
	'hold-ms' => undef,
	wait => '2 s',
	fenced => 0,
	sweep => 0,
	ddl => '',
	padding => 0,
	dsn => 'dbi:Pg:',
	'server-prepare' => 1,
	delegated => 0,
	'move-shards' => 0,
);
GetOptions(\%opt, 'mode=s', 'clients=i', 'seconds=f', 'uids=i', 'ttl=s',
	'hold-ms=f', 'wait=s', 'fenced!', 'sweep!', 'ddl=s', 'padding=i', 'dsn=s',
	'server-prepare!', 'delegated!', 'move-shards=f')
  or die "usage: see the header of $0\n";
die "--delegated does not go with --fenced, --ddl or --padding\n"
  if $opt{delegated} && ($opt{fenced} || $opt{ddl} || $opt{padding});
die "--move-shards needs --delegated\n"
  if $opt{'move-shards'} && !$opt{delegated};
die "unknown --ddl \"$opt{ddl}\"\n"
  unless $opt{ddl} =~ /^(|reindex|repack)$/;
die "unknown mode \"$opt{mode}\"\n"
  unless $opt{mode} eq 'exclusion' || $opt{mode} eq 'takeover';
my $takeover = $opt{mode} eq 'takeover';
$opt{ttl} //= $takeover ? '40 milliseconds' : '30 seconds';
$opt{'hold-ms'} //= $takeover ? 80 : 2;

sub Connect
{
	my $dbh = DBI->connect($opt{dsn}, undef, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0,
		  pg_server_prepare => $opt{'server-prepare'} });
	return $dbh;
}

#---- set-up ----

my $dbh = Connect();
# one string, so that a transaction-pooling pooler runs both on one backend
$dbh->do('SET client_min_messages = warning; DROP SCHEMA IF EXISTS hammer CASCADE');
$dbh->do('CREATE SCHEMA hammer');
$dbh->do(q{
	CREATE TABLE hammer.log (
		seq     bigserial PRIMARY KEY,
		uid     text NOT NULL,
		owner   text NOT NULL,
		token   bigint,
		event   text NOT NULL,
		ok      boolean,
		backend integer NOT NULL DEFAULT pg_backend_pid(),
		at      timestamptz NOT NULL DEFAULT clock_timestamp())});
if ($opt{delegated})
{
	# when the lock call was sent, which call an 'unknown' or a 'resolve'
	# row is about, and why
	$dbh->do(q{ALTER TABLE hammer.log
		ADD COLUMN sent timestamptz, ADD COLUMN call text, ADD COLUMN reason text});
}
$dbh->do(q{CREATE TABLE hammer.guard (uid text PRIMARY KEY, holder text)});
$dbh->do(q{CREATE TABLE hammer.resource (
		uid text PRIMARY KEY, writes bigint NOT NULL, last_token bigint)});
for my $i (1 .. $opt{uids})
{
	$dbh->do('INSERT INTO hammer.guard VALUES (?, NULL)', undef, "hot:$i");
	$dbh->do('INSERT INTO hammer.resource VALUES (?, 0, NULL)', undef, "hot:$i");
}
if ($opt{fenced})
{
	# Refuse every write to a row whose lock the writer does not hold with
	# exactly its token (issue 3's enforce_lock).
	$dbh->do(q{SELECT lockable.enable_lock_enforcement(
		'hammer.resource', 'uid', '', true)});
}
if ($opt{ddl})
{
	# Grants and releases change owner: with an index on it they are
	# non-HOT updates, which must insert into every index.
	$dbh->do('CREATE INDEX IF NOT EXISTS locks_owner_hammer ON lockable.locks (owner)');
}
if ($opt{ddl} eq 'repack')
{
	$dbh->do('CREATE EXTENSION IF NOT EXISTS pg_repack');
}
if ($opt{padding})
{
	$dbh->do(q{INSERT INTO lockable.locks (uid, owner, token, acquired_at, expires_at)
		SELECT 'pad:' || g, NULL, nextval('lockable.token_seq'), now(), now()
		  FROM generate_series(1, ?) AS g ON CONFLICT (uid) DO NOTHING},
		undef, $opt{padding});
}
$dbh->disconnect;

#---- the clients ----

# The statements each client runs.  Acquire and release log themselves in
# the same statement, so a logged grant is exactly a committed grant.
my %sql = (
	acquire => q{
		WITH a AS (SELECT * FROM lockable.lock_acquire($1, $2, $3::interval, $4::interval)),
		     g AS (INSERT INTO hammer.log (uid, owner, token, event)
		           SELECT uid, owner, token, 'grant' FROM a WHERE granted)
		SELECT granted, token FROM a},
	release => q{
		WITH r AS (SELECT lockable.lock_release($1, $2) AS ok)
		INSERT INTO hammer.log (uid, owner, token, event, ok)
		SELECT $1, $2, $3::bigint, $4, ok FROM r RETURNING ok},
	enter => q{
		WITH g AS (UPDATE hammer.guard SET holder = $2
		           WHERE uid = $1 AND holder IS NULL RETURNING 1)
		INSERT INTO hammer.log (uid, owner, token, event, ok)
		SELECT $1, $2, $3::bigint, 'enter', EXISTS (SELECT FROM g)},
	exit => q{
		WITH g AS (UPDATE hammer.guard SET holder = NULL
		           WHERE uid = $1 AND holder = $2 RETURNING 1)
		INSERT INTO hammer.log (uid, owner, token, event, ok)
		SELECT $1, $2, $3::bigint, 'exit', EXISTS (SELECT FROM g)},
	verify => q{
		WITH v AS (SELECT lockable.lock_verify($1, $2, $3::bigint) AS ok)
		INSERT INTO hammer.log (uid, owner, token, event, ok)
		SELECT $1, $2, $3::bigint, 'write', ok FROM v RETURNING ok},
	log => q{INSERT INTO hammer.log (uid, owner, token, event, ok)
		VALUES ($1, $2, $3::bigint, $4, $5)},
	set_owner => q{SELECT set_config('lockable.owner', $1, true),
		set_config('lockable.token', $2, true)},
	write => q{UPDATE hammer.resource
		SET writes = writes + 1, last_token = $2::bigint WHERE uid = $1},
);

# --delegated: each lock call a statement by itself, so that Citus delegates
# it; the log rows are written after it.
my %dsql = (
	acquire => q{SELECT granted, token
		FROM lockable.lock_acquire($1, $2, $3::interval, $4::interval)},
	release => q{SELECT lockable.lock_release($1, $2)},
	verify => q{SELECT lockable.lock_verify($1, $2, $3::bigint)},
	sweep => q{SELECT lockable.lock_sweep()},
	enter => $sql{enter},
	exit => $sql{exit},
	log => q{INSERT INTO hammer.log (uid, owner, token, event, ok, sent, call, reason)
		VALUES ($1, $2, $3::bigint, $4, $5, to_timestamp($6::float8), $7, $8)},
);
if ($opt{delegated})
{
	my $dbh = Connect();
	for my $probe (['acquire', 'probe:delegation', 'hammer', '1 s', '0'],
		['verify', 'probe:delegation', 'hammer', 0],
		['release', 'probe:delegation', 'hammer'])
	{
		my ($name, @args) = @$probe;
		die "not delegated by Citus: $dsql{$name}\n"
		  unless Delegated::CheckPushedDown($dbh, $dsql{$name}, @args);
	}
	$dbh->disconnect;
}

sub Client
{
	my ($n) = @_;
	my $owner = "client$n";
	my $dbh = Connect();
	my %st = map { $_ => $dbh->prepare($sql{$_}) } keys %sql;
	my $end = time + $opt{seconds};
	my ($uid, $token);

	srand($$ ^ time);
	# A grant in hand always gets its section, even when time is up.
	while (defined $token || time < $end)
	{
		unless (defined $token)
		{
			$uid = 'hot:' . (1 + int rand $opt{uids});
			$st{acquire}->execute($uid, $owner, $opt{ttl}, $opt{wait});
			my ($granted, $t) = $st{acquire}->fetchrow_array;
			$st{acquire}->finish;
			next unless $granted;
			$token = $t;
		}

		if (!$takeover)
		{
			$st{enter}->execute($uid, $owner, $token);
			sleep(rand($opt{'hold-ms'}) / 1000);
			$st{exit}->execute($uid, $owner, $token);
			$st{release}->execute($uid, $owner, $token, 'release');
			$st{release}->finish;
			undef $token;
			next;
		}

		# takeover: hold (often past the ttl), then write
		sleep(rand($opt{'hold-ms'}) / 1000);
		my $written;
		if ($opt{fenced})
		{
			$dbh->begin_work;
			eval {
				$st{log}->execute($uid, $owner, $token, 'write', 1);
				$st{set_owner}->execute($owner, $token);
				$st{set_owner}->finish;
				$st{write}->execute($uid, $token);
				$dbh->commit;
				$written = 1;
			};
			if (!$written)
			{
				my ($state, $err) = ($dbh->state, $@);
				$dbh->rollback;
				die "client $n: unexpected error on fenced write: $err"
				  unless $state eq '55P03';
				$st{log}->execute($uid, $owner, $token, 'fenced', 1);
			}
		}
		else
		{
			$st{verify}->execute($uid, $owner, $token);
			($written) = $st{verify}->fetchrow_array;
			$st{verify}->finish;
		}

		if ($written)
		{
			# may be false if the lease ran out after the write: no matter
			$st{release}->execute($uid, $owner, $token, 'release');
			$st{release}->finish;
			undef $token;
			next;
		}

		# Our lease is gone.  Its release must be refused ...
		$st{release}->execute($uid, $owner, $token, 'stale release');
		$st{release}->finish;

		# ... and so must its renewal: a new grant is fine, the old token never.
		$st{acquire}->execute($uid, $owner, $opt{ttl}, '0');
		my ($granted, $t) = $st{acquire}->fetchrow_array;
		$st{acquire}->finish;
		$st{log}->execute($uid, $owner, $token, 'stale renew',
			($granted && $t == $token) ? 0 : 1);
		$token = $granted ? $t : undef;
	}
	$dbh->disconnect;
}

# The client of --delegated, the same cycles as Client's.
sub DelegatedClient
{
	my ($n) = @_;
	my $owner = "client$n";
	my $s = Delegated::Session->new(\&Connect, \%dsql);
	my $end = time + $opt{seconds};
	my ($uid, $token);

	# Log(event, token, ok, sent, call, reason), for the current uid
	my $log = sub {
		my ($event, $t, $ok, $sent, $call, $reason) = @_;
		$s->Do('log', $uid, $owner, $t, $event, $ok, $sent, $call, $reason);
	};
	# Lock(call, statement, token, args): (answered, sent, the row); an
	# unknown outcome is logged
	my $lock = sub {
		my ($call, $name, $t, @args) = @_;
		my $sent = time;
		my ($answered, @row) = $s->Call($name, @args);
		$log->('unknown', $t, undef, $sent, $call, $row[0]) unless $answered;
		return ($answered, $sent, @row);
	};
	# Settle(call, token): after an unknown outcome, end whatever grant of
	# ours on the uid may stand
	my $settle = sub {
		my ($call, $t) = @_;
		my ($ok, $tries) = $s->Settle('release', $uid, $owner);
		$log->('resolve', $t, $ok, undef, $call, "answered after $tries call(s)");
		return $ok;
	};
	# release the grant with token $t: logged when answered, else settled
	my $release = sub {
		my ($t) = @_;
		my ($answered, $sent, $ok) = $lock->('release', 'release', $t,
			$uid, $owner);
		if ($answered)
		{
			$log->('release', $t, $ok, $sent);
		}
		else
		{
			$settle->('release', $t);
		}
	};

	srand($$ ^ time);
	# A grant in hand always gets its section, even when time is up.
	while (defined $token || time < $end)
	{
		unless (defined $token)
		{
			$uid = 'hot:' . (1 + int rand $opt{uids});
			my ($answered, $sent, $granted, $t) = $lock->('acquire', 'acquire',
				undef, $uid, $owner, $opt{ttl}, $opt{wait});
			if (!$answered)
			{
				# never enter on a grant that may not stand
				$settle->('acquire', undef);
				next;
			}
			next unless $granted;
			$token = $t;
			$log->('grant', $token, undef, $sent);
		}

		if (!$takeover)
		{
			$s->Do('enter', $uid, $owner, $token);
			sleep(rand($opt{'hold-ms'}) / 1000);
			$s->Do('exit', $uid, $owner, $token);
			$release->($token);
			undef $token;
			next;
		}

		# takeover: hold (often past the ttl), then write
		sleep(rand($opt{'hold-ms'}) / 1000);
		my ($answered, $sent, $written) = $lock->('verify', 'verify', $token,
			$uid, $owner, $token);
		# the section, whatever its outcome
		$log->('write', $token, $answered ? $written : undef, $sent);
		if (!$answered)
		{
			$settle->('verify', $token);
			undef $token;
			next;
		}

		if ($written)
		{
			# may be false if the lease ran out after the write: no matter
			$release->($token);
			undef $token;
			next;
		}

		# Our lease is gone.  Its release must be refused ...
		($answered, $sent, my $ok) = $lock->('stale release', 'release', $token,
			$uid, $owner);
		if ($answered)
		{
			$log->('stale release', $token, $ok, $sent);
		}
		else
		{
			# must be refused as well: checked with the stale releases
			$settle->('stale release', $token);
		}

		# ... and so must its renewal: a new grant is fine, the old token never.
		($answered, $sent, my $granted, my $t) = $lock->('renew', 'acquire',
			$token, $uid, $owner, $opt{ttl}, '0');
		if (!$answered)
		{
			$settle->('renew', $token);
			undef $token;
			next;
		}
		$log->('grant', $t, undef, $sent) if $granted;
		$log->('stale renew', $token, ($granted && $t == $token) ? 0 : 1, $sent);
		$token = $granted ? $t : undef;
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
# --move-shards: the shard of a random hot uid to another worker, now and
# then (forked before the sweeper, whose report the parent waits for)
my $from_mover;
if ($opt{'move-shards'})
{
	pipe($from_mover, my $to_parent) or die "pipe: $!";
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		close $from_mover;
		my $ok = eval {
			my $dbh = Connect();
			# a failed move is reported with its error, not Citus's warnings
			$dbh->do('SET client_min_messages = error');
			my ($moves, $failed) = (0, 0);
			my $end = time + $opt{seconds};
			my $shard_of = $dbh->prepare(q{
				SELECT get_shard_id_for_distribution_column('lockable.locks', $1::text)});
			my %shard;
			for my $i (1 .. $opt{uids})
			{
				$shard_of->execute("hot:$i");
				($shard{"hot:$i"}) = $shard_of->fetchrow_array;
				$shard_of->finish;
			}
			my $log = $dbh->prepare(q{INSERT INTO hammer.log (uid, owner, event, reason)
				VALUES ($1, 'mover', $2, $3)});
			srand($$ ^ time);
			while (time + $opt{'move-shards'} < $end)
			{
				sleep $opt{'move-shards'};
				my $uid = 'hot:' . (1 + int rand $opt{uids});
				my $shard = $shard{$uid};
				my ($fh, $fp) = $dbh->selectrow_array(q{
					SELECT nodename, nodeport FROM pg_dist_placement
					  JOIN pg_dist_node USING (groupid) WHERE shardid = ?},
					undef, $shard);
				my $to = $dbh->selectall_arrayref(q{
					SELECT nodename, nodeport FROM pg_dist_node
					 WHERE isactive AND noderole = 'primary' AND shouldhaveshards
					   AND (nodename, nodeport) <> (?, ?::integer)},
					undef, $fh, $fp);
				my ($th, $tp) = @{ $to->[int rand @$to] // [] };
				my $what = "shard $shard of $uid from $fh:$fp to " . ($th // '?') . ':' . ($tp // '?');
				if (defined $th && eval {
						$dbh->do(q{SELECT citus_move_shard_placement(?, ?, ?, ?, ?,
							shard_transfer_mode := 'block_writes')},
							undef, $shard, $fh, $fp, $th, $tp);
						1;
					})
				{
					$moves++;
					# every hot uid of the shard moved with it
					$log->execute($_, 'move', $what)
					  for grep { $shard{$_} == $shard } sort keys %shard;
				}
				else
				{
					$failed++;
					my ($err) = split /\n/, (defined $th ? ($dbh->errstr // $@) : 'no other worker');
					print $to_parent "failed: $what: $err\n";
					$log->execute($uid, 'move failed', "$what: $err");
				}
			}
			print $to_parent "$moves $failed\n";
			close $to_parent;
			1;
		};
		print STDERR "mover: $@" unless $ok;
		_exit($ok ? 0 : 2);
	}
	close $to_parent;
}

my $sweeps = 0;
my $sweeper;
if ($opt{sweep})
{
	pipe(my $from_sweeper, my $to_parent) or die "pipe: $!";
	$sweeper = fork;
	die "fork: $!" unless defined $sweeper;
	if ($sweeper == 0)
	{
		close $from_sweeper;
		my $ok = eval {
			my $dbh = Connect();
			my ($n, $deleted) = (0, 0);
			my $end = time + $opt{seconds};
			# --delegated: a sweep fans out to every worker, and one may be
			# down or its shard moving: counted, not fatal
			my $s = $opt{delegated} && Delegated::Session->new(\&Connect,
				{ sweep => $dsql{sweep} });
			my $unanswered = 0;
			while (time < $end)
			{
				if ($s)
				{
					my ($answered, $d) = $s->Call('sweep');
					$answered ? ($deleted += $d) : $unanswered++;
				}
				else
				{
					$deleted += $dbh->selectrow_array('SELECT lockable.lock_sweep()');
				}
				$n++;
				sleep 0.002;
			}
			print $to_parent $opt{delegated} ? "$n $deleted $unanswered\n" : "$n $deleted\n";
			close $to_parent;	# _exit does not flush
			1;
		};
		print STDERR "sweeper: $@" unless $ok;
		_exit($ok ? 0 : 2);
	}
	close $to_parent;
	my $line = <$from_sweeper>;
	($sweeps, my $swept, my $unanswered) = split ' ', ($line // '0 0');
	$sweeps = "$sweeps sweeps deleted $swept rows";
	$sweeps .= ", $unanswered unanswered" if $opt{delegated};
}
my $ddl_runs = 0;
if ($opt{ddl})
{
	pipe(my $from_ddl, my $to_parent) or die "pipe: $!";
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		close $from_ddl;
		my $ok = eval {
			my $n = 0;
			my $end = time + $opt{seconds};
			my $dbh = Connect();
			$dbh->do('SET client_min_messages = warning');
			my ($db) = $dbh->selectrow_array('SELECT current_database()');
			while (time < $end)
			{
				if ($opt{ddl} eq 'reindex')
				{
					$dbh->do('REINDEX INDEX CONCURRENTLY lockable.locks_pkey');
					$dbh->do('CREATE INDEX CONCURRENTLY locks_expiry_hammer ON lockable.locks (expires_at)');
					$dbh->do('REINDEX INDEX CONCURRENTLY lockable.locks_owner_hammer');
					$dbh->do('DROP INDEX CONCURRENTLY lockable.locks_expiry_hammer');
				}
				else
				{
					system('pg_repack', '--no-order', '--wait-timeout=30',
						'--dbname', $db, '--table', 'lockable.locks',
						'--elevel', 'WARNING') == 0
					  or die "pg_repack failed: exit " . ($? >> 8) . "\n";
				}
				$n++;
			}
			print $to_parent "$n\n";
			close $to_parent;
			1;
		};
		print STDERR "ddl: $@" unless $ok;
		_exit($ok ? 0 : 2);
	}
	close $to_parent;
	my $line = <$from_ddl>;
	$ddl_runs = ($line // '0') + 0;
}
my ($moves, $moves_failed, @move_errors) = (0, 0);
if ($from_mover)
{
	for my $line (<$from_mover>)
	{
		chomp $line;
		if ($line =~ /^failed: (.*)/)
		{
			push @move_errors, $1;
		}
		else
		{
			($moves, $moves_failed) = split ' ', $line;
		}
	}
}
my $client_errors = 0;
while ((my $pid = wait) > 0)
{
	$client_errors++ if $? != 0;
}

#---- checks ----

$dbh = Connect();
my %check = (
	# grants of one uid, in the order they were made, carry growing tokens
	'token not increasing' => q{
		SELECT count(*) FROM (
			SELECT token <= lag(token) OVER (PARTITION BY uid ORDER BY seq) AS bad
			  FROM hammer.log WHERE event = 'grant') s WHERE bad},
	# a section entered while another owner was inside (guard claim failed)
	'guard collision' => q{
		SELECT count(*) FROM hammer.log
		 WHERE event IN ('enter', 'exit') AND NOT ok},
	# a section that began before the previous one of that uid ended
	'sections overlap' => q{
		SELECT count(*) FROM (
			SELECT e.uid, e.seq AS entered,
			       lag(x.seq) OVER (PARTITION BY e.uid ORDER BY e.seq) AS prev_exit
			  FROM hammer.log e
			  JOIN hammer.log x ON x.uid = e.uid AND x.token = e.token
			                   AND x.event = 'exit'
			 WHERE e.event = 'enter') s
		 WHERE prev_exit > entered},
	# in exclusion mode a lease never runs out, so every release succeeds
	'release refused' => $takeover ? q{SELECT 0} : q{
		SELECT count(*) FROM hammer.log WHERE event = 'release' AND NOT ok},
	# a holder whose lease is gone cannot release ...
	'stale release accepted' => q{
		SELECT count(*) FROM hammer.log WHERE event = 'stale release' AND ok},
	# ... nor renew its old grant
	'stale renew accepted' => q{
		SELECT count(*) FROM hammer.log WHERE event = 'stale renew' AND NOT ok},
	# a write accepted although a newer grant of its uid already existed
	'stale write accepted' => q{
		SELECT count(*) FROM hammer.log w
		 WHERE w.event = 'write' AND w.ok
		   AND EXISTS (SELECT FROM hammer.log g
		                WHERE g.event = 'grant' AND g.uid = w.uid
		                  AND g.seq < w.seq AND g.token > w.token)},
	# the protected table agrees with the writes that were accepted
	'resource mismatch' => $opt{fenced} ? q{
		SELECT count(*) FROM hammer.resource r
		 WHERE r.writes <> (SELECT count(*) FROM hammer.log w
		                     WHERE w.uid = r.uid AND w.event = 'write')
		    OR r.last_token IS DISTINCT FROM
		       (SELECT max(token) FROM hammer.log w
		         WHERE w.uid = r.uid AND w.event = 'write')} : q{SELECT 0},
	# one row per uid, whatever rebuilt the indexes meanwhile
	'duplicate uids' => q{
		SELECT count(*) - count(DISTINCT uid) FROM lockable.locks},
	# each hot uid's row carries its last logged grant: none was lost
	'grant lost' => q{
		SELECT count(*) FROM hammer.guard g
		  JOIN lockable.locks l USING (uid)
		 WHERE l.token IS DISTINCT FROM
		       (SELECT max(token) FROM hammer.log
		         WHERE event = 'grant' AND uid = g.uid)},
	# exclusion: every grant was released, and the table says so
	'release lost' => $takeover ? q{SELECT 0} : q{
		SELECT count(*) FROM lockable.locks l
		  JOIN hammer.guard g USING (uid) WHERE l.owner IS NOT NULL},
	# every grant led to exactly one section (entered, or write attempted)
	'grants without section' => q{
		SELECT abs((SELECT count(*) FROM hammer.log WHERE event = 'grant') -
		           (SELECT count(*) FROM hammer.log
		             WHERE event IN ('enter', 'write', 'fenced')))},
);
my %fig = (
	grants => q{SELECT count(*) FROM hammer.log WHERE event = 'grant'},
	sections => q{SELECT count(*) FROM hammer.log
		WHERE event IN ('enter', 'write', 'fenced')},
	# a grant whose predecessor on the uid was never released
	takeovers => q{
		SELECT count(*) FROM (
			SELECT uid, lag(token) OVER (PARTITION BY uid ORDER BY seq) AS prev
			  FROM hammer.log WHERE event = 'grant') g
		 WHERE prev IS NOT NULL
		   AND NOT EXISTS (SELECT FROM hammer.log r
		                    WHERE r.event = 'release' AND r.ok
		                      AND r.uid = g.uid AND r.token = g.prev)},
	'writes accepted' => q{SELECT count(*) FROM hammer.log
		WHERE event = 'write' AND ok},
	'writes fenced' => q{SELECT count(*) FROM hammer.log
		WHERE (event = 'write' AND NOT ok) OR event = 'fenced'},
	'stale releases refused' => q{SELECT count(*) FROM hammer.log
		WHERE event = 'stale release' AND NOT ok},
	backends => q{SELECT count(DISTINCT backend) FROM hammer.log},
);

if ($opt{delegated})
{
	# The rows as the coordinator reads them from every shard, into a local
	# table that the checks can join, without lock_sweep's high-water rows.
	$dbh->do(q{CREATE TABLE hammer.locks_end (uid text, owner text, token bigint)});
	$dbh->do(q{INSERT INTO hammer.locks_end
		SELECT uid, owner, token FROM lockable.locks WHERE uid <> ''});
	s/\blockable\.locks\b/hammer.locks_end/g for values %check;
	# an unknown acquire that may explain a token above the last grant's:
	# logged after that grant (in takeover mode, after it was asked for)
	my $after_last = $takeover ? 'u.at > g.sent' : 'u.seq > g.seq';
	%check = (%check,
		# takeover: grants of one uid made one after the other, in real
		# time, carry growing tokens (exclusion keeps the log-order check)
		($takeover ? ('token not increasing' => q{
			SELECT count(*) FROM hammer.log a
			  JOIN hammer.log b ON b.uid = a.uid AND b.sent > a.at
			 WHERE a.event = 'grant' AND b.event = 'grant'
			   AND b.token <= a.token}) : ()),
		# a stale release accepted, also when it was settled
		'stale release accepted' => q{
			SELECT count(*) FROM hammer.log
			 WHERE (event = 'stale release'
			        OR (event = 'resolve' AND call = 'stale release')) AND ok},
		# a write accepted although a newer grant of its uid was logged
		# before the verify was sent
		'stale write accepted' => q{
			SELECT count(*) FROM hammer.log w
			 WHERE w.event = 'write' AND w.ok
			   AND EXISTS (SELECT FROM hammer.log g
			                WHERE g.event = 'grant' AND g.uid = w.uid
			                  AND g.at < w.sent AND g.token > w.token)},
		# each hot uid's row carries its last logged grant, or a later one
		# that an unknown acquire may have made; never an earlier one
		'grant lost' => qq{
			SELECT count(*) FROM hammer.guard h
			  JOIN hammer.locks_end l USING (uid)
			  LEFT JOIN LATERAL (SELECT token, seq, sent FROM hammer.log
			                      WHERE event = 'grant' AND uid = h.uid
			                      ORDER BY token DESC LIMIT 1) g ON true
			 WHERE l.token IS DISTINCT FROM g.token
			   AND (l.token < g.token
			        OR NOT EXISTS (SELECT FROM hammer.log u
			                        WHERE u.event = 'unknown' AND u.uid = h.uid
			                          AND u.call IN ('acquire', 'renew')
			                          AND (g.seq IS NULL OR $after_last)))},
		# a section on a grant that was not logged (an unknown acquire)
		'section without grant' => q{
			SELECT count(*) FROM hammer.log e
			 WHERE e.event IN ('enter', 'write')
			   AND NOT EXISTS (SELECT FROM hammer.log g
			                    WHERE g.event = 'grant' AND g.uid = e.uid
			                      AND g.owner = e.owner AND g.token = e.token)},
		# every unknown outcome was settled
		'unknown not settled' => q{
			SELECT abs((SELECT count(*) FROM hammer.log WHERE event = 'unknown') -
			           (SELECT count(*) FROM hammer.log WHERE event = 'resolve'))},
	);
	# a release settled after an unknown outcome ended its grant as well
	$fig{takeovers} =~ s/ORDER BY seq/ORDER BY token/;
	$fig{takeovers} =~ s/r\.event = 'release' AND r\.ok/r.event IN ('release', 'resolve') AND r.ok/;
	%fig = (%fig,
		Delegated::Figures('hammer.log'),
		'rows at last grant' => q{
			SELECT count(*) FROM hammer.guard h JOIN hammer.locks_end l USING (uid)
			 WHERE l.token = (SELECT max(token) FROM hammer.log
			                   WHERE event = 'grant' AND uid = h.uid)},
		'hot rows' => q{
			SELECT count(*) FROM hammer.guard JOIN hammer.locks_end USING (uid)},
		'rows above last grant' => q{
			SELECT count(*) FROM hammer.guard h JOIN hammer.locks_end l USING (uid)
			 WHERE l.token > (SELECT coalesce(max(token), 0) FROM hammer.log
			                   WHERE event = 'grant' AND uid = h.uid)},
		'grants after a move' => q{
			SELECT count(*) FROM hammer.log g
			 WHERE g.event = 'grant'
			   AND EXISTS (SELECT FROM hammer.log m
			                WHERE m.event = 'move' AND m.uid = g.uid AND m.seq < g.seq)},
		# consecutive grants of a uid drawn on different nodes (token % 4096
		# is the node group)
		'node changes' => q{
			SELECT count(*) FROM (
				SELECT token % 4096 <> lag(token % 4096)
				         OVER (PARTITION BY uid ORDER BY token) AS changed
				  FROM hammer.log WHERE event = 'grant') s WHERE changed},
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

# The storage itself: every index agrees with the heap, and the heap is sane.
my ($amcheck, @storage) = $opt{delegated}
  ? StorageCheck::CheckShards($dbh, sub { Delegated::ConnectNode($dbh, @_) },
	'lockable.locks', 'lockable.places')
  : StorageCheck::Check($dbh, 'lockable.locks');
$violations += @storage;
push @bad, @storage;
$dbh->disconnect;

printf "hammer %s%s: clients=%d seconds=%g uids=%d ttl='%s' hold<=%gms\n",
  $opt{mode}, $opt{fenced} ? ' (fenced writes)' : '', $opt{clients},
  $opt{seconds}, $opt{uids}, $opt{ttl}, $opt{'hold-ms'};
printf "  grants=%d sections=%d takeovers=%d", $n{grants}, $n{sections},
  $n{takeovers};
printf " writes_accepted=%d writes_fenced=%d stale_releases_refused=%d",
  $n{'writes accepted'}, $n{'writes fenced'}, $n{'stale releases refused'}
  if $takeover;
printf " backends=%d violations=%d\n", $n{backends}, $violations;
print "  sweeper: $sweeps\n" if $opt{sweep};
if ($opt{delegated})
{
	print "  delegated: unknown outcomes: $n{unknowns}\n";
	print "    why: $n{'unknown reasons'}\n" if $n{'unknown reasons'};
	print "    settled by lock_release (answered true/false): $n{settled}\n";
	printf "    hot rows at the end: %d at the last logged grant, %d above it (an unknown acquire stood), %d swept\n",
	  $n{'rows at last grant'}, $n{'rows above last grant'},
	  $opt{uids} - $n{'hot rows'};
	printf "    grants drawn on another node than the uid's previous grant: %d\n",
	  $n{'node changes'};
}
if ($opt{'move-shards'})
{
	printf "  mover: moves=%d failed=%d, grants after a move of their uid's shard=%d\n",
	  $moves, $moves_failed, $n{'grants after a move'};
	print "    move failed: $_\n" for @move_errors;
}
print "  ddl ($opt{ddl}): $ddl_runs rounds alongside\n" if $opt{ddl};
print "  storage: $amcheck\n";
print "  VIOLATION $_\n" for @bad;
print "  $client_errors client(s) failed\n" if $client_errors;

exit 2 if $client_errors;
exit 1 if $violations;
# A run that never contended proves nothing.
if ($n{grants} < $opt{clients} || ($takeover && $n{takeovers} == 0)
	|| ($opt{ddl} && $ddl_runs == 0))
{
	print "  too little happened to prove anything\n";
	exit 1;
}
exit 0;
