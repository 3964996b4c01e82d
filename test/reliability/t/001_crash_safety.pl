#
# test/reliability/t/001_crash_safety.pl
#	  Locks survive a crash: clients acquire and release under load with
#	  synchronous_commit = on, each logging what the server acknowledged;
#	  the postmaster is killed with SIGKILL in the middle; after restart and
#	  crash recovery:
#	  - every acknowledged grant is there with its owner and token (or
#	    released, if its release was acknowledged or in flight);
#	  - nothing is half-applied: a transaction that took two locks and wrote
#	    an application row left all three or none;
#	  - expiry is judged from the stored expires_at: long leases still hold
#	    off other owners, short ones have run out and are taken over;
#	  - the next token is greater than every token handed out before;
#	  - amcheck finds every index of lockable.locks in agreement with the
#	    heap, and the heap sane.
#
# Run by test/suites/60-crash-safety.sh (prove, as the postgres OS user).

use strict;
use warnings;

use DBI;
use POSIX qw(_exit);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);

my $clients = 8;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq(
fsync = on
synchronous_commit = on
max_connections = 50
));
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION lockable;
	CREATE TABLE app_work (uid_a text PRIMARY KEY, uid_b text NOT NULL,
		token_a bigint NOT NULL, token_b bigint NOT NULL);
});

my $dsn = 'dbi:Pg:host=' . $node->host . ';port=' . $node->port . ';dbname=postgres';
my $logdir = PostgreSQL::Test::Utils::tempdir;

# One client: until the server goes away, take locks on fresh uids (long
# and short leases), sometimes release one, sometimes take two locks and
# write an application row in one transaction.  A line is logged only after
# the server acknowledged the commit; "sent" lines say what was in flight.
sub Client
{
	my ($n) = @_;
	open my $log, '>', "$logdir/client$n.log" or die;
	$log->autoflush(1);
	my $dbh = DBI->connect($dsn, undef, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0 });
	my $acquire = $dbh->prepare(
		'SELECT granted, token FROM lockable.lock_acquire($1, $2, $3::interval)');
	my $release = $dbh->prepare('SELECT lockable.lock_release($1, $2)');
	my $work = $dbh->prepare('INSERT INTO app_work VALUES ($1, $2, $3, $4)');
	my $owner = "owner$n";
	my @held;
	my $give_up = time + 60;

	for (my $i = 1; time < $give_up; $i++)
	{
		my $dice = rand;
		if ($dice < 0.15 && @held)
		{
			my $uid = shift @held;
			print $log "sent release $uid\n";
			$release->execute($uid, $owner);
			my ($ok) = $release->fetchrow_array;
			die "release of $uid refused\n" unless $ok;
			print $log "released $uid\n";
		}
		elsif ($dice < 0.30)
		{
			my ($a, $b) = ("c$n:$i:a", "c$n:$i:b");
			print $log "sent pair $a $b\n";
			$dbh->begin_work;
			$acquire->execute($a, $owner, '1 hour');
			my (undef, $ta) = $acquire->fetchrow_array;
			$acquire->execute($b, $owner, '1 hour');
			my (undef, $tb) = $acquire->fetchrow_array;
			$work->execute($a, $b, $ta, $tb);
			$dbh->commit;
			print $log "granted $a $owner $ta long\n";
			print $log "granted $b $owner $tb long\n";
		}
		else
		{
			my $uid = "c$n:$i";
			my $long = rand() < 0.5;
			print $log "sent grant $uid\n";
			$acquire->execute($uid, $owner, $long ? '1 hour' : '2 seconds');
			my ($granted, $token) = $acquire->fetchrow_array;
			die "grant of fresh uid $uid refused\n" unless $granted;
			print $log "granted $uid $owner $token " . ($long ? 'long' : 'short') . "\n";
			push @held, $uid if $long;
		}
	}
	die "the server was never killed\n";
}

