#!/usr/bin/perl
#
# test/reliability/notify_hints.pl
#	  Notifications are hints that never stop the lock change they announce
#	  (issue 20, items 9 and 11; src/notify.c).
#
# Usage: notify_hints.pl hints | queue-full
#
#   hints       on a cluster with max_prepared_transactions > 0:
#               - a grant in a transaction that is prepared: PREPARE works
#                 (1.3 refused it: "cannot PREPARE a transaction that has
#                 executed LISTEN, UNLISTEN, or NOTIFY"), with a WARNING
#                 naming lockable.notify; after COMMIT PREPARED the grant
#                 stands, nothing was heard, and the drop is counted;
#               - with lockable.notify_queue_limit = 0 a grant commits with
#                 a WARNING, unheard, and counted;
#               - a grant made in a subtransaction that rolled back is not
#                 announced, one made after it is;
#   queue-full  on a cluster with max_notify_queue_pages = 64 (17 and
#               later): a session LISTENs and sits idle in a transaction,
#               another fills the NOTIFY queue with pg_notify until
#               PostgreSQL refuses ("too many notifications"); a grant then
#               commits (1.3's failed with that error, everyone's did), with
#               a WARNING, and is counted.
#
# Prints what it checked; exits 1 on a failed check.

use strict;
use warnings;
use DBI;
use Time::HiRes qw(time sleep);

my $mode = shift // 'hints';
my $failed = 0;
my @warnings;

sub Connect
{
	my $dbh = DBI->connect('dbi:Pg:', undef, undef,
		{ RaiseError => 1, PrintError => 0, AutoCommit => 1 })
	  or die "connect: $DBI::errstr\n";
	$dbh->{HandleError} = undef;
	$SIG{__WARN__} = sub { push @warnings, $_[0] };
	return $dbh;
}

sub Check
{
	my ($what, $ok, $detail) = @_;
	printf "%s: %s%s\n", $ok ? 'ok' : 'FAIL', $what, $ok ? '' : " ($detail)";
	$failed = 1 unless $ok;
}

# Heard NOTIFY payloads on channel lockable within a moment.
sub Heard
{
	my ($listener) = @_;
	my @heard;
	my $until = time + 0.5;
	while (time < $until)
	{
		$listener->do('SELECT 1');
		while (my $n = $listener->pg_notifies)
		{
			push @heard, $n->[2] if $n->[0] eq 'lockable';
		}
		sleep 0.05;
	}
	return @heard;
}

sub Dropped
{
	my ($dbh) = @_;
	return $dbh->selectrow_array('SELECT dropped FROM lockable.notification_stats');
}

my $dbh = Connect();
my $listener = Connect();
$listener->do('LISTEN lockable');
$dbh->do(q{DELETE FROM lockable.locks WHERE uid LIKE 'hint:%'});
my $dropped0 = Dropped($dbh);

if ($mode eq 'hints')
{
	# A prepared grant (raw statements: the driver stays in autocommit).
	@warnings = ();
	$dbh->do('BEGIN');
	$dbh->do(q{SELECT lockable.lock_acquire('hint:2pc', 'alice', '1 hour')});
	my $prepared = eval { $dbh->do(q{PREPARE TRANSACTION 'lockable_hint'}); 1 };
	Check('PREPARE TRANSACTION after a grant, with lockable.notify on', $prepared, $dbh->errstr // $@);
	Check('its WARNING names lockable.notify',
		(grep { /lockable notification.*not sent/s } @warnings) &&
		  (grep { /lockable\.notify/ } @warnings) || 0,
		join(' | ', @warnings) || 'no warning');
	if ($prepared)
	{
		$dbh->do(q{COMMIT PREPARED 'lockable_hint'});
		Check('after COMMIT PREPARED the grant stands',
			($dbh->selectrow_array(q{SELECT lockable.lock_owner('hint:2pc')}) // '') eq 'alice', 'not alice');
	}
	else
	{
		$dbh->do('ROLLBACK');
	}
	my @heard = Heard($listener);
	Check('nothing was heard of the prepared grant', !grep({ /hint:2pc/ } @heard), "@heard");
	Check('the drop is counted', Dropped($dbh) == $dropped0 + 1, Dropped($dbh) . " after $dropped0");

	# The queue limit at 0: every hint is dropped, the grant commits.
	@warnings = ();
	$dbh->do(q{SET lockable.notify_queue_limit = 0});
	my $granted = $dbh->selectrow_array(q{SELECT granted FROM lockable.lock_acquire('hint:limit', 'bob', '1 hour')});
	$dbh->do(q{RESET lockable.notify_queue_limit});
	Check('with lockable.notify_queue_limit = 0 the grant commits', $granted, 'not granted');
	Check('with a WARNING', scalar(grep { /not sent/ } @warnings), 'no warning');
	@heard = Heard($listener);
	Check('unheard', !grep({ /hint:limit/ } @heard), "@heard");
	Check('and counted', Dropped($dbh) == $dropped0 + 2, Dropped($dbh));

	# Subtransactions.
	$dbh->begin_work;
	$dbh->do('SAVEPOINT s');
	$dbh->do(q{SELECT lockable.lock_acquire('hint:sp1', 'carol', '1 hour')});
	$dbh->do('ROLLBACK TO SAVEPOINT s');
	$dbh->do(q{SELECT lockable.lock_acquire('hint:sp2', 'dave', '1 hour')});
	$dbh->do('RELEASE SAVEPOINT s');
	$dbh->commit;
	@heard = Heard($listener);
	Check('a grant rolled back with its savepoint is not announced', !grep({ /hint:sp1/ } @heard), "@heard");
	Check('the grant after it is', scalar(grep { /"uid": "hint:sp2"/ } @heard), "@heard");
}
elsif ($mode eq 'queue-full')
{
	# A session that LISTENs and stays idle in a transaction holds the
	# queue's tail; another fills the queue.
	my $holder = Connect();
	$holder->do('LISTEN lockable_fill');
	$holder->begin_work;
	$holder->do('SELECT 1');
	my $filler = Connect();
	my ($sent, $full) = (0, 0);
	my $payload = 'x' x 7900;
	while ($sent < 100000)
	{
		if (!eval { $filler->do(q{SELECT pg_notify('lockable_fill', $1)}, undef, "$sent $payload"); 1 })
		{
			$full = ($filler->errstr // '') =~ /too many notifications/;
			last;
		}
		$sent++;
	}
	Check("the NOTIFY queue filled ($sent notifications of 8 kB)", $full, $filler->errstr // 'never refused');
	printf "  queue usage now %.2f\n",
	  $dbh->selectrow_array('SELECT pg_notification_queue_usage()');
	@warnings = ();
	my $granted = eval {
		$dbh->selectrow_array(q{SELECT granted FROM lockable.lock_acquire('hint:full', 'erin', '1 hour')});
	};
	Check('a grant commits while the queue is full', $granted, $dbh->errstr // $@ // 'refused');
	Check('with a WARNING', scalar(grep { /not sent/ } @warnings), 'no warning');
	Check('the grant stands',
		($dbh->selectrow_array(q{SELECT lockable.lock_owner('hint:full')}) // '') eq 'erin', 'not erin');
	Check('the drop is counted', Dropped($dbh) == $dropped0 + 1, Dropped($dbh));
	$holder->rollback;
	$holder->do('UNLISTEN *');
}
else
{
	die "usage: $0 hints | queue-full\n";
}
exit $failed;
