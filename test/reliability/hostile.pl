#!/usr/bin/perl
#
# test/reliability/hostile.pl
#	  Hostile and odd input, table-driven.
#
# Connects with the libpq environment (PGHOST, PGPORT, PGDATABASE) to a
# database where lockable is installed, as a superuser (it reads
# lockable.locks and lockable.places to take its checksum).
#
# 1. Refused input: every case must fail with its documented SQLSTATE,
#    leave lockable.locks and lockable.places byte for byte as they were (an
#    md5 over both tables) and send no notification.
# 2. Odd but valid names (quotes, backslashes, newlines, control characters,
#    non-ASCII, 511 and 512 bytes, JSON look-alikes) used as uid and owner:
#    acquire, look up, verify and release work, and each notification
#    payload parses as JSON and gives back exactly the names sent.
# 3. Boundaries that are valid (ttl = max_ttl, a wait of 178000000 years on a
#    free lock) inside a transaction that is rolled back: the table is
#    unchanged afterwards and nothing is announced.
# 4. Waits interrupted by statement_timeout and by query cancel, calls in
#    aborted transactions, and savepoints rolled back.
#
# Prints one line per failed case and a summary; exits 1 on any failure.

use strict;
use warnings;
use utf8;

use DBI;
use DBD::Pg qw(:async);
use JSON::PP;
use Time::HiRes qw(sleep time);

binmode STDOUT, ':encoding(UTF-8)';

sub Connect
{
	my $dbh = DBI->connect('dbi:Pg:', undef, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0,
		  pg_enable_utf8 => 1 });
	$dbh->do('SET client_min_messages = warning');
	return $dbh;
}

my $s = Connect();			# the session under test
my $checker = Connect();	# takes the checksums, outside $s's transactions
my $holder = Connect();		# holds a lock that others wait for
my $listener = Connect();	# LISTENs on the lockable channel
$listener->do('LISTEN lockable');

my $cases = 0;
my %failed;

sub Fail
{
	my ($label, $why) = @_;
	$failed{$label} = 1;
	print "FAIL $label: $why\n";
}

sub Checksum
{
	return $checker->selectrow_array(q{
		SELECT md5(coalesce((SELECT string_agg(l::text, E'\n' ORDER BY uid)
		                       FROM lockable.locks l), '')
		           || coalesce((SELECT string_agg(p::text, E'\n' ORDER BY uid, owner)
		                          FROM lockable.places p), '')
		           || coalesce((SELECT string_agg(r::text, E'\n' ORDER BY uid, owner)
		                          FROM lockable.presence_leases r), ''))});
}

# Notifications delivered to the listener since the last call; with $want,
# keep reading for up to 10 seconds until that many have come.
sub Notifications
{
	my ($want) = @_;
	my $give_up = time + 10;
	my @got;

	for (;;)
	{
		$listener->do('SELECT 1');	# let libpq read what has arrived
		while (my $n = $listener->pg_notifies)
		{
			my $payload = $n->[2];
			utf8::encode($payload) if utf8::is_utf8($payload);
			my $json = eval { decode_json($payload) };
			push @got, $json // { unparsable => $n->[2] };
		}
		last if !$want || @got >= $want || time > $give_up;
		sleep 0.01;
	}
	return @got;
}

# Run one statement on the session; returns (SQLSTATE or '', first row).
sub Run
{
	my ($dbh, $sql, @params) = @_;
	my @row = eval { $dbh->selectrow_array($sql, undef, @params) };
	return ($@ ? $dbh->state : '', @row);
}

# Refused: the statement must fail with $state, change nothing, announce
# nothing.
sub Refused
{
	my ($label, $state, $sql, @params) = @_;
	$cases++;
	my $before = Checksum();
	my ($got) = Run($s, $sql, @params);
	$s->rollback unless $s->{AutoCommit};
	Fail($label, "SQLSTATE \"$got\", expected $state") if $got ne $state;
	Fail($label, 'lockable.locks changed') if Checksum() ne $before;
	my @n = Notifications();
	Fail($label, scalar(@n) . ' notification(s) sent') if @n;
}