my @pids;
for my $n (1 .. $clients)
{
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# The expected end is an error: the connection was lost.  Leave
		# the message for the parent to judge.
		eval { Client($n) };
		if (open my $err, '>', "$logdir/client$n.err")
		{
			print $err $@;
			close $err;
		}
		_exit(0);
	}
	push @pids, $pid;
}

# Let the load build up, then pull the plug.
sub Acknowledged
{
	my $count = 0;
	for my $n (1 .. $clients)
	{
		open my $fh, '<', "$logdir/client$n.log" or next;
		$count += grep { /^granted / } <$fh>;
	}
	return $count;
}
my $wait_until = time + 30;
sleep 0.1 while Acknowledged() < 400 && time < $wait_until;
$node->kill9;
waitpid($_, 0) for @pids;

# Every client ended because the server went away, not on a wrong answer.
my @odd_ends;
for my $n (1 .. $clients)
{
	my $msg = PostgreSQL::Test::Utils::slurp_file("$logdir/client$n.err");
	push @odd_ends, "client $n: $msg"
	  unless $msg =~ /terminating connection|server closed the connection|no connection to the server|could not receive data|connection to server|could not send data|Connection refused|SSL SYSCALL/i;
}
is(scalar(@odd_ends), 0, 'every client stopped on the lost connection')
  or diag(@odd_ends);

# What the clients saw acknowledged, and what was in flight.
my (%grant, %released, %in_flight, $max_token);
$max_token = 0;
for my $n (1 .. $clients)
{
	open my $fh, '<', "$logdir/client$n.log" or die;
	my $last_sent;
	while (<$fh>)
	{
		chomp;
		my @f = split / /;
		if ($f[0] eq 'sent')
		{
			$last_sent = [ @f[ 1 .. $#f ] ];
		}
		elsif ($f[0] eq 'granted')
		{
			$grant{ $f[1] } = { owner => $f[2], token => $f[3], lease => $f[4] };
			$max_token = $f[3] if $f[3] > $max_token;
			undef $last_sent;
		}
		elsif ($f[0] eq 'released')
		{
			$released{ $f[1] } = 1;
			undef $last_sent;
		}
	}
	# the operation this client had sent when the server died
	if ($last_sent)
	{
		my ($what, @uids) = @$last_sent;
		$in_flight{$_} = $what for @uids;
	}
}
my $acked = keys %grant;
cmp_ok($acked, '>=', 100, "clients had $acked grants acknowledged before the crash");

# The dead postmaster's pid (until it is reaped) and its orphaned backends
# (until they notice) keep a new one from starting for a moment; retry.  A
# failed start leaves Cluster.pm believing the node runs: forget that.
my $started = 0;
for (1 .. 60)
{
	last if $started = $node->start(fail_ok => 1);
	$node->{_pid} = undef;
	sleep 0.5;
}
ok($started, 'the server restarts after SIGKILL (crash recovery)');
my $max_stored = $node->safe_psql('postgres', 'SELECT max(token) FROM lockable.locks');

my %row;
for my $line (split /\n/, $node->safe_psql('postgres', q{
	SELECT uid, coalesce(owner, ''), token, acquired_at IS NOT NULL,
	       expires_at IS NOT NULL FROM lockable.locks}))
{
	my ($uid, $owner, $token, $has_acq, $has_exp) = split /\|/, $line;
	$row{$uid} = { owner => $owner, token => $token, complete => $has_acq eq 't' && $has_exp eq 't' };
}

# Every acknowledged grant is there with its token.
my @lost = grep {
	my $r = $row{$_};
	my $g = $grant{$_};
	!$r || $r->{token} != $g->{token} ||
	  ($r->{owner} ne $g->{owner} && !($r->{owner} eq '' &&
		  ($released{$_} || ($in_flight{$_} // '') eq 'release')))
} keys %grant;
is(scalar(@lost), 0, "all $acked acknowledged grants are kept with their tokens")
  or diag("lost or changed: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");

# Acknowledged releases stay released.
my @unreleased = grep { $row{$_} && $row{$_}{owner} ne '' } keys %released;
is(scalar(@unreleased), 0, scalar(keys %released) . ' acknowledged releases are kept')
  or diag("held again: @unreleased");

# Nothing else appeared, except what was in flight when the server died.
my @unknown = grep { !$grant{$_} && !$in_flight{$_} } keys %row;
is(scalar(@unknown), 0, 'no row comes from a grant that was never sent')
  or diag("unexpected rows: @unknown");

# Nothing half-applied: every row complete; a pair of locks and its
# application row all there or all absent, with matching tokens.
is(scalar(grep { !$row{$_}{complete} } keys %row), 0, 'every lock row is complete');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM app_work w
	  LEFT JOIN lockable.locks a ON a.uid = w.uid_a AND a.token = w.token_a
	  LEFT JOIN lockable.locks b ON b.uid = w.uid_b AND b.token = w.token_b
	 WHERE a.uid IS NULL OR b.uid IS NULL}), '0',
	'every application row has both its locks, with its tokens');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM lockable.locks l
	 WHERE (l.uid LIKE '%:a' OR l.uid LIKE '%:b')
	   AND NOT EXISTS (SELECT FROM app_work w WHERE l.uid IN (w.uid_a, w.uid_b))}), '0',
	'every lock of a pair has its application row');
