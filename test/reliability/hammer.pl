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

use strict;
use warnings;

use DBI;
use FindBin;
use lib $FindBin::Bin;
use StorageCheck;
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
);
GetOptions(\%opt, 'mode=s', 'clients=i', 'seconds=f', 'uids=i', 'ttl=s',
	'hold-ms=f', 'wait=s', 'fenced!', 'sweep!', 'ddl=s', 'padding=i', 'dsn=s',
	'server-prepare!')
  or die "usage: see the header of $0\n";
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

my %kids;
for my $n (1 .. $opt{clients})
{
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $ok = eval { Client($n); 1 };
		print STDERR "client $n: $@" unless $ok;
		_exit($ok ? 0 : 2);
	}
	$kids{$pid} = $n;
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
			while (time < $end)
			{
				$deleted += $dbh->selectrow_array('SELECT lockable.lock_sweep()');
				$n++;
				sleep 0.002;
			}
			print $to_parent "$n $deleted\n";
			close $to_parent;	# _exit does not flush
			1;
		};
		print STDERR "sweeper: $@" unless $ok;
		_exit($ok ? 0 : 2);
	}
	close $to_parent;
	my $line = <$from_sweeper>;
	($sweeps, my $swept) = split ' ', ($line // '0 0');
	$sweeps = "$sweeps sweeps deleted $swept rows";
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
my ($amcheck, @storage) = StorageCheck::Check($dbh, 'lockable.locks');
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
