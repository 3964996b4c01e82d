\set n random(1, :docs)
SELECT owner FROM bench.raw_locks WHERE uid = 'o:' || :n AND expires_at > clock_timestamp();
