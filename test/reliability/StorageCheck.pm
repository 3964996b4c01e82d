#
# test/reliability/StorageCheck.pm
#	  The storage check every hammer ends with: amcheck's
#	  bt_index_check(index, true) on every index of the given tables (each
#	  index entry matches a heap tuple and every heap tuple is indexed), and
#	  verify_heapam on each table.
#
# Usage:
#	use lib $FindBin::Bin;
#	use StorageCheck;
#	my ($summary, @problems) = StorageCheck::Check($dbh, 'lockable.locks', ...);
#
# $summary is one line for the report ("amcheck clean on 2 indexes and the
# heap", "amcheck found corruption", or "amcheck not installed" where the
# server lacks the extension); each of @problems is one violation.
#
# On a Citus cluster after lockable.distribute() the rows live in the shards
# of the tables, on the workers (the coordinator's tables are empty shells):
#	my ($summary, @problems) = StorageCheck::CheckShards($dbh, $connect,
#		'lockable.locks', 'lockable.places');
# with $dbh on the coordinator and $connect->($host, $port) a connection to
# a node, checks every placement of every shard of the tables, as Citus's
# metadata on the coordinator lists them (shard <table>_<shardid>, in the
# table's schema, on the node of the placement's group), node by node, with
# citus.override_table_visibility off since a worker hides its shards from
# pg_class otherwise.  amcheck is created on the coordinator, which Citus
# propagates to every node.
#
package StorageCheck;

use strict;
use warnings;

sub Check
{
	my ($dbh, @tables) = @_;

	return ('amcheck not installed')
	  unless $dbh->selectrow_array(
		q{SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'});
	$dbh->do('SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS amcheck');

	my ($nindexes, @problems) = CheckTables($dbh, @tables);
	return ('amcheck found corruption', @problems) if @problems;
	return (sprintf('amcheck clean on %d indexes and %s', $nindexes,
			@tables == 1 ? 'the heap' : @tables == 2 ? 'both heaps' : scalar(@tables) . ' heaps'));
}

# CheckTables($dbh, @tables): amcheck (already created) on the tables;
# returns the number of indexes checked and the problems found.
sub CheckTables
{
	my ($dbh, @tables) = @_;
	my @problems;

	my $indexes = $dbh->selectcol_arrayref(q{
		SELECT indexrelid::regclass::text FROM pg_index
		 WHERE indrelid = ANY (?::regclass[]) ORDER BY 1},
		undef, '{' . join(',', @tables) . '}');
	for my $index (@$indexes)
	{
		next if eval {
			$dbh->do('SELECT bt_index_check(?::regclass, true)', undef, $index);
			1;
		};
		push @problems, "amcheck $index: " . ($dbh->errstr // $@);
	}
	for my $table (@tables)
	{
		for my $row (@{ $dbh->selectall_arrayref(
			'SELECT blkno, offnum, msg FROM verify_heapam(?::regclass)', undef, $table) })
		{
			push @problems, "verify_heapam $table: block $row->[0] offset $row->[1]: $row->[2]";
		}
	}
	return (scalar @$indexes, @problems);
}

sub CheckShards
{
	my ($dbh, $connect, @tables) = @_;
	my @problems;

	return ('amcheck not installed')
	  unless $dbh->selectrow_array(
		q{SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'});
	$dbh->do('SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS amcheck');

	# every placement: node, shard relation
	my $placements = $dbh->selectall_arrayref(q{
		SELECT n.nodename, n.nodeport,
		       format('%I.%I', ns.nspname, c.relname || '_' || s.shardid)
		  FROM pg_dist_shard s
		  JOIN pg_dist_placement p USING (shardid)
		  JOIN pg_dist_node n USING (groupid)
		  JOIN pg_class c ON c.oid = s.logicalrelid
		  JOIN pg_namespace ns ON ns.oid = c.relnamespace
		 WHERE s.logicalrelid = ANY (?::regclass[])
		 ORDER BY 1, 2, 3}, undef, '{' . join(',', @tables) . '}');
	my %on;
	push @{ $on{"$_->[0]:$_->[1]"} }, $_->[2] for @$placements;
	my ($nindexes, $nheaps) = (0, 0);
	for my $node (sort keys %on)
	{
		my ($host, $port) = $node =~ /^(.*):(\d+)$/;
		my $ndbh = $connect->($host, $port);
		$ndbh->do('SET citus.override_table_visibility = off');
		my ($n, @found) = CheckTables($ndbh, @{ $on{$node} });
		$ndbh->disconnect;
		$nindexes += $n;
		$nheaps += @{ $on{$node} };
		push @problems, map { "$node: $_" } @found;
	}
	return ('amcheck found corruption', @problems) if @problems;
	return (sprintf('amcheck clean on %d indexes and %d heaps: every shard placement of %s, on %d nodes',
			$nindexes, $nheaps, join(' and ', @tables), scalar keys %on));
}

1;
