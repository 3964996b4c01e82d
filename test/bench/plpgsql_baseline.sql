-- test/bench/plpgsql_baseline.sql
--
-- The benchmark's honest baseline: the lockable contract (issue 2) written
-- in PL/pgSQL, the way a careful application developer would write it
-- without the extension.  Same table shape, same validation and SQLSTATEs,
-- same notifications (at commit, on channel "lockable", same JSON payload),
-- same protocol (peek without a row lock, then a compare-and-set write that
-- restates the condition, retried if a concurrent writer got in between),
-- same wait semantics (no row lock kept while waiting: each try runs in a
-- subtransaction that is rolled back if it is refused).  Run against the
-- C functions by test/bench/run.sh.  This is the only PL/pgSQL in lockable.
--
-- Loaded into a database that already has the lockable extension (for the
-- lockable.lock_status type and the lockable.max_ttl / lockable.notify
-- settings, which the baseline honours too).  Like lockable, the entry
-- points are SECURITY DEFINER with a pinned search_path; the internal
-- helpers they call inherit it, and pay no set-up of their own.

CREATE SCHEMA lockable_plpgsql;

CREATE SEQUENCE lockable_plpgsql.token_seq AS bigint NO CYCLE;

CREATE TABLE lockable_plpgsql.locks (
    uid         text        PRIMARY KEY,
    owner       text,
    token       bigint      NOT NULL,
    acquired_at timestamptz,
    expires_at  timestamptz
) WITH (fillfactor = 70);

