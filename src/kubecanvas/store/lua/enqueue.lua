-- Queue one warm attempt for its pool's runners, once ever (store/hostside.py `enqueue`).
--
-- KEYS[1] run:enqueued   KEYS[2] run:q:<pool>   KEYS[3] run:keys
-- ARGV[1] <task id>#<attempt>   ARGV[2] the attempt's RunItem text
--
-- A second call for the same attempt (a reconcile after the operator restarted between
-- persisting the step and queueing it) finds it recorded and does nothing: an attempt is
-- queued once, so it is taken by one runner at most. Returns 1 if queued now, else 0.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], KEYS[2])
return 1
