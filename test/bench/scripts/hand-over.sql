-- acquire, hand over to another owner, release by it: three transactions (1.4)
\set n random(1, :fresh)
SELECT lockable.lock_acquire('y:' || :n, 'c' || :client_id, '1 minute');
SELECT lockable.lock_hand_over('y:' || :n, 'c' || :client_id, 'x' || :client_id);
SELECT lockable.lock_release('y:' || :n, 'x' || :client_id);
