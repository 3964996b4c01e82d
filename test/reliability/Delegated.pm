#
# test/reliability/Delegated.pm
#	  What the hammers share in their --delegated mode, run through a Citus
#	  coordinator after lockable.distribute(): a client session whose lock
#	  calls may end with an unknown outcome, the cluster's nodes, and the
#	  proof that a statement really is delegated.
#
# Usage:
#	use lib $FindBin::Bin;
#	use Delegated;
#	my $s = Delegated::Session->new(\&Connect, \%sql);	# prepares every %sql
#	my ($answered, @row) = $s->Call('acquire', @args);	# a lock call
#	# $answered false: $row[0] is why the outcome is unknown
#	$s->Do('log', @args);									# anything else
#	my ($ok, $tries) = $s->Settle('release', $uid, $owner);
#	my @nodes = Delegated::Nodes($dbh);			# [host, port], coordinator first
#	my $node_dbh = Delegated::ConnectNode($dbh, $host, $port, \%attr);
#	Delegated::CheckPushedDown($dbh, $sql, @args) or die ...;
#	my %fig = Delegated::Figures('hammer.log');	# the unknowns' report
#
# A delegated call runs on the worker that holds the uid's shard, in a
# transaction of its own that the worker commits by itself.  When the call
# fails with 40001 (the shard moved while the call waited for it), with a
# connection failure (SQLSTATE class 08: the coordinator lost the worker;
# or the client lost the coordinator), or with the worker's own shutdown
# error that the coordinator relays (57P01 "terminating connection due to
# unexpected postmaster exit", 57P02, 57P03 while it starts again), the
# client cannot tell whether that transaction committed: the outcome is unknown, and the caller must act as
# if it might have either way.  Call reports such a failure instead of
# dying, after reconnecting (with a short backoff, for up to 30 s) when the
# client's own connection is gone; any other error dies, as it should.
# Settle repeats a call (lock_release: idempotent in what it leaves behind)
# until it is answered, so that a grant that may stand is ended.
#
package Delegated;

use strict;
use warnings;

use DBI;
use Time::HiRes qw(time sleep);

our $RECONNECT_SECONDS = 30;
our $SETTLE_SECONDS = 60;

