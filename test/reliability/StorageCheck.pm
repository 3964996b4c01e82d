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
package StorageCheck;

use strict;
use warnings;

sub Check
{
	my ($dbh, @tables) = @_;
	my @problems;

	return ('amcheck not installed')
	  unless $dbh->selectrow_array(
		q{SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'});
	$dbh->do('SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS amcheck');

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
	return ('amcheck found corruption', @problems) if @problems;
	return (sprintf('amcheck clean on %d indexes and %s', scalar @$indexes,
			@tables == 1 ? 'the heap' : 'both heaps'));
}

1;
