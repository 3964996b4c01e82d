#
# test/reliability/t/003_standby.pl
#	  What a hot standby may be asked.  A primary streams to an asynchronous
#	  standby.  On the standby, lock_owner and the views answer from what
#	  has been replayed, which may lag behind the primary; lock_verify, the
#	  fencing check, refuses to answer there (55000), because under lag it
#	  would confirm a grant the primary has already broken; changes are
#	  refused as on any standby (25006).  Replay is paused to make the lag
#	  certain rather than hoped for.
#
# Run by test/suites/75-standby.sh (prove, as the postgres OS user).

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

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my $alice = $primary->safe_psql('postgres',
	q{SELECT token FROM lockable.lock_acquire('doc:1', 'alice', '1 hour')});
$primary->wait_for_catchup($standby, 'replay');

is($standby->safe_psql('postgres', q{SELECT lockable.lock_owner('doc:1')}),
	'alice', 'lock_owner answers on the standby');
is($standby->safe_psql('postgres',
	q{SELECT owner, token FROM lockable.active_locks WHERE uid = 'doc:1'}),
	"alice|$alice", 'the view answers on the standby');

# The fencing check is refused, whatever the answer would be.
my ($rc, $out, $err) = $standby->psql('postgres',
	qq{\\set VERBOSITY verbose
	   SELECT lockable.lock_verify('doc:1', 'alice', $alice)});
isnt($rc, 0, 'lock_verify fails on the standby');
like($err, qr/ERROR:  55000: lock_verify cannot run on a standby/,
	'with SQLSTATE 55000 and a message that says why');
like($err, qr/HINT:  Send fencing checks to the primary/, 'and a hint');

# A change is refused as on any standby.
($rc, $out, $err) = $standby->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT lockable.lock_acquire('doc:2', 'bob')});
like($err, qr/ERROR:  25006/, 'lock_acquire on the standby: 25006');

# Lag: replay stops; the primary breaks alice's lock and grants it to bob.
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$standby->poll_query_until('postgres',
	q{SELECT pg_get_wal_replay_pause_state() = 'paused'})
  or die 'replay did not pause';
is($primary->safe_psql('postgres', q{SELECT lockable.lock_break('doc:1')}), 't',
	'the primary breaks alice\'s lock');
my $bob = $primary->safe_psql('postgres',
	q{SELECT token FROM lockable.lock_acquire('doc:1', 'bob', '1 hour')});
is($primary->safe_psql('postgres',
	qq{SELECT lockable.lock_verify('doc:1', 'alice', $alice)}), 'f',
	'on the primary, alice\'s grant no longer verifies');
is($standby->safe_psql('postgres', q{SELECT lockable.lock_owner('doc:1')}),
	'alice', 'lock_owner on the lagging standby still reports alice (it may lag)');
is($standby->safe_psql('postgres', q{
	SELECT token = } . $alice . q{ AND expires_at > clock_timestamp()
	  FROM lockable.locks WHERE uid = 'doc:1'}), 't',
	'the standby\'s row still shows alice\'s live grant: a verify there would confirm it');
($rc, $out, $err) = $standby->psql('postgres',
	qq{SELECT lockable.lock_verify('doc:1', 'alice', $alice)});
isnt($rc, 0, 'but lock_verify refuses instead of confirming the stale grant');

# Replay resumes and the standby catches up.
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
$primary->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', q{SELECT lockable.lock_owner('doc:1')}),
	'bob', 'after catching up the standby reports bob');

note("figures: alice's token $alice, bob's token $bob");
$standby->stop;
$primary->stop;
done_testing();
