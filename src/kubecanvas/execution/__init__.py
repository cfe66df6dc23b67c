"""Running one attempt of one task, the same way everywhere: in a task pod (the runtime's
entrypoint), in the local runner's subprocesses and in eager `.apply()`.

- `attempt`: resolve the task, build its call, run it under its time limit, classify;
- `errbacks`: how an errback is called (contract 4.5);
- `request`: `self.request` of the call in progress;
- `environment`: what a task pod is told through its environment (the operator's Job
  manifests write it, the runtime reads it).

Nothing here touches Redis or Kubernetes; modules are imported on their own (task pods
pay for what they import).
"""
