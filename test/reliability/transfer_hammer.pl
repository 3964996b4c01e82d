#!/usr/bin/perl
#
# test/reliability/transfer_hammer.pl
#	  The lines, with take overs and hand overs mixed in (issue 21): no
#	  write under a superseded grant lands, tokens only grow, and
#	  lockable.history matches the grants the clients saw one for one.
#
# Usage: transfer_hammer.pl [--clients N] [--admins N] [--seconds S] [--uids U]
#
# Each of --clients clients loops: it picks a uid and calls
# lock_acquire(uid, me, '2 seconds', queue => true) every 20 ms until it is
# granted (the lock was free, handed to it by a release, or handed over to
# it) or 3 s have passed (it then leaves the line); holding the lock, it
# makes one to three fenced writes (enforce_lock in mode "required", with
# lockable.owner and lockable.token set to its grant: a write under a
# superseded grant is refused with 55P03), and then either hands the lock
# over to someone in the line (lock_hand_over, 30%) or releases it.  Each of
# --admins administrators loops: it takes a random uid over
# (lock_take_over, with requeue half of the time), makes its writes, and
# releases.  Every grant a client sees (granted, with its token) is recorded.
#
# Checked afterwards:
#	- every grant a client saw is in lockable.history, with its owner and
#	  token, exactly once; no token is granted twice;
#	- tokens strictly increase per uid, in history order;
#	- each lock row carries the token of its uid's last grant in history;
#	- the writes that were accepted, in the order they committed per uid,
#	  never go back to an older token: a holder displaced by a take over or
#	  a hand over can no longer write;
#	- amcheck is clean on lockable's tables.
#
# Prints the figures; exits 1 on a violation, 2 on a client error.

use strict;
use warnings;
use DBI;
use Getopt::Long;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::Bin;
use StorageCheck;

my ($clients, $admins, $seconds, $uids) = (12, 2, 15, 4);
GetOptions(
	'clients=i' => \$clients,
	'admins=i' => \$admins,
	'seconds=i' => \$seconds,
	'uids=i' => \$uids) or die "usage: $0 [--clients N] [--admins N] [--seconds S] [--uids U]\n";

sub Connect
{
	my $dbh = DBI->connect('dbi:Pg:', undef, undef,
		{ RaiseError => 0, PrintError => 0, AutoCommit => 1 })
	  or die "connect: $DBI::errstr\n";
	$dbh->do('SET lockable.notify = off');
	return $dbh;
}

my $setup = Connect();
$setup->{RaiseError} = 1;
$setup->do($_) for (
	'DROP TABLE IF EXISTS th_doc, th_writes, th_seen',
	'CREATE TABLE th_doc (uid text PRIMARY KEY, body bigint NOT NULL DEFAULT 0)',
	'CREATE TABLE th_writes (n bigserial PRIMARY KEY, uid text, owner text, token bigint)',
	'CREATE TABLE th_seen (uid text, owner text, token bigint)',
	q{DELETE FROM lockable.history WHERE uid LIKE 'th:%'},
	q{SELECT lockable.enable_lock_enforcement('th_doc', 'uid', '', true)});
$setup->do('INSERT INTO th_doc (uid) VALUES ($1)', undef, "th:$_") for 1 .. $uids;
$setup->disconnect;

my $deadline = time + $seconds;
pipe(my $from_clients, my $to_parent) or die "pipe: $!\n";
my @pids;