my $pairs = $node->safe_psql('postgres', 'SELECT count(*) FROM app_work');
note("$pairs two-lock transactions survived");

# Expiry is judged from the stored expires_at.  Wait until every short
# lease has run out by the database clock, then compare.
$node->poll_query_until('postgres', q{
	SELECT coalesce(bool_and(expires_at < clock_timestamp()), true)
	  FROM lockable.locks WHERE expires_at < acquired_at + interval '1 minute'});
my @long = grep { $grant{$_}{lease} eq 'long' && $row{$_} && $row{$_}{owner} ne '' } keys %grant;
my @short = grep { $grant{$_}{lease} eq 'short' } keys %grant;
my $sample = sub { my @l = sort @_; @l[0 .. ($#l < 49 ? $#l : 49)] };
my $wrong = 0;
for my $uid ($sample->(@long))
{
	my $g = $grant{$uid};
	my $got = $node->safe_psql('postgres', qq{
		SELECT lockable.lock_verify('$uid', '$g->{owner}', $g->{token}),
		       (lockable.lock_acquire('$uid', 'intruder')).granted});
	$wrong++ unless $got eq "t|f";
}
is($wrong, 0, scalar(@long) . ' long leases still held (sample of up to 50 checked), intruder refused');
$wrong = 0;
for my $uid ($sample->(@short))
{
	my $got = $node->safe_psql('postgres', qq{
		SELECT lockable.lock_owner('$uid') IS NULL,
		       (lockable.lock_acquire('$uid', 'successor')).token > $max_token});
	$wrong++ unless $got eq "t|t";
}
is($wrong, 0, scalar(@short) . ' short leases have run out and are taken over with a newer token');

# The next token is greater than every token handed out before the crash.
my $next = $node->safe_psql('postgres',
	q{SELECT token FROM lockable.lock_acquire('after-crash', 'successor')});
cmp_ok($next, '>', $max_token, "next token $next > highest acknowledged before the crash $max_token");
cmp_ok($next, '>', $max_stored, "next token $next > highest stored after recovery $max_stored");

# The storage after crash recovery: every index agrees with the heap.
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT bt_index_check(indexrelid, true) FROM pg_index
		 WHERE indrelid = 'lockable.locks'::regclass) AS checked}),
	$node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_index WHERE indrelid = 'lockable.locks'::regclass}),
	'amcheck: every index of lockable.locks agrees with the heap');
is($node->safe_psql('postgres', q{SELECT count(*) FROM verify_heapam('lockable.locks')}),
	'0', 'amcheck: verify_heapam finds nothing wrong in lockable.locks');

note("figures: clients=$clients acknowledged_grants=$acked acknowledged_releases="
	  . scalar(keys %released) . " in_flight=" . scalar(keys %in_flight)
	  . " pairs=$pairs max_token_before=$max_token next_token=$next");

$node->stop;
done_testing();