# Unknown($dbh): why the error just raised on $dbh leaves the outcome of
# the call unknown, or undef when it is any other error.
sub Unknown
{
	my ($dbh) = @_;
	my $state = $dbh->state // '';
	my ($msg) = split /\n/, ($dbh->errstr // '');
	$msg //= '';
	$msg =~ s/^ERROR:\s*//;
	return "$state $msg" if $state eq '40001' || $state =~ /^S?08/ ||
	  $state =~ /^57P0[123]$/;
	return "connection lost: $msg" unless $dbh->ping;
	return undef;
}

# Nodes($dbh): every active primary of the cluster, as [host, port], the
# coordinator (group 0) first.
sub Nodes
{
	my ($dbh) = @_;
	return @{ $dbh->selectall_arrayref(q{
		SELECT nodename, nodeport FROM pg_dist_node
		 WHERE isactive AND noderole = 'primary' ORDER BY groupid}) };
}

# ConnectNode($dbh, $host, $port, \%attr): a connection to that node, as
# the user of $dbh, to its database.
sub ConnectNode
{
	my ($dbh, $host, $port, $attr) = @_;
	my ($db, $user) = $dbh->selectrow_array('SELECT current_database(), current_user');
	return DBI->connect("dbi:Pg:dbname=$db;host=$host;port=$port", $user, undef,
		{ AutoCommit => 1, RaiseError => 1, PrintError => 0, %{ $attr // {} } });
}

# CheckPushedDown($dbh, $sql, @args): run $sql once with client_min_messages
# at debug1 and return whether Citus said it pushed the function call down
# to a worker (delegated it).
sub CheckPushedDown
{
	my ($dbh, $sql, @args) = @_;
	my @said;
	{
		local $SIG{__WARN__} = sub { push @said, $_[0] };
		local $dbh->{PrintWarn} = 1;
		$dbh->do('SET client_min_messages = debug1');
		my $st = $dbh->prepare($sql);
		$st->execute(@args);
		$st->fetchall_arrayref;
		$dbh->do('RESET client_min_messages');
	}
	return scalar grep { /pushing down the function call/ } @said;
}

# Figures($log): the report's figures of unknown outcomes (by call, how
# they were settled, and why) from log table $log, whose rows have event
# 'unknown' or 'resolve', call, ok and reason: name => SQL pairs.
sub Figures
{
	my ($log) = @_;
	my %sql = (
		unknowns => qq{
			SELECT coalesce(string_agg(call || ' ' || n, ', ' ORDER BY call), 'none')
			  FROM (SELECT call, count(*) AS n FROM $log
			         WHERE event = 'unknown' GROUP BY call) s},
		settled => qq{
			SELECT coalesce(string_agg(format('%s %s/%s', call, t, f),
			                           ', ' ORDER BY call), 'none')
			  FROM (SELECT call, count(*) FILTER (WHERE ok) AS t,
			               count(*) FILTER (WHERE NOT ok) AS f
			          FROM $log WHERE event = 'resolve' GROUP BY call) s},
		'unknown reasons' => qq{
			SELECT coalesce(string_agg(format('%s (%s)', r, n), '; ' ORDER BY n DESC), '')
			  FROM (SELECT regexp_replace(reason, 'lock "[^"]*"', 'lock "..."', 'g') AS r,
			               count(*) AS n
			          FROM $log WHERE event = 'unknown' GROUP BY 1) s},
	);
	return %sql;
}


package Delegated::Session;

use Time::HiRes qw(time sleep);

sub new
{
	my ($class, $connect, $sql) = @_;
	my $self = bless { connect => $connect, sql => $sql }, $class;
	$self->Open;
	return $self;
}

sub Open
{
	my ($self) = @_;
	$self->{dbh} = $self->{connect}->();
	# not Citus's WARNINGs about connections to a worker that went down
	$self->{dbh}->do('SET client_min_messages = error');
	$self->{st} = { map { $_ => $self->{dbh}->prepare($self->{sql}{$_}) }
		  keys %{ $self->{sql} } };
}

sub dbh { $_[0]{dbh} }

# Reconnect: a new connection, retried with a growing pause for up to
# $RECONNECT_SECONDS (a node is restarting); dies after that.
sub Reconnect
{
	my ($self) = @_;
	my $until = time + $Delegated::RECONNECT_SECONDS;
	my $pause = 0.05;
	eval { $self->{dbh}->disconnect };
	while (1)
	{
		return if eval { $self->Open; 1 };
		die "could not reconnect for $Delegated::RECONNECT_SECONDS s: $@"
		  if time > $until;
		sleep $pause;
		$pause = $pause * 2 > 1 ? 1 : $pause * 2;
	}
}

# Call($name, @args): run lock call $name; (1, the first row) when it was
# answered, (0, why) when its outcome is unknown; dies on any other error.
# An acquire that ends with 55P03 (lockable 1.4: its wait ran out before the
# tables could be opened) is answered as refused: (1, 0).
sub Call
{
	my ($self, $name, @args) = @_;
	my @row;
	my $st = $self->{st}{$name} or die "no statement $name";
	return (1, @row) if eval {
		$st->execute(@args);
		@row = $st->fetchrow_array;
		$st->finish;
		1;
	};
	my $err = $@;
	# A waiting acquire whose bound ended before the shard could be locked
	# (a move holds it) changed nothing, on the worker as anywhere: 55P03,
	# answered as a refusal.
	return (1, 0) if $name eq 'acquire' && ($self->{dbh}->state // '') eq '55P03';
	my $why = Delegated::Unknown($self->{dbh});
	die $err unless defined $why;
	$self->Reconnect unless $self->{dbh}->ping;
	return (0, $why);
}

# Do($name, @args): run statement $name (not a lock call: any error dies);
# returns what execute returns.
sub Do
{
	my ($self, $name, @args) = @_;
	my $st = $self->{st}{$name} or die "no statement $name";
	my $rv = $st->execute(@args);
	$st->finish if $st->{NUM_OF_FIELDS};
	return $rv;
}

# Settle($name, @args): repeat lock call $name until it is answered, with
# a growing pause, for up to $SETTLE_SECONDS; returns (the answer's first
# column, the number of tries).
sub Settle
{
	my ($self, $name, @args) = @_;
	my $until = time + $Delegated::SETTLE_SECONDS;
	my $pause = 0.05;
	for (my $tries = 1;; $tries++)
	{
		my ($answered, @row) = $self->Call($name, @args);
		return ($row[0], $tries) if $answered;
		die "no answer to $name(@args) for $Delegated::SETTLE_SECONDS s: $row[0]\n"
		  if time > $until;
		sleep $pause;
		$pause = $pause * 2 > 1 ? 1 : $pause * 2;
	}
}


1;
