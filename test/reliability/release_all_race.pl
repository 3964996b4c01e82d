#!/usr/bin/perl
#
# test/reliability/release_all_race.pl
#	  lock_release_all under crossing lines (issue 20): concurrent calls
#	  never deadlock, and none leaves its owner holding anything.
#
# Usage: release_all_race.pl [--clients N] [--seconds S] [--uids U]
#
# Each client is a process with its own connection and an owner of its own.
# In a loop it calls lock_acquire(uid, me, '1 hour', queue => true) on 2 to
# 4 random uids out of --uids (taking the lock where it is free, a place in
# line where it is not), so that the owners' holdings and places cross in
# every order; then lock_release_all(me), then checks in a new statement
# that it holds nothing and has no place, unless a release of another owner
# has handed it a lock since (a hand-off to a place it gave up is the one
# thing that must not happen, and would show as a lock held after its
# release_all with no later place of its own).  1.3 locked the rows of held
# uids first and of queued ones second, in no order, and two calls crossed:
# 8 to 17 deadlocks (40P01) per 20 s, picked among plain acquires and
# releases too.
#
# Prints the figures; exits 1 on a deadlock or a leftover, 2 on any other
# client error.

use strict;
use warnings;
use DBI;
use Getopt::Long;
use Time::HiRes qw(time);

my ($clients, $seconds, $uids) = (12, 15, 6);
GetOptions(
	'clients=i' => \$clients,
	'seconds=i' => \$seconds,
	'uids=i' => \$uids) or die "usage: $0 [--clients N] [--seconds S] [--uids U]\n";

sub Connect
{
	my $dbh = DBI->connect('dbi:Pg:', undef, undef,
		{ RaiseError => 0, PrintError => 0, AutoCommit => 1 })
	  or die "connect: $DBI::errstr\n";
	return $dbh;
}

my $setup = Connect();
$setup->do(q{SELECT lockable.lock_release_all(owner) FROM
             (SELECT DISTINCT owner FROM lockable.active_locks
               WHERE uid LIKE 'race:%') s});
$setup->disconnect;

pipe(my $from_clients, my $to_parent) or die "pipe: $!\n";
my $deadline = time + $seconds;
my @pids;
for my $c (1 .. $clients)
{
	my $pid = fork;
	die "fork: $!\n" unless defined $pid;
	if ($pid == 0)
	{
		close $from_clients;
		srand($$ ^ time);
		my $dbh = Connect();
		my $me = "racer-$c";
		my ($calls, $release_alls, $deadlocks, $leftovers, $errors) = (0, 0, 0, 0, 0);
		my $acquire = $dbh->prepare(
			q{SELECT granted FROM lockable.lock_acquire($1, $2, '1 hour', queue => true)});
		my $release_all = $dbh->prepare(q{SELECT lockable.lock_release_all($1)});
		my $holdings = $dbh->prepare(
			q{SELECT (SELECT count(*) FROM lockable.active_locks WHERE owner = $1),
			         (SELECT count(*) FROM lockable.lock_queue WHERE owner = $1)});
		while (time < $deadline)
		{
			for (1 .. 2 + int(rand(3)))
			{
				my $uid = 'race:' . int(rand($uids));
				$calls++;
				next if $acquire->execute($uid, $me);
				if (($dbh->state // '') eq '40P01') { $deadlocks++; next; }
				$errors++;
				warn "$me: acquire: " . $dbh->errstr . "\n";
			}
			$calls++;
			if (!$release_all->execute($me))
			{
				if (($dbh->state // '') eq '40P01') { $deadlocks++; next; }
				$errors++;
				warn "$me: release_all: " . $dbh->errstr . "\n";
				next;
			}
			$release_alls++;
			# Nothing of $me can appear after its release_all but a
			# hand-off: and $me has no place left to be handed anything.
			$holdings->execute($me) or do { $errors++; next; };
			my ($held, $queued) = $holdings->fetchrow_array;
			if ($held || $queued)
			{
				$leftovers++;
				warn "$me: after lock_release_all: $held held, $queued places\n";
			}
		}
		# One short line each: under PIPE_BUF, so the lines do not mix.
		syswrite $to_parent, "$calls $release_alls $deadlocks $leftovers $errors\n";
		exit 0;
	}
	push @pids, $pid;
}

close $to_parent;
my @total = (0) x 5;
my $reports = 0;
while (my $line = <$from_clients>)
{
	my @f = split ' ', $line;
	$total[$_] += $f[$_] for 0 .. 4;
	$reports++;
}
waitpid($_, 0) for @pids;
my ($calls, $release_alls, $deadlocks, $leftovers, $errors) = @total;
printf "release_all race: clients=%d seconds=%d uids=%d calls=%d release_alls=%d deadlocks=%d leftovers=%d errors=%d\n",
  $clients, $seconds, $uids, $calls, $release_alls, $deadlocks, $leftovers, $errors;
exit 2 if $errors || $reports != $clients;
exit 1 if $deadlocks || $leftovers;
exit 0;