-- check_name(value, what): 22004 for NULL, 22023 for empty or too long.
CREATE FUNCTION lockable_plpgsql.check_name(value text, what text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION 'lock % cannot be null', what USING ERRCODE = '22004';
    END IF;
    IF value = '' THEN
        RAISE EXCEPTION 'lock % cannot be empty', what USING ERRCODE = '22023';
    END IF;
    IF octet_length(value) > 512 THEN
        RAISE EXCEPTION 'lock % is too long', what USING ERRCODE = '22023',
            DETAIL = format('The %s is %s bytes long; the limit is 512 bytes.',
                            what, octet_length(value));
    END IF;
END;
$$;

-- has_negative_field(span): true if the months, days or time part of an
-- interval is negative (a mixed-sign interval is refused like a negative one).
CREATE FUNCTION lockable_plpgsql.has_negative_field(span interval)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    months integer := extract(year FROM span)::integer * 12
                      + extract(month FROM span)::integer;
    days integer := extract(day FROM span)::integer;
BEGIN
    RETURN months < 0 OR days < 0
        OR span - make_interval(months => months, days => days) < interval '0';
END;
$$;

-- notify(event, uid, owner, token): the same payload the C functions send.
CREATE FUNCTION lockable_plpgsql.notify(event text, uid text, owner text,
                                        token bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF coalesce(current_setting('lockable.notify', true), 'on')::boolean THEN
        PERFORM pg_notify('lockable',
            format('{"event": %s, "uid": %s, "owner": %s, "token": %s}',
                   to_json(event), to_json(uid), to_json(owner), token));
    END IF;
END;
$$;

-- try_acquire: one attempt at the given moment; returns the outcome ('granted',
-- 'renewed' or 'refused') and the row as granted, renewed or held.
CREATE FUNCTION lockable_plpgsql.try_acquire(
    p_uid text, p_owner text, t_now timestamptz, expires timestamptz,
    OUT outcome text, OUT r lockable.lock_status)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    cur record;
    new_token bigint;
    old_acquired timestamptz;
BEGIN
    LOOP
        -- Peek without a row lock.
        SELECT l.owner, l.token, l.acquired_at, l.expires_at
          INTO cur
          FROM lockable_plpgsql.locks AS l
         WHERE l.uid = p_uid;

        IF FOUND AND cur.owner IS NOT NULL AND cur.expires_at > t_now
           AND cur.owner <> p_owner THEN
            outcome := 'refused';
            r := ROW(false, p_uid, cur.owner, NULL, cur.acquired_at,
                     cur.expires_at);
            RETURN;
        END IF;

        IF NOT FOUND THEN
            INSERT INTO lockable_plpgsql.locks AS l
                   (uid, owner, token, acquired_at, expires_at)
            VALUES (p_uid, p_owner, nextval('lockable_plpgsql.token_seq'),
                    t_now, expires)
            ON CONFLICT (uid) DO NOTHING
            RETURNING l.token INTO new_token;
            IF FOUND THEN
                outcome := 'granted';
                old_acquired := t_now;
            END IF;
        ELSIF cur.owner IS NOT NULL AND cur.expires_at > t_now THEN
            UPDATE lockable_plpgsql.locks AS l
               SET expires_at = expires
             WHERE l.uid = p_uid AND l.owner = p_owner AND l.expires_at > t_now
            RETURNING l.token, l.acquired_at INTO new_token, old_acquired;
            IF FOUND THEN
                outcome := 'renewed';
            END IF;
        ELSE
            UPDATE lockable_plpgsql.locks AS l
               SET owner = p_owner,
                   token = nextval('lockable_plpgsql.token_seq'),
                   acquired_at = t_now, expires_at = expires
             WHERE l.uid = p_uid AND (l.owner IS NULL OR l.expires_at <= t_now)
            RETURNING l.token INTO new_token;
            IF FOUND THEN
                outcome := 'granted';
                old_acquired := t_now;
            END IF;
        END IF;

        IF outcome IS NOT NULL THEN
            IF outcome = 'granted' THEN
                PERFORM lockable_plpgsql.notify('acquired', p_uid, p_owner,
                                                new_token);
            END IF;
            r := ROW(true, p_uid, p_owner, new_token, old_acquired, expires);
            RETURN;
        END IF;
        -- A concurrent transaction changed the row after the peek: again.
    END LOOP;
END;
$$;

CREATE FUNCTION lockable_plpgsql.lock_acquire(
    uid text, owner text,
    ttl interval DEFAULT '1 minute', wait interval DEFAULT '0')
RETURNS lockable.lock_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t_now timestamptz := clock_timestamp();
    max_ttl interval :=
        coalesce(current_setting('lockable.max_ttl', true), '1 day')::interval;
    deadline timestamptz;
    holder record;
    attempt record;
    outcome text;
    status lockable.lock_status;
    sleep_s double precision;
BEGIN
    PERFORM lockable_plpgsql.check_name(uid, 'uid');
    PERFORM lockable_plpgsql.check_name(owner, 'owner');
    IF ttl IS NULL THEN
        RAISE EXCEPTION 'ttl cannot be null' USING ERRCODE = '22004';
    END IF;
    IF wait IS NULL THEN
        RAISE EXCEPTION 'wait cannot be null' USING ERRCODE = '22004';
    END IF;
    IF ttl = interval '0' OR lockable_plpgsql.has_negative_field(ttl) THEN
        RAISE EXCEPTION 'ttl must be positive' USING ERRCODE = '22023',
            DETAIL = format('The ttl is "%s"; none of its fields may be negative.', ttl);
    END IF;
    IF ttl > max_ttl OR t_now + ttl > t_now + max_ttl THEN
        RAISE EXCEPTION 'ttl exceeds lockable.max_ttl' USING ERRCODE = '22023',
            DETAIL = format('The ttl is "%s"; lockable.max_ttl is "%s".', ttl, max_ttl),
            HINT = 'Renew a lock by acquiring it again before it expires.';
    END IF;
    IF lockable_plpgsql.has_negative_field(wait) THEN
        RAISE EXCEPTION 'wait cannot be negative' USING ERRCODE = '22023',
            DETAIL = format('The wait is "%s"; none of its fields may be negative.', wait);
    END IF;

    IF wait = interval '0' THEN
        RETURN (lockable_plpgsql.try_acquire(uid, owner, t_now,
                                             t_now + ttl)).r;
    END IF;

    deadline := t_now + wait;
    LOOP
        -- Peek first: take no row lock, not even briefly, while it is held.
        SELECT l.owner, l.acquired_at, l.expires_at INTO holder
          FROM lockable_plpgsql.locks AS l
         WHERE l.uid = lock_acquire.uid;
        IF FOUND AND holder.owner IS NOT NULL AND holder.expires_at > t_now
           AND holder.owner <> lock_acquire.owner THEN
            outcome := 'refused';
            status := ROW(false, uid, holder.owner, NULL, holder.acquired_at,
                          holder.expires_at);
        ELSE
            BEGIN
                attempt := lockable_plpgsql.try_acquire(uid, owner, t_now,
                                                        t_now + ttl);
                outcome := attempt.outcome;
                status := attempt.r;
                IF outcome = 'refused' THEN
                    -- Roll the subtransaction back: no row lock survives.
                    RAISE EXCEPTION 'refused' USING ERRCODE = 'P0001';
                END IF;
            EXCEPTION WHEN raise_exception THEN
                NULL;
            END;
        END IF;
        IF outcome <> 'refused' OR t_now >= deadline THEN
            RETURN status;
        END IF;

        sleep_s := least(0.01,
                         extract(epoch FROM status.expires_at - t_now),
                         extract(epoch FROM deadline - t_now));
        PERFORM pg_sleep(greatest(sleep_s, 0.001));
        t_now := clock_timestamp();
    END LOOP;
END;
$$;

CREATE FUNCTION lockable_plpgsql.lock_release(uid text, owner text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t_now timestamptz := clock_timestamp();
    released_token bigint;
BEGIN
    PERFORM lockable_plpgsql.check_name(uid, 'uid');
    PERFORM lockable_plpgsql.check_name(owner, 'owner');
    UPDATE lockable_plpgsql.locks AS l
       SET owner = NULL, expires_at = t_now
     WHERE l.uid = lock_release.uid AND l.owner = lock_release.owner
       AND l.expires_at > t_now
    RETURNING l.token INTO released_token;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM lockable_plpgsql.notify('released', uid, owner, released_token);
    RETURN true;
END;
$$;

CREATE FUNCTION lockable_plpgsql.lock_owner(uid text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder text;
BEGIN
    PERFORM lockable_plpgsql.check_name(uid, 'uid');
    SELECT l.owner INTO holder
      FROM lockable_plpgsql.locks AS l
     WHERE l.uid = lock_owner.uid AND l.owner IS NOT NULL
       AND l.expires_at > clock_timestamp();
    RETURN holder;
END;
$$;
