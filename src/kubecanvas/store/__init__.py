"""Where workflow state, results and task news live: Redis (or memory, for the local runner).

`taskside` is what a task pod needs (sync, light); `hostside` is what the engine's
host needs (async): the operator, and the local runner when given --redis.
"""
