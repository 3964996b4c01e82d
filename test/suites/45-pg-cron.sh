#!/usr/bin/env bash
# The pg_cron route (issue 9): a lock abandoned by its holder, with a live
# place behind it and no client calling, is handed on by a scheduled
# lock_sweep().  Debian's postgresql-15-cron is preloaded on a cluster of
# this suite's own; the job is the README's one-line cron.schedule call
# (pg_cron 1.4 schedules by the minute, so this takes up to about 70 s).
# Checked: the waiter becomes the holder with nobody calling, the listener
# hears "expired" for the old holder and "acquired" for the waiter, and the
# job's run is recorded as succeeded.
source "$(dirname "$0")/../lib.sh"
EnsureServerPackagesOrSkip "postgresql-$PG_MAJOR-cron"
EnsurePackages libdbd-pg-perl

# A cluster of our own: pg_cron must be preloaded, and runs its jobs in
# background workers in the database it is told.
StartCluster "shared_preload_libraries = 'pg_cron'" \
    "cron.database_name = 'lockable_cron'" \
    "cron.use_background_workers = on" \
    "max_worker_processes = 16"
createdb lockable_cron
export PGDATABASE=lockable_cron
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION lockable' -c 'CREATE EXTENSION pg_cron'

# The README's line.
psql -X -q -At -v ON_ERROR_STOP=1 \
    -c "SELECT cron.schedule('lockable-sweep', '* * * * *', 'SELECT lockable.lock_sweep()')" >/dev/null

# Alice's editor dies while Bob waits in line; nobody calls after that.
psql -X -q -At -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT granted FROM lockable.lock_acquire('doc:cron', 'alice', '2 seconds');
SELECT position FROM lockable.lock_acquire('doc:cron', 'bob', '10 minutes', queue => true);
SQL

perl - <<'PERL'
use strict;
use warnings;
use DBI;
use IO::Select;
use Time::HiRes qw(time);

my $dbh = DBI->connect('dbi:Pg:', undef, undef, { RaiseError => 1, AutoCommit => 1 });
$dbh->do('LISTEN lockable');
my $sel = IO::Select->new($dbh->{pg_socket});
my $start = time;
my (@events, $handed);
while (time - $start < 150 && !$handed)
{
	$sel->can_read(1);
	while (my $n = $dbh->pg_notifies)
	{
		push @events, $n->[2];
		$handed = 1 if $n->[2] =~ /"event": "acquired".*"owner": "bob"/;
	}
}
my $elapsed = time - $start;
my $owner = $dbh->selectrow_array(q{SELECT lockable.lock_owner('doc:cron')});
# the job's run is recorded as finished just after it commits
my ($runs, $ok, $running);
for (1 .. 100)
{
	($runs, $ok, $running) = $dbh->selectrow_array(q{
		SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'),
		       count(*) FILTER (WHERE status IN ('starting', 'running'))
		  FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		 WHERE j.jobname = 'lockable-sweep'});
	last unless $running;
	select(undef, undef, undef, 0.1);
}
printf "pg_cron: the hand-off came %.0f s after the lease was abandoned; job runs %d, succeeded %d\n",
  $elapsed, $runs, $ok;
print "  heard: $_\n" for @events;
my $fail = 0;
unless ($handed && grep { /"event": "expired".*"owner": "alice"/ } @events)
{
	print "FAIL: no expired/acquired notifications for the hand-off\n";
	$fail = 1;
}
unless (($owner // '') eq 'bob')
{
	print "FAIL: lock_owner is '" . ($owner // '') . "', not bob\n";
	$fail = 1;
}
unless ($runs >= 1 && $runs == $ok)
{
	print "FAIL: the job's runs did not all succeed\n";
	$fail = 1;
}
exit $fail;
PERL
