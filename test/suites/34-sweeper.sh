#!/usr/bin/env bash
# 34-sweeper: the background sweeper (issue 20, item 18; src/sweeper.c).
# On a cluster of its own with lockable preloaded, lockable.sweep_interval
# = 1 s and lockable.sweep_databases naming the suite's database; nobody
# calls lock_sweep, yet:
#   - the launcher runs (pg_stat_activity);
#   - while a session holds the sweeper's advisory lock (19531, 1), no sweep
#     happens: one sweep per database at a time;
#   - once it is released, the rows of released locks are deleted and a
#     lock whose holder vanished is handed to the waiter in its line;
#   - lockable.sweep_interval = 0, reloaded, turns it off.
source "$(dirname "$0")/../lib.sh"
EnsureServer
EnsurePackages libdbd-pg-perl
db=lockable_sweeper
StartCluster "shared_preload_libraries = 'lockable'" "lockable.sweep_interval = 1" \
    "lockable.sweep_databases = '$db'" "lockable.sweep_older_than = 0"
createdb "$db"
export PGDATABASE=$db
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION lockable' -c 'SET lockable.notify = off' \
    -c "SELECT count(*) FROM generate_series(1, 100) i, lockable.lock_acquire('sw:' || i, 'zed') a" \
    -c "SELECT lockable.lock_release_all('zed')" >/dev/null

perl - <<'PERL'
use strict;
use warnings;
use DBI;
use Time::HiRes qw(time sleep);

my $failed = 0;
sub Check
{
	my ($what, $ok, $detail) = @_;
	printf "%s: %s%s\n", $ok ? 'ok' : 'FAIL', $what, $ok ? '' : " ($detail)";
	$failed = 1 unless $ok;
}
my $dbh = DBI->connect('dbi:Pg:', undef, undef, { RaiseError => 1, AutoCommit => 1 });
my $one = sub { $dbh->selectrow_array($_[0]) };
# Poll up to $secs for $sql to give $want.
sub Within
{
	my ($secs, $sql, $want) = @_;
	my $until = time + $secs;
	my $got;
	while (time < $until)
	{
		$got = $one->($sql) // '';
		return (1, $got) if $got eq $want;
		sleep 0.2;
	}
	return (0, $got);
}

Check('the launcher runs',
	$one->(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lockable sweeper launcher'}) == 1,
	'no launcher');

# Hold the sweeper's lock: no round may sweep meanwhile.
my $holder = DBI->connect('dbi:Pg:', undef, undef, { RaiseError => 1, AutoCommit => 1 });
$holder->do('SELECT pg_advisory_lock(19531, 1)');
$dbh->do(q{SELECT lockable.lock_acquire('sw:gone', 'alice', '1 second')});
$dbh->do(q{SELECT lockable.lock_acquire('sw:gone', 'bob', '1 hour', queue => true)});
sleep 3;
Check('while its lock is held, no sweep: the 100 released rows stay',
	$one->(q{SELECT count(*) FROM lockable.locks WHERE uid LIKE 'sw:%' AND owner IS NULL}) == 100,
	$one->(q{SELECT count(*) FROM lockable.locks WHERE uid LIKE 'sw:%' AND owner IS NULL}));
$holder->do('SELECT pg_advisory_unlock(19531, 1)');

my ($ok, $got) = Within(15, q{SELECT count(*) FROM lockable.locks WHERE uid LIKE 'sw:%' AND owner IS NULL}, '0');
Check('then the rows of released locks are deleted, with nobody calling', $ok, "$got left");
($ok, $got) = Within(15, q{SELECT lockable.lock_owner('sw:gone')}, 'bob');
Check("and alice's expired lock is handed to bob, who waited in line", $ok, "holder '$got'");

$dbh->do(q{ALTER SYSTEM SET lockable.sweep_interval = 0});
$dbh->do(q{SELECT pg_reload_conf()});
sleep 1.5;
$dbh->do(q{SELECT lockable.lock_acquire('sw:late', 'carl')});
$dbh->do(q{SELECT lockable.lock_release('sw:late', 'carl')});
sleep 3;
Check('lockable.sweep_interval = 0 turns it off',
	$one->(q{SELECT count(*) FROM lockable.locks WHERE uid = 'sw:late'}) == 1, 'swept');
$dbh->do(q{ALTER SYSTEM RESET lockable.sweep_interval});
$dbh->do(q{SELECT pg_reload_conf()});
exit $failed;
PERL
