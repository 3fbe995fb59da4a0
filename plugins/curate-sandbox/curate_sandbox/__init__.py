"""curate-sandbox: run untrusted Python (model-written solutions) in isolation, with limits.

A library for other plugins (``judge.code`` uses it); it registers no components. Linux only;
the real isolation needs ``bwrap`` (Debian/Ubuntu package ``bubblewrap``)::

    from curate_sandbox import run_python, Sandbox, SandboxJob

    result = run_python("print(sum(map(int, input().split())))", timeout_s=5, stdin="2 3")
    result.stdout, result.exit_code, result.timed_out, result.tier    # '5\\n', 0, False, 'bubblewrap'

    with Sandbox(workers=4, timeout_s=5, memory_mb=256) as sandbox:   # a pool: 4 runs at a time
        results = sandbox.run_many([SandboxJob(code, stdin=case) for case in cases])

Each run gets new user, PID, network, IPC and UTS namespaces, a read-only view of the system
folders and the interpreter, a private size-bounded tmpfs as working directory and HOME, an
empty environment, resource limits (CPU, address space, file size, open files, processes), a
wall clock that kills the whole process tree, and capped output. Without bubblewrap it refuses
to run unless the caller passes ``allow_degraded=True``; ``SandboxResult.tier`` says what ran.
Details, limits and the attack tests: docs/plugins/sandbox.md.
"""

from curate_sandbox._limits import SandboxLimits
from curate_sandbox._process import SandboxError
from curate_sandbox._result import SandboxJob, SandboxResult
from curate_sandbox._sandbox import Sandbox, SandboxUnavailable, resolve_tier, run_python
from curate_sandbox._tiers import TIER_NAMES

__all__ = ["run_python", "Sandbox", "SandboxJob", "SandboxResult", "SandboxLimits", "SandboxError",
           "SandboxUnavailable", "resolve_tier", "TIER_NAMES"]
