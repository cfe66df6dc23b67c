-- Stop one warm attempt (store/hostside.py `withdraw`): revoked, expired, its workflow over.
--
-- KEYS[1] run:enqueued   KEYS[2] run:kills   KEYS[3] run:q:<pool>
-- ARGV[1] <task id>#<attempt>   ARGV[2] why, for the runner's log
--
-- Marked killed first (a runner that holds it kills its process at its next look, and one
-- about to start it does not), then taken out of the queue if no runner took it yet.
-- Returns 1 if it was still queued (it never started), else 0.
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local item = redis.call('HGET', KEYS[1], ARGV[1])
if item and redis.call('LREM', KEYS[3], 0, item) > 0 then
    return 1
end
return 0