my $acquire = 'SELECT granted, token FROM lockable.lock_acquire($1, $2, $3::interval, $4::interval)';
my $queue = 'SELECT granted, position FROM lockable.lock_acquire($1, $2, $3::interval, $4::interval, $5::boolean)';
my $ok = 'ok';
my $big = 'x' x (1024 * 1024);

#---- 1. refused input ----

# NULL anywhere: 22004
Refused('acquire: uid NULL', '22004', $acquire, undef, 'o', '1 min', '0');
Refused('acquire: owner NULL', '22004', $acquire, 'u', undef, '1 min', '0');
Refused('acquire: ttl NULL', '22004', $acquire, 'u', 'o', undef, '0');
Refused('acquire: wait NULL', '22004', $acquire, 'u', 'o', '1 min', undef);
Refused('release: uid NULL', '22004', 'SELECT lockable.lock_release($1, $2)', undef, 'o');
Refused('release: owner NULL', '22004', 'SELECT lockable.lock_release($1, $2)', 'u', undef);
Refused('owner: uid NULL', '22004', 'SELECT lockable.lock_owner($1)', undef);
Refused('verify: uid NULL', '22004', 'SELECT lockable.lock_verify($1, $2, $3::bigint)', undef, 'o', 1);
Refused('verify: owner NULL', '22004', 'SELECT lockable.lock_verify($1, $2, $3::bigint)', 'u', undef, 1);
Refused('verify: token NULL', '22004', 'SELECT lockable.lock_verify($1, $2, $3::bigint)', 'u', 'o', undef);
Refused('release_all: owner NULL', '22004', 'SELECT lockable.lock_release_all($1)', undef);
Refused('break: uid NULL', '22004', 'SELECT lockable.lock_break($1)', undef);
Refused('acquire: queue NULL', '22004', $queue, 'u', 'o', '1 min', '0', undef);

# waiting and queueing exclude each other: 22023
Refused('acquire: wait and queue', '22023', $queue, 'u', 'o', '1 min', '1 second', 'true');

# empty, too long: 22023
my @names = (
	['empty', ''],
	['513 bytes', 'a' x 513],
	['513 bytes of two-byte characters and one', ('é' x 256) . 'a'],
	['1 MB', $big],
	['16 MB', $big x 16],
);
for my $n (@names)
{
	my ($what, $v) = @$n;
	Refused("acquire: uid $what", '22023', $acquire, $v, 'o', '1 min', '0');
	Refused("acquire: owner $what", '22023', $acquire, 'u', $v, '1 min', '0');
	Refused("queue: uid $what", '22023', $queue, $v, 'o', '1 min', '0', 'true');
	Refused("queue: owner $what", '22023', $queue, 'u', $v, '1 min', '0', 'true');
	Refused("release: uid $what", '22023', 'SELECT lockable.lock_release($1, $2)', $v, 'o');
	Refused("release: owner $what", '22023', 'SELECT lockable.lock_release($1, $2)', 'u', $v);
	Refused("owner: uid $what", '22023', 'SELECT lockable.lock_owner($1)', $v);
	Refused("verify: uid $what", '22023', 'SELECT lockable.lock_verify($1, $2, 1)', $v, 'o');
	Refused("verify: owner $what", '22023', 'SELECT lockable.lock_verify($1, $2, 1)', 'u', $v);
	Refused("release_all: owner $what", '22023', 'SELECT lockable.lock_release_all($1)', $v);
	Refused("break: uid $what", '22023', 'SELECT lockable.lock_break($1)', $v);
}

# bytes that are not UTF-8 never reach lockable: the server refuses them
{
	my $raw = $s;
	$s = DBI->connect('dbi:Pg:', undef, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0, pg_enable_utf8 => 0 });
	Refused('acquire: uid not UTF-8', '22021', $acquire, "\xff\xfe", 'o', '1 min', '0');
	Refused('acquire: owner not UTF-8', '22021', $acquire, 'u', "a\xc3", '1 min', '0');
	$s->disconnect;
	$s = $raw;
}

