#!/usr/bin/perl
#
# test/bench/wait_bench.pl
#	  What waiting costs and how fast a waiter wakes, on the cluster the
#	  libpq environment names (run by test/bench/run.sh, once on a cluster
#	  that preloads lockable and once on one that does not).
#
# Usage: wait_bench.pl --waiters 10,100,200 --sample-seconds S --wakes N
#
# 1. Waiter CPU.  One owner holds a lock for the whole measurement; N
#    sessions wait for it (lock_acquire with a wait of minutes).  Once all N
#    are waiting, the CPU time their backends use over S seconds is read from
#    /proc/<pid>/stat (user + system), and reported in cores (CPU seconds per
#    second).
# 2. Wake latency.  N times: a holder takes the lock, a waiter starts waiting
#    for it, the holder releases it in a transaction of its own, and the
#    waiter's statement returns clock_timestamp() as evaluated right after
#    lock_acquire returned.  The latency is that time minus the release's
#    commit timestamp (track_commit_timestamp = on), both from the server's
#    clock.
#
# Prints "cpu N cores" and "wake p50 p99" lines for run.sh to tabulate.

use strict;
use warnings;

use DBI;
use DBD::Pg qw(:async);
use Getopt::Long;
use POSIX qw(sysconf _SC_CLK_TCK);
use Time::HiRes qw(sleep time);

my %opt = (waiters => '10,100,200', 'sample-seconds' => 10, wakes => 200);
GetOptions(\%opt, 'waiters=s', 'sample-seconds=f', 'wakes=i')
  or die "usage: see the header of $0\n";

sub Connect
{
	return DBI->connect('dbi:Pg:', undef, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0 });
}

my $ticks = sysconf(_SC_CLK_TCK);

sub CpuTicks
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $stat = <$fh>;
	close $fh;
	# the fields after the command, which is in parentheses
	$stat =~ s/^.*\) //;
	my @f = split ' ', $stat;
	return $f[11] + $f[12];		# utime, stime
}

my $admin = Connect();
$admin->do('SET lockable.notify = off');

# Sessions asleep in their wait (a session merely "active" may still be
# reading its query's protocol messages, when a cancel would be discarded).
sub WaitingCount
{
	my ($pids) = @_;
	return $admin->selectrow_array(q{
		SELECT count(*) FROM pg_stat_activity
		 WHERE pid = ANY(?) AND state = 'active' AND wait_event_type = 'Extension'},
		undef, $pids);
}

# Cancel the waits, again until every one has ended.
sub CancelAll
{
	my ($pids) = @_;
	my $give_up = time + 30;
	while (time < $give_up)
	{
		my $left = $admin->selectcol_arrayref(q{
			SELECT pid FROM pg_stat_activity WHERE pid = ANY(?) AND state = 'active'},
			undef, $pids);
		last unless @$left;
		$admin->do('SELECT pg_cancel_backend(pid) FROM unnest(?::int[]) AS pid', undef, $left);
		sleep 0.05;
	}
}

#---- 1. waiter CPU ----

for my $n (split /,/, $opt{waiters})
{
	my $uid = "wb:cpu:$n";
	$admin->do(q{SELECT lockable.lock_acquire(?, 'holder', '1 hour')}, undef, $uid);
	my (@conn, @sth, @pids);
	for my $i (1 .. $n)
	{
		my $c = Connect();
		$c->do('SET lockable.notify = off');
		push @pids, $c->selectrow_array('SELECT pg_backend_pid()');
		# (do() with bind values would not run asynchronously)
		my $sth = $c->prepare(
			q{SELECT granted FROM lockable.lock_acquire(?, ?, '1 minute', '10 minutes')},
			{ pg_async => PG_ASYNC });
		$sth->execute($uid, "waiter$i");
		# (a statement handle destroyed with its query running waits for it)
		push @sth, $sth;
		push @conn, $c;
	}
	my $give_up = time + 60;
	sleep 0.1 while WaitingCount(\@pids) < $n && time < $give_up;
	sleep 1;	# past the start of every wait
	my %before = map { $_ => CpuTicks($_) } @pids;
	my $t0 = time;
	sleep $opt{'sample-seconds'};
	my $used = 0;
	$used += CpuTicks($_) - $before{$_} for @pids;
	my $seconds = time - $t0;
	printf "cpu %d %.4f\n", $n, $used / $ticks / $seconds;
	# end the waits: a break hands the lock to nobody, and every waiter
	# gets it in turn or gives up at its cancel
	CancelAll(\@pids);
	for my $sth (@sth)
	{
		eval { $sth->pg_result };
	}
	$_->disconnect for @conn;
	$admin->do('SELECT lockable.lock_break(?)', undef, $uid);
}

#---- 2. wake latency ----

my $holder = Connect();
my $waiter = Connect();
$holder->do('SET lockable.notify = off');
$waiter->do('SET lockable.notify = off');
my $waiter_pid = $waiter->selectrow_array('SELECT pg_backend_pid()');
my $wait_sth = $waiter->prepare(
	q{SELECT granted, clock_timestamp() FROM lockable.lock_acquire(?, 'waiter', '1 minute', '1 minute')},
	{ pg_async => PG_ASYNC });
my @lat;
for my $i (1 .. $opt{wakes})
{
	my $uid = "wb:wake:$i";
	$holder->do(q{SELECT lockable.lock_acquire(?, 'holder', '1 hour')}, undef, $uid);
	$wait_sth->execute($uid);
	# the waiter is asleep: it waits on its condition variable or latch
	my $give_up = time + 10;
	until ($admin->selectrow_array(q{
			SELECT count(*) FROM pg_stat_activity
			 WHERE pid = ? AND wait_event_type = 'Extension'}, undef, $waiter_pid)
		|| time > $give_up)
	{
		sleep 0.001;
	}
	$holder->begin_work;
	my $xid = $holder->selectrow_array('SELECT pg_current_xact_id()');
	$holder->do(q{SELECT lockable.lock_release(?, 'holder')}, undef, $uid);
	$holder->commit;
	$wait_sth->pg_result;
	my ($granted, $returned) = $wait_sth->fetchrow_array;
	my $ms = $admin->selectrow_array(
		q{SELECT extract(epoch FROM ?::timestamptz - pg_xact_commit_timestamp(?::xid8::xid)) * 1000},
		undef, $returned, $xid);
	push @lat, $ms if $granted;
	$admin->do(q{SELECT lockable.lock_release(?, 'waiter')}, undef, $uid);
}
@lat = sort { $a <=> $b } @lat;
my $p = sub { $lat[int(@lat * $_[0] / 100 + 0.999999) - 1] // 'nan' };
printf "wake %.3f %.3f %d\n", $p->(50), $p->(99), scalar @lat;