# Write SESSION UID OWNER TOKEN: one fenced write; 1 accepted, 0 refused.
sub Write
{
	my ($dbh, $uid, $owner, $token, $stats) = @_;
	$dbh->begin_work;
	$dbh->do(q{SELECT set_config('lockable.owner', $1, true), set_config('lockable.token', $2, true)},
		undef, $owner, $token);
	if ($dbh->do('UPDATE th_doc SET body = body + 1 WHERE uid = $1', undef, $uid) &&
		$dbh->do('INSERT INTO th_writes (uid, owner, token) VALUES ($1, $2, $3)',
			undef, $uid, $owner, $token) && $dbh->commit)
	{
		$stats->{accepted}++;
		return 1;
	}
	my $state = $dbh->state // '';
	$dbh->rollback;
	die "write: " . ($dbh->errstr // '?') . "\n" unless $state eq '55P03';
	$stats->{refused}++;
	return 0;
}

sub Seen
{
	my ($dbh, $uid, $owner, $token) = @_;
	$dbh->do('INSERT INTO th_seen VALUES ($1, $2, $3)', undef, $uid, $owner, $token)
	  or die "seen: " . $dbh->errstr . "\n";
}

for my $c (1 .. $clients + $admins)
{
	my $pid = fork;
	die "fork: $!\n" unless defined $pid;
	if ($pid == 0)
	{
		close $from_clients;
		srand($$ ^ time);
		my $dbh = Connect();
		my %stats = map { $_ => 0 } qw(grants takeovers handovers accepted refused errors);
		my $admin = $c > $clients;
		my $n = 0;
		eval {
			while (time < $deadline)
			{
				my $uid = 'th:' . (1 + int(rand($uids)));
				my $me = ($admin ? 'admin' : 'client') . "$c.$n";
				$n++;
				my ($granted, $token);
				if ($admin)
				{
					($granted, $token) = $dbh->selectrow_array(
						q{SELECT granted, token FROM lockable.lock_take_over($1, $2, '2 seconds', 'hammer', $3)},
						undef, $uid, $me, rand() < 0.5 ? 1 : 0)
					  or die "take over: " . $dbh->errstr . "\n";
					$stats{takeovers}++;
				}
				else
				{
					my $until = time + 3;
					while (time < $until && time < $deadline)
					{
						($granted, $token) = $dbh->selectrow_array(
							q{SELECT granted, token FROM lockable.lock_acquire($1, $2, '2 seconds', queue => true)},
							undef, $uid, $me);
						die "acquire: " . $dbh->errstr . "\n" if $dbh->err;
						last if $granted;
						sleep 0.02;
					}
				}
				if (!$granted)
				{
					$dbh->do('SELECT lockable.lock_release($1, $2)', undef, $uid, $me);
					next;
				}
				$stats{grants}++;
				Seen($dbh, $uid, $me, $token);
				for (1 .. 1 + int(rand(3)))
				{
					last unless Write($dbh, $uid, $me, $token, \%stats);
				}
				if (!$admin && rand() < 0.3)
				{
					my ($to) = $dbh->selectrow_array(
						q{SELECT owner FROM lockable.lock_queue WHERE uid = $1 AND owner <> $2
						  ORDER BY random() LIMIT 1}, undef, $uid, $me);
					if (defined $to &&
						$dbh->selectrow_array('SELECT lockable.lock_hand_over($1, $2, $3)',
							undef, $uid, $me, $to))
					{
						$stats{handovers}++;
						next;
					}
				}
				$dbh->do('SELECT lockable.lock_release($1, $2)', undef, $uid, $me)
				  or die "release: " . $dbh->errstr . "\n";
				# an administrator steps in now and then, not all the time
				sleep 0.05 + rand(0.1) if $admin;
			}
			1;
		} or do {
			warn "client $c: $@";
			$stats{errors}++;
		};
		syswrite $to_parent, join(' ', map { "$_=$stats{$_}" } sort keys %stats) . "\n";
		exit 0;
	}
	push @pids, $pid;
}
close $to_parent;
my %total;
my $reports = 0;
while (my $line = <$from_clients>)
{
	$reports++;
	for (split ' ', $line)
	{
		my ($k, $v) = split /=/;
		$total{$k} += $v;
	}
}
waitpid($_, 0) for @pids;

# Every client has stopped: settle what is still held, then check.
my $dbh = Connect();
$dbh->{RaiseError} = 1;
my $grant_events = q{('grant', 'expiry_hand_off', 'sweep', 'take_over', 'hand_over')};
my @checks = (
	[ 'grants seen by a client and missing from the history', qq{
		SELECT count(*) FROM th_seen s WHERE NOT EXISTS (
			SELECT 1 FROM lockable.history h
			 WHERE h.uid = s.uid AND h.token = s.token AND h.owner = s.owner
			   AND h.event IN $grant_events)} ],
	[ 'tokens granted more than once', qq{
		SELECT count(*) FROM (SELECT uid, token FROM lockable.history
		                       WHERE uid LIKE 'th:%' AND event IN $grant_events
		                       GROUP BY uid, token HAVING count(*) > 1) d} ],
	[ 'tokens that went backwards in the history', qq{
		SELECT count(*) FROM (
			SELECT token, lag(token) OVER (PARTITION BY uid ORDER BY id) AS prev
			  FROM lockable.history WHERE uid LIKE 'th:%' AND event IN $grant_events) t
		 WHERE token <= prev} ],
	[ 'lock rows whose token is not their last grant in the history', qq{
		SELECT count(*) FROM lockable.locks l
		 WHERE l.uid LIKE 'th:%' AND l.token IS DISTINCT FROM (
			SELECT h.token FROM lockable.history h
			 WHERE h.uid = l.uid AND h.event IN $grant_events
			 ORDER BY h.id DESC LIMIT 1)} ],
	[ 'accepted writes under an older token than one before them', q{
		SELECT count(*) FROM (
			SELECT token, max(token) OVER (PARTITION BY uid ORDER BY n
			         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
			  FROM th_writes) w
		 WHERE token < before} ],
);
my $violations = 0;
for my $check (@checks)
{
	my $count = $dbh->selectrow_array($check->[1]);
	if ($count)
	{
		print "VIOLATION: $check->[0]: $count\n";
		$violations += $count;
	}
}
my ($history) = $dbh->selectrow_array(q{SELECT count(*) FROM lockable.history WHERE uid LIKE 'th:%'});
printf "transfer hammer: clients=%d admins=%d seconds=%d uids=%d\n", $clients, $admins, $seconds, $uids;
printf "  grants=%d take_overs=%d hand_overs=%d writes_accepted=%d writes_refused=%d history_rows=%d violations=%d\n",
  $total{grants} // 0, $total{takeovers} // 0, $total{handovers} // 0,
  $total{accepted} // 0, $total{refused} // 0, $history, $violations;
$dbh->do(q{SELECT lockable.lock_release_all(owner) FROM lockable.active_locks WHERE uid LIKE 'th:%'});
my ($storage, @problems) = StorageCheck::Check($dbh, 'lockable.locks', 'lockable.places',
	'lockable.history');
print "  storage: $storage\n";
print "VIOLATION: $_\n" for @problems;
my $storage_ok = !@problems;
$dbh->do('DROP TABLE th_doc, th_writes, th_seen');
exit 2 if ($total{errors} // 0) || $reports != $clients + $admins;
exit 1 if $violations || !$storage_ok;
exit 0;
