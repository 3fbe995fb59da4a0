"""Runs inside the sandbox, before any user code: apply the limits, then run the program.

Its source is passed to the interpreter with ``-c`` (the file is never imported by the host),
so it must work under ``-I -S`` with the standard library only. Arguments::

    -c <this source> <fd> CPU=10:11,AS=...,NPROC=32:32 /tmp/main.py

``fd`` is a pipe to the host: one byte written there says "limits applied, the program starts".
Without it the host knows the sandbox itself failed (and says so) rather than the program.

The limits are set here rather than on the sandbox's own launcher (bwrap) because
``RLIMIT_NPROC`` set before bwrap creates its user namespace would count every process of the
calling user on the host; set inside, it counts the processes of this sandbox only. Nothing the
user wrote has run yet, and soft == hard (CPU aside), so the program cannot raise them back.
"""

import sys


def _apply_limits(spec):
    import resource

    for item in spec.split(","):
        name, _, values = item.partition("=")
        soft, _, hard = values.partition(":")
        try:
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (int(soft), int(hard or soft)))
        except (AttributeError, ValueError, OSError) as exc:
            # Running without a limit we promised is worse than not running.
            sys.stderr.write(f"curate-sandbox: cannot set RLIMIT_{name}: {exc}\n")
            sys.stderr.flush()
            import os

            os._exit(125)


def _run(script):
    import builtins

    if not hasattr(builtins, "exit"):  # what `site` adds, and -S leaves out; solutions call exit()
        builtins.exit = builtins.quit = sys.exit
    sys.argv = [script]
    sys.path.insert(0, script.rpartition("/")[0] or ".")  # as `python main.py` puts its folder first
    main = type(sys)("__main__")
    main.__file__ = script
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    try:
        with open(script, "rb") as f:
            code = compile(f.read(), script, "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # print the traceback as `python main.py` would: without this frame
        import traceback

        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        sys.exit(1)


def _started(fd):
    import os

    os.write(fd, b"s")
    os.close(fd)


if __name__ == "__main__":
    _apply_limits(sys.argv[2])
    _started(int(sys.argv[1]))
    _run(sys.argv[3])