# ttl: positive, every field non-negative, at most lockable.max_ttl (1 day)
for my $ttl ('0', '-1 microsecond', '-178000000 years', '1 day -1 second',
	'-1 day +25 hours', '1 mon -1 day', '1 second -1000 milliseconds',
	'178000000 years', '1 day 1 microsecond', '1 mon', '2147483647 days',
	'-2147483648 months 1 day')
{
	Refused("acquire: ttl '$ttl'", '22023', $acquire, 'u', 'o', $ttl, '0');
	Refused("queue: ttl '$ttl'", '22023', $queue, 'u', 'o', $ttl, '0', 'true');
}
Refused('acquire: ttl out of range', '22015', $acquire, 'u', 'o', '178000000000 years', '0');
for my $wait ('-1 microsecond', '-178000000 years', '1 day -1 microsecond',
	'-1 mon 31 days')
{
	Refused("acquire: wait '$wait'", '22023', $acquire, 'u', 'o', '1 min', $wait);
}
for my $age ('-1 microsecond', '-178000000 years', '1 day -1 microsecond')
{
	Refused("sweep: older_than '$age'", '22023', 'SELECT lockable.lock_sweep($1::interval)', $age);
}
Refused('sweep: older_than NULL', '22004', 'SELECT lockable.lock_sweep($1::interval)', undef);
# presence leases (1.4): the same argument rules
my $touch = 'SELECT lockable.presence_touch($1, $2, $3::interval, $4::boolean)';
Refused('presence_touch: uid NULL', '22004', $touch, undef, 'o', '1 min', 'false');
Refused('presence_touch: owner NULL', '22004', $touch, 'u', undef, '1 min', 'false');
Refused('presence_touch: ttl NULL', '22004', $touch, 'u', 'o', undef, 'false');
Refused('presence_touch: idle NULL', '22004', $touch, 'u', 'o', '1 min', undef);
Refused('presence_touch: uid empty', '22023', $touch, '', 'o', '1 min', 'false');
Refused('presence_touch: owner of 1 MB', '22023', $touch, 'u', $big, '1 min', 'false');
for my $ttl ('0', '-1 microsecond', '1 day 1 microsecond', '178000000 years')
{
	Refused("presence_touch: ttl '$ttl'", '22023', $touch, 'u', 'o', $ttl, 'false');
}
Refused('presence_leave: owner NULL', '22004', 'SELECT lockable.presence_leave($1, $2)', 'u', undef);

# the cap itself: only superusers may move it, and not past 100 years
Refused('max_ttl: 178000000 years', '22023', q{SET lockable.max_ttl = '178000000 years'});
Refused('max_ttl: -1 microsecond', '22023', q{SET lockable.max_ttl = '-1 microsecond'});
Refused('max_ttl: not an interval', '22023', q{SET lockable.max_ttl = 'soon'});

#---- 2. odd names ----

