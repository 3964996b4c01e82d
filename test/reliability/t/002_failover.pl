#
# test/reliability/t/002_failover.pl
#	  Locks survive failover to a synchronous standby: a primary with one
#	  synchronous streaming standby; locks are taken on the primary; the
#	  primary is stopped in immediate mode (no shutdown checkpoint, as in a
#	  crash) and the standby promoted.  On the new primary the lock is held
#	  by the same owner with the same token, another owner is refused, and
#	  the next grant's token is greater than every token handed out before.
#
# Run by test/suites/70-failover.sh (prove, as the postgres OS user).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION lockable');
$primary->backup('base');

# cluster_name, and so the standby's application_name, is the node's name
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# Commits on the primary now wait for the standby to have them.
$primary->safe_psql('postgres', q{
	ALTER SYSTEM SET synchronous_standby_names = 'standby';
	ALTER SYSTEM SET synchronous_commit = on;
	SELECT pg_reload_conf();
});
$primary->poll_query_until('postgres', q{
	SELECT sync_state = 'sync' FROM pg_stat_replication
	 WHERE application_name = 'standby'})
  or die 'the standby never became synchronous';

# Locks on the primary, each commit acknowledged only once the standby has
# it: a live one, a renewed one, a released one, and many grants that push
# the token counter on.
my ($token1, $acquired1, $expires1) = split /\|/, $primary->safe_psql('postgres', q{
	SELECT token, acquired_at, expires_at
	  FROM lockable.lock_acquire('doc:1', 'alice', '1 hour')});
$primary->safe_psql('postgres', q{
	SELECT lockable.lock_acquire('doc:2', 'bob', '1 hour');
	SELECT lockable.lock_acquire('doc:2', 'bob', '2 hours');
	SELECT lockable.lock_acquire('doc:3', 'carol');
	SELECT lockable.lock_release('doc:3', 'carol');
	SELECT count(*) FROM (
		SELECT lockable.lock_acquire('churn:' || i, 'dave'),
		       lockable.lock_release('churn:' || i, 'dave')
		  FROM generate_series(1, 100) AS i) AS s;
});
my $max_before = $primary->safe_psql('postgres',
	q{SELECT token FROM lockable.lock_acquire('last', 'erin')});
my $doc2 = $primary->safe_psql('postgres',
	q{SELECT owner, token, expires_at FROM lockable.locks WHERE uid = 'doc:2'});

# Fail over.
$primary->stop('immediate');
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f',
	'the standby is promoted');

is($standby->safe_psql('postgres', q{
	SELECT owner, token, acquired_at, expires_at FROM lockable.active_locks
	 WHERE uid = 'doc:1'}), "alice|$token1|$acquired1|$expires1",
	'the lock is held by the same owner with the same token and lease');
is($standby->safe_psql('postgres',
	qq{SELECT lockable.lock_verify('doc:1', 'alice', $token1)}), 't',
	'the holder\'s grant verifies on the new primary');
is($standby->safe_psql('postgres', q{
	SELECT owner, token, expires_at FROM lockable.locks WHERE uid = 'doc:2'}),
	$doc2, 'a renewal is kept');
is($standby->safe_psql('postgres', q{SELECT lockable.lock_owner('doc:3')}), '',
	'a release is kept');
is($standby->safe_psql('postgres', q{
	SELECT granted, owner, token IS NULL
	  FROM lockable.lock_acquire('doc:1', 'mallory')}), 'f|alice|t',
	'another owner is refused');
is($standby->safe_psql('postgres', q{
	SELECT granted, token FROM lockable.lock_acquire('doc:1', 'alice', '1 hour')}),
	"t|$token1", 'the holder renews with its token');
my $next = $standby->safe_psql('postgres',
	q{SELECT token FROM lockable.lock_acquire('doc:3', 'frank')});
cmp_ok($next, '>', $max_before,
	"next token $next > highest token handed out before failover $max_before");
my $next_new = $standby->safe_psql('postgres',
	q{SELECT token FROM lockable.lock_acquire('doc:new', 'frank')});
cmp_ok($next_new, '>', $next, "and the one after, $next_new, is greater still");

$standby->safe_psql('postgres', 'CREATE EXTENSION amcheck');
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM (
		SELECT bt_index_check(indexrelid, true) FROM pg_index
		 WHERE indrelid = 'lockable.locks'::regclass) AS checked
	UNION ALL SELECT count(*) FROM verify_heapam('lockable.locks')}), "1\n0",
	'amcheck: the promoted copy of lockable.locks is consistent');

note("figures: token of doc:1 = $token1, highest before failover = $max_before, first after = $next");
$standby->stop;
done_testing();