my @odd = (
	"it's", '"quoted"', 'back\\slash', '\\', '\\"', "line\nbreak", "cr\r\nlf",
	"tab\there", "\x01\x02\x1b\x1f\x7f", "\x{85}\x{2028}\x{2029}", 'é',
	'日本語', "\x{1F512} lock", "\x{202E}rtl", ' ', 'null', 'NULL',
	'{"event": "fake", "uid": "x"}', '%s%n%d', "'; DROP TABLE lockable.locks; --",
	'a' x 511, 'a' x 512, 'é' x 256, "\x01" x 512, '"' x 512, '\\' x 512,
);
for my $name (@odd)
{
	my $label = 'name ' . JSON::PP->new->ascii->allow_nonref->encode(
		length($name) > 24 ? substr($name, 0, 12) . '... (' . length($name) . ' chars)' : $name);
	$cases++;
	my ($state, $granted, $token) = Run($s, $acquire, $name, $name, '1 min', '0');
	if ($state ne '' || !$granted)
	{
		Fail($label, "acquire: SQLSTATE \"$state\", granted " . ($granted // 'NULL'));
		next;
	}
	my ($owner) = $s->selectrow_array('SELECT lockable.lock_owner($1)', undef, $name);
	Fail($label, 'lock_owner gave another name') unless defined $owner && $owner eq $name;
	my ($live) = $s->selectrow_array('SELECT lockable.lock_verify($1, $1, $2)', undef, $name, $token);
	Fail($label, 'lock_verify false') unless $live;
	my ($released) = $s->selectrow_array('SELECT lockable.lock_release($1, $1)', undef, $name);
	Fail($label, 'lock_release false') unless $released;

	my @n = Notifications(2);
	my @want = (['acquired', $token], ['released', $token]);
	if (@n != 2)
	{
		Fail($label, scalar(@n) . ' notifications, expected 2');
		next;
	}
	for my $i (0, 1)
	{
		my $j = $n[$i];
		if (exists $j->{unparsable})
		{
			Fail($label, "payload is not JSON: $j->{unparsable}");
			next;
		}
		Fail($label, "payload $i has wrong event, uid, owner or token")
		  unless ($j->{event} // '') eq $want[$i][0]
		  && ($j->{uid} // '') eq $name
		  && ($j->{owner} // '') eq $name
		  && ($j->{token} // 0) == $want[$i][1]
		  && ($j->{waiters} // -1) == 0
		  && keys %$j == 5;
	}
}

#---- 3. valid boundaries, rolled back ----

sub RolledBack
{
	my ($label, $check, $sql, @params) = @_;
	$cases++;
	my $before = Checksum();
	$s->begin_work;
	my ($state, @row) = Run($s, $sql, @params);
	$s->rollback;
	if ($state ne '')
	{
		Fail($label, "SQLSTATE \"$state\"");
		return;
	}
	Fail($label, 'unexpected result (' . join(', ', map { $_ // 'NULL' } @row) . ')')
	  unless $check->(@row);
	Fail($label, 'lockable.locks changed after rollback') if Checksum() ne $before;
	my @n = Notifications();
	Fail($label, scalar(@n) . ' notification(s) sent after rollback') if @n;
}

RolledBack('ttl = max_ttl', sub { $_[0] }, $acquire, 'b', 'o', '1 day', '0');
RolledBack('ttl = max_ttl in hours', sub { $_[0] }, $acquire, 'b', 'o', '24 hours', '0');
RolledBack('ttl 1 microsecond', sub { $_[0] }, $acquire, 'b', 'o', '1 microsecond', '0');
RolledBack('wait 178000000 years on a free lock', sub { $_[0] }, $acquire, 'b', 'o', '1 min', '178000000 years');
RolledBack('uid and owner of 512 bytes', sub { $_[0] }, $acquire, 'a' x 512, 'é' x 256, '1 min', '0');
RolledBack('sweep older than 178000000 years', sub { defined $_[0] && $_[0] == 0 },
	'SELECT lockable.lock_sweep($1::interval)', '178000000 years');

#---- 4. interrupted waits, aborted transactions, savepoints ----

# A lock held by another session, for the waits to wait on.
my ($hg) = $holder->selectrow_array($acquire, undef, 'held', 'holder', '1 hour', '0');
die "holder could not take its lock\n" unless $hg;
Notifications();

# statement_timeout ends a wait of 178000000 years
$s->do(q{SET statement_timeout = '300ms'});
Refused('wait ended by statement_timeout', '57014', $acquire, 'held', 'waiter', '1 min', '178000000 years');
$s->do('RESET statement_timeout');

# so does query cancel
{
	$cases++;
	my $before = Checksum();
	my $w = Connect();
	my $pid = $w->{pg_pid};
	$w->do("SELECT granted FROM lockable.lock_acquire('held', 'waiter', '1 min', '30 s')",
		{ pg_async => PG_ASYNC });
	# cancel once it is really waiting (a cancel that came too early would
	# leave the wait to run out after 30 s, and the case would fail)
	my $give_up = time + 10;
	sleep 0.01 until $checker->selectrow_array(q{
		SELECT state = 'active' AND wait_event_type = 'Extension'
		  FROM pg_stat_activity WHERE pid = ?}, undef, $pid) || time > $give_up;
	$checker->do('SELECT pg_cancel_backend(?)', undef, $pid);
	eval { $w->pg_result };
	my $state = $@ ? $w->state : 'no error';
	Fail('wait ended by cancel', "SQLSTATE \"$state\", expected 57014") if $state ne '57014';
	Fail('wait ended by cancel', 'lockable.locks changed') if Checksum() ne $before;
	Fail('wait ended by cancel', 'notification sent') if Notifications();
	$w->disconnect;
}

# inside a transaction that already failed: 25P02, nothing done
{
	$s->begin_work;
	eval { $s->do('SELECT 1/0') };
	Refused('acquire in an aborted transaction', '25P02', $acquire, 'u', 'o', '1 min', '0');
}
{
	$s->begin_work;
	eval { $s->do('SELECT 1/0') };
	Refused('release in an aborted transaction', '25P02', q{SELECT lockable.lock_release('held', 'holder')});
}

# a grant rolled back by an error later in its transaction
{
	$cases++;
	my $before = Checksum();
	$s->begin_work;
	my ($granted) = $s->selectrow_array($acquire, undef, 'u', 'o', '1 min', '0');
	eval { $s->do('SELECT 1/0') };
	$s->rollback;
	Fail('grant then error', 'not granted inside the transaction') unless $granted;
	Fail('grant then error', 'lockable.locks changed') if Checksum() ne $before;
	Fail('grant then error', 'notification sent') if Notifications();
}

# savepoints: a grant or a release rolled back to a savepoint is undone
{
	$cases++;
	my $label = 'savepoints';
	my $before = Checksum();
	$s->begin_work;
	$s->do('SAVEPOINT a');
	my ($granted) = $s->selectrow_array($acquire, undef, 'sp', 'o', '1 min', '0');
	$s->do('ROLLBACK TO SAVEPOINT a');
	my ($owner) = $s->selectrow_array(q{SELECT lockable.lock_owner('sp')});
	Fail($label, 'grant survived ROLLBACK TO SAVEPOINT') if defined $owner || !$granted;

	# an error inside a savepoint, then the transaction goes on
	$s->do('SAVEPOINT b');
	my ($state) = Run($s, $acquire, undef, 'o', '1 min', '0');
	Fail($label, "NULL uid in a savepoint gave \"$state\"") if $state ne '22004';
	$s->do('ROLLBACK TO SAVEPOINT b');
	($granted) = $s->selectrow_array($acquire, undef, 'sp', 'o', '1 min', '0');
	Fail($label, 'acquire after ROLLBACK TO SAVEPOINT refused') unless $granted;

	# a release undone by its savepoint leaves the lock held
	$s->do('SAVEPOINT c');
	my ($released) = $s->selectrow_array(q{SELECT lockable.lock_release('sp', 'o')});
	$s->do('ROLLBACK TO SAVEPOINT c');
	($owner) = $s->selectrow_array(q{SELECT lockable.lock_owner('sp')});
	Fail($label, 'release undone by its savepoint was not') unless $released && ($owner // '') eq 'o';
	$s->rollback;
	Fail($label, 'lockable.locks changed') if Checksum() ne $before;
	Fail($label, 'notification sent') if Notifications();
}

$holder->do(q{SELECT lockable.lock_release('held', 'holder')});
my $failures = keys %failed;
print "hostile input: $cases cases, " . ($cases - $failures) . " passed, $failures failed\n";
exit($failures ? 1 : 0);
